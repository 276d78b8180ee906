import { createExecutionContext, createMessageBatch, env, getQueueResult } from "cloudflare:test";
import { describe, expect, inject, it, vi } from "vitest";
import { routeQueueBatch } from "../../workers/index";
import {
  admin,
  createAccount,
  demoTarget,
  expectProblem,
  getTask,
  putFunction,
  quietPeriod,
  submit,
  type TaskJson,
  type TestAccount,
  tenant,
  uniqueId,
  waitForState,
} from "./helpers";

const receiver = () => inject("receiverUrl");

interface Received {
  headers: Record<string, string>;
  body: string;
  verifiedBy: number[];
  status: number;
}

async function registerSecrets(name: string, secrets: string[]): Promise<void> {
  await fetch(`${receiver()}/secrets/${name}`, { method: "POST", body: JSON.stringify(secrets) });
}

async function received(name: string): Promise<Received[]> {
  return (await (await fetch(`${receiver()}/log/${name}`)).json()) as Received[];
}

type DeliveredTask = TaskJson & { delivery?: { state: string; attempts: number; lastError?: string } };

async function waitForDelivery(
  account: TestAccount,
  id: string,
  state: string,
  timeout = 20_000,
): Promise<DeliveredTask> {
  return vi.waitFor(
    async () => {
      const task = (await getTask(account, id)) as DeliveredTask;
      expect(task.delivery?.state).toBe(state);
      return task;
    },
    { timeout, interval: 100 },
  );
}

describe("webhook destinations (Standard Webhooks)", () => {
  it("delivers a signed envelope that the standardwebhooks package verifies", async () => {
    const account = await createAccount();
    const hook = uniqueId("ok");
    await registerSecrets(hook, [account.webhookSecret]);
    await putFunction(account, "hooked", {
      target: demoTarget,
      destinations: { onSuccess: { type: "webhook", url: `${receiver()}/hook/${hook}` } },
    });
    const id = await submit(account, "hooked", JSON.stringify({ echo: { n: 7 } }));
    const task = await waitForDelivery(account, id, "delivered");
    expect(task.delivery?.attempts).toBe(1);
    expect(task.timeline.deliveredAt).toEqual(expect.any(String));
    const [request] = await received(hook);
    expect(request?.verifiedBy).toEqual([0]);
    expect(request?.headers["content-type"]).toBe("application/json");
    const envelope = JSON.parse(request?.body ?? "{}");
    expect(envelope).toMatchObject({
      type: "task.succeeded",
      timestamp: expect.any(String),
      data: {
        id,
        account: account.id,
        function: "hooked",
        state: "succeeded",
        attempts: 1,
        result: { echo: { n: 7 }, taskId: id },
        timeline: { acceptedAt: expect.any(String), finishedAt: expect.any(String) },
      },
    });
  });

  it("retries a receiver that fails 3 times with the same webhook-id until it succeeds", async () => {
    const account = await createAccount();
    const hook = uniqueId("fail3");
    await registerSecrets(hook, [account.webhookSecret]);
    await putFunction(account, "flaky-hook", {
      target: demoTarget,
      destinations: { onSuccess: { type: "webhook", url: `${receiver()}/hook/${hook}` } },
    });
    const id = await submit(account, "flaky-hook", JSON.stringify({ echo: 1 }));
    const task = await waitForDelivery(account, id, "delivered");
    expect(task.delivery?.attempts).toBe(4);
    const requests = await received(hook);
    expect(requests.map((r) => r.status)).toEqual([500, 500, 500, 200]);
    expect(new Set(requests.map((r) => r.headers["webhook-id"])).size).toBe(1);
    expect(requests.every((r) => r.verifiedBy.length === 1)).toBe(true);
  });

  it("a dead receiver never delays other tasks' dispatch; its delivery fails after the schedule and can be re-driven", async () => {
    const account = await createAccount();
    const hook = uniqueId("dead");
    await putFunction(account, "dead-hook", {
      target: demoTarget,
      destinations: { onSuccess: { type: "webhook", url: `${receiver()}/hook/${hook}` } },
    });
    await putFunction(account, "busy", { target: demoTarget });
    const id = await submit(account, "dead-hook", JSON.stringify({ echo: 1 }));
    await waitForState(account, id, "succeeded");
    // While the dead receiver is being retried, other tasks still run straight through.
    const started = Date.now();
    const others = [];
    for (let i = 0; i < 5; i++) others.push(await submit(account, "busy", JSON.stringify({ echo: i })));
    for (const other of others) await waitForState(account, other, "succeeded");
    expect(((await getTask(account, id)) as DeliveredTask).delivery?.state).toBe("pending");
    expect(Date.now() - started).toBeLessThan(5_000);
    const failed = await waitForDelivery(account, id, "failed", 30_000);
    expect(failed.delivery?.attempts).toBe(8);
    expect(failed.delivery?.lastError).toContain("500");
    expect((await received(hook)).length).toBe(8);
    const redriven = await tenant(account, `/v1/tasks/${id}/redeliver`, { method: "POST" });
    expect(redriven.status).toBe(202);
    expect(((await redriven.json()) as DeliveredTask).delivery).toMatchObject({ state: "pending", attempts: 0 });
    await vi.waitFor(async () => expect((await received(hook)).length).toBeGreaterThan(8), { timeout: 5000 });
  }, 60_000);

  it("stops at once on 410 Gone, and refuses to re-drive a delivery that is not failed", async () => {
    const account = await createAccount();
    const hook = uniqueId("gone");
    await putFunction(account, "gone-hook", {
      target: demoTarget,
      destinations: { onSuccess: { type: "webhook", url: `${receiver()}/hook/${hook}` } },
    });
    const id = await submit(account, "gone-hook", JSON.stringify({ echo: 1 }));
    const task = await waitForDelivery(account, id, "failed");
    expect(task.delivery?.attempts).toBe(1);
    const ok = await createAccount();
    await putFunction(ok, "plain", { target: demoTarget });
    const plain = await submit(ok, "plain", JSON.stringify({ echo: 1 }));
    await waitForState(ok, plain, "succeeded");
    await expectProblem(
      await tenant(ok, `/v1/tasks/${plain}/redeliver`, { method: "POST" }),
      409,
      "invalid-transition",
    );
  });

  it("signs with both the old and the new secret after a rotation", async () => {
    const account = await createAccount();
    const rotated = await tenant(account, "/v1/account/webhook-secret:rotate", { method: "POST" });
    expect(rotated.status).toBe(200);
    const { webhookSecret } = (await rotated.json()) as { webhookSecret: string };
    expect(webhookSecret).toMatch(/^whsec_/);
    expect(webhookSecret).not.toBe(account.webhookSecret);
    const hook = uniqueId("ok-rotated");
    await registerSecrets(hook, [account.webhookSecret, webhookSecret]);
    await putFunction(account, "rotated", {
      target: demoTarget,
      destinations: { onSuccess: { type: "webhook", url: `${receiver()}/hook/${hook}` } },
    });
    const id = await submit(account, "rotated", JSON.stringify({ echo: 1 }));
    await waitForDelivery(account, id, "delivered");
    const [request] = await received(hook);
    expect(request?.verifiedBy).toEqual([0, 1]);
    expect(request?.headers["webhook-signature"]?.split(" ")).toHaveLength(2);
  });

  it("sends failures and expiries to onFailure", async () => {
    const account = await createAccount();
    const hook = uniqueId("ok-failures");
    await registerSecrets(hook, [account.webhookSecret]);
    await putFunction(account, "failing", {
      target: demoTarget,
      retry: { maxAttempts: 1, initialBackoffMs: 10, maxBackoffMs: 10 },
      maxEventAgeSeconds: 1,
      destinations: { onFailure: { type: "webhook", url: `${receiver()}/hook/${hook}` } },
    });
    const failed = await submit(account, "failing", JSON.stringify({ fail: 400 }));
    await waitForDelivery(account, failed, "delivered");
    await tenant(account, "/v1/functions/failing/pause", { method: "POST" });
    const expired = await submit(account, "failing", JSON.stringify({ echo: 1 }));
    await waitForDelivery(account, expired, "delivered", 10_000);
    const types = (await received(hook)).map(
      (r) => JSON.parse(r.body) as { type: string; data: { id: string; error?: unknown } },
    );
    expect(types.map((t) => [t.type, t.data.id])).toEqual([
      ["task.failed", failed],
      ["task.expired", expired],
    ]);
    expect(types[0]?.data.error).toMatchObject({ kind: "http", status: 400 });
  });

  it("references results over 64 KiB by resultUrl instead of inlining them", async () => {
    const account = await createAccount();
    const hook = uniqueId("ok-large");
    await putFunction(account, "large", {
      target: demoTarget,
      destinations: { onSuccess: { type: "webhook", url: `${receiver()}/hook/${hook}` } },
    });
    const id = await submit(account, "large", JSON.stringify({ bytes: 70_000 }));
    await waitForDelivery(account, id, "delivered");
    const envelope = JSON.parse((await received(hook))[0]?.body ?? "{}") as { data: Record<string, unknown> };
    expect(envelope.data.result).toBeUndefined();
    expect(envelope.data.resultUrl).toBe(`https://sluice.test/v1/tasks/${id}/result`);
  });
});

describe("queue, R2 and function destinations", () => {
  it("sends the envelope to a queue binding, consumed by a test consumer", async () => {
    const account = await createAccount();
    await putFunction(account, "queued-out", {
      target: demoTarget,
      destinations: { onSuccess: { type: "queue", queue: "RESULTS" } },
    });
    const id = await submit(account, "queued-out", JSON.stringify({ echo: "q" }));
    await waitForDelivery(account, id, "delivered");
    const object = await vi.waitFor(
      async () => {
        const found = await env.RESULTS_BUCKET.get(`queue-consumer/${id}.json`);
        expect(found).not.toBeNull();
        return found;
      },
      { timeout: 5000 },
    );
    expect(await object?.json()).toMatchObject({ type: "task.succeeded", data: { id, result: { echo: "q" } } });
  });

  it("refuses a queue destination that is not a configured result queue", async () => {
    const account = await createAccount();
    const response = await tenant(account, "/v1/functions/bad-queue", {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ target: demoTarget, destinations: { onSuccess: { type: "queue", queue: "INGEST_0" } } }),
    });
    await expectProblem(response, 400, "validation");
  });

  it("writes the envelope to R2 at <prefix>/<account>/<function>/<id>.json", async () => {
    const account = await createAccount();
    await putFunction(account, "archived", {
      target: demoTarget,
      destinations: { onSuccess: { type: "r2", prefix: "archive" } },
    });
    const id = await submit(account, "archived", JSON.stringify({ echo: "r2" }));
    await waitForDelivery(account, id, "delivered");
    const object = await env.RESULTS_BUCKET.get(`archive/${account.id}/archived/${id}.json`);
    expect(await object?.json()).toMatchObject({ type: "task.succeeded", data: { id, function: "archived" } });
  });

  it("chains a function: the envelope becomes a task of the next function", async () => {
    const account = await createAccount();
    await putFunction(account, "second", { target: demoTarget });
    await putFunction(account, "first", {
      target: demoTarget,
      destinations: { onSuccess: { type: "function", name: "second" } },
    });
    const id = await submit(account, "first", JSON.stringify({ echo: "step 1" }));
    await waitForDelivery(account, id, "delivered");
    const listed = (await (await tenant(account, "/v1/functions/second/tasks")).json()) as { tasks: { id: string }[] };
    expect(listed.tasks).toHaveLength(1);
    const next = await waitForState(account, listed.tasks[0]?.id ?? "", "succeeded");
    // The demo function reports what it received: the first task's envelope as JSON.
    expect(next.result).toMatchObject({ ok: true, contentType: "application/json" });
  });

  it("stops a chain that loops onto itself at MAX_CHAIN_DEPTH (3 in tests)", async () => {
    const account = await createAccount();
    await putFunction(account, "loop", {
      target: demoTarget,
      destinations: { onSuccess: { type: "function", name: "loop" } },
    });
    await submit(account, "loop", JSON.stringify({ echo: "again" }));
    const all = await vi.waitFor(
      async () => {
        const listed = (await (await tenant(account, "/v1/functions/loop/tasks")).json()) as {
          tasks: { id: string }[];
        };
        expect(listed.tasks).toHaveLength(4);
        // Listings are summaries; the delivery is on the task itself.
        const last = (await (await tenant(account, `/v1/tasks/${listed.tasks[0]?.id}`)).json()) as DeliveredTask;
        expect(last.delivery?.state).toBe("failed");
        return [last];
      },
      { timeout: 15_000, interval: 200 },
    );
    expect(all[0]?.delivery?.lastError).toContain("chain depth limit (3)");
    await quietPeriod(500, "no fifth link may be submitted after the chain stopped");
    const after = (await (await tenant(account, "/v1/functions/loop/tasks")).json()) as { tasks: unknown[] };
    expect(after.tasks).toHaveLength(4);
  }, 30_000);
});

describe("event sources", () => {
  it("turns messages of a configured queue into tasks; a redelivered message makes one task", async () => {
    const created = await admin("/v1/accounts", { method: "POST", body: JSON.stringify({ id: "events-acct" }) });
    const account = (await created.json()) as TestAccount;
    await putFunction(account, "events", { target: demoTarget });
    await env.EVENTS.send({ echo: "from a queue" });
    const first = await vi.waitFor(
      async () => {
        const listed = (await (await tenant(account, "/v1/functions/events/tasks")).json()) as {
          tasks: { id: string }[];
        };
        expect(listed.tasks).toHaveLength(1);
        return listed.tasks[0]?.id ?? "";
      },
      { timeout: 10_000 },
    );
    const task = await waitForState(account, first, "succeeded");
    expect(task.result).toMatchObject({ echo: "from a queue" });

    const message = { id: "evt-1", timestamp: new Date(1_700_000_000_000), attempts: 1, body: "plain text event" };
    for (let delivery = 0; delivery < 2; delivery++) {
      const batch = createMessageBatch("sluice-events", [{ ...message, attempts: delivery + 1 }]);
      const ctx = createExecutionContext();
      await routeQueueBatch(batch, env);
      const result = await getQueueResult(batch, ctx);
      expect(result.ackAll).toBe(true);
      expect(result.retryBatch.retry).toBe(false);
    }
    const listed = (await (await tenant(account, "/v1/functions/events/tasks")).json()) as { tasks: { id: string }[] };
    expect(listed.tasks).toHaveLength(2);
  });
});
