/**
 * End-to-end under `wrangler dev`: result delivery to a webhook receiver on loopback (verified with the
 * `standardwebhooks` package), and a long-running tenant function that finishes its task through the callback API.
 */

import { randomBytes } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Account,
  call,
  createAccount,
  type Platform,
  putFunction,
  type RecordedRequest,
  startPlatform,
  startRecordingServer,
  waitFor,
  waitForTask,
} from "./harness";

let platform: Platform;
let servers: Awaited<ReturnType<typeof startRecordingServer>>;
let account: Account;
const hookCalls = new Map<string, number>();

function header(request: RecordedRequest, name: string): string {
  const value = request.headers[name];
  return (Array.isArray(value) ? value[0] : value) ?? "";
}

beforeAll(async () => {
  platform = await startPlatform({ DELIVERY_SCHEDULE_SECONDS: "0,1,1,1,1,1,1,1", DELIVERY_TIMEOUT_MS: "3000" });
  servers = await startRecordingServer((request, res) => {
    if (request.path.startsWith("/hook")) {
      // Fails the first 3 deliveries of each webhook-id, then accepts.
      const id = header(request, "webhook-id");
      const n = (hookCalls.get(id) ?? 0) + 1;
      hookCalls.set(id, n);
      res.writeHead(n <= 3 ? 503 : 204).end();
      return;
    }
    if (request.path.startsWith("/long")) {
      // A long-running function: take the task, heartbeat once, then complete it through the callback API.
      const taskId = header(request, "sluice-task-id");
      const token = header(request, "sluice-callback-token");
      res.writeHead(202, { "sluice-async": "1" }).end();
      setTimeout(async () => {
        await call(platform.url, "POST", `/v1/tasks/${taskId}/heartbeat`, {
          headers: { "sluice-callback-token": token },
        });
        await call(platform.url, "POST", `/v1/tasks/${taskId}/complete`, {
          headers: { "sluice-callback-token": token },
          json: { ok: true, result: { finishedBy: "callback" } },
        });
      }, 300);
      return;
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true }));
  });
  account = await createAccount(platform.url, platform.adminToken, `e2e-dlv-${randomBytes(4).toString("hex")}`);
});

afterAll(async () => {
  await platform?.stop();
  await servers?.close();
});

describe("webhook delivery under wrangler dev", () => {
  it("retries a receiver that fails 3 times with one webhook-id, each delivery verifiable with standardwebhooks", async () => {
    await putFunction(platform.url, account.apiKey, "notify", {
      target: { type: "url", url: `${servers.url}/fn` },
      destinations: { onSuccess: { type: "webhook", url: `${servers.url}/hook` } },
    });
    const submitted = await call(platform.url, "POST", "/v1/functions/notify/tasks", {
      token: account.apiKey,
      json: { hello: "webhooks" },
    });
    expect(submitted.status).toBe(202);
    const id = submitted.body.id as string;
    const task = await waitFor(
      async () => {
        const view = (await call(platform.url, "GET", `/v1/tasks/${id}`, { token: account.apiKey })).body;
        return view.delivery?.state === "delivered" ? view : undefined;
      },
      { timeoutMs: 30_000, what: "delivery" },
    );
    expect(task.delivery.attempts).toBe(4);
    expect(task.timeline.deliveredAt).toEqual(expect.any(String));
    const deliveries = servers.requests.filter((r) => r.path.startsWith("/hook"));
    expect(deliveries).toHaveLength(4);
    expect(new Set(deliveries.map((r) => header(r, "webhook-id"))).size).toBe(1);
    const webhook = new Webhook(account.webhookSecret);
    for (const delivery of deliveries) {
      const headers = {
        "webhook-id": header(delivery, "webhook-id"),
        "webhook-timestamp": header(delivery, "webhook-timestamp"),
        "webhook-signature": header(delivery, "webhook-signature"),
      };
      const envelope = webhook.verify(delivery.body.toString("utf8"), headers) as {
        type: string;
        data: { id: string; result: unknown };
      };
      expect(envelope.type).toBe("task.succeeded");
      expect(envelope.data.id).toBe(id);
      expect(envelope.data.result).toEqual({ ok: true });
    }
  });
});

describe("long-running tasks under wrangler dev", () => {
  it("a function answering 202 + Sluice-Async completes its task through the callback API", async () => {
    await putFunction(platform.url, account.apiKey, "long", {
      target: { type: "url", url: `${servers.url}/long` },
      timeoutMs: 5000,
    });
    const submitted = await call(platform.url, "POST", "/v1/functions/long/tasks", {
      token: account.apiKey,
      json: { work: 1 },
    });
    const task = await waitForTask(platform.url, account.apiKey, submitted.body.id, { timeoutMs: 20_000 });
    expect(task.state).toBe("succeeded");
    expect(task.result).toEqual({ finishedBy: "callback" });
    expect(task.attempts).toBe(1);
  });
});
