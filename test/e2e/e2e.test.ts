/**
 * End-to-end: the real platform under `wrangler dev` (gateway -> ingest queue -> shard -> invoker -> tenant), driven
 * over HTTP from outside, against a tenant function served by node:http on loopback and the demo function bound as
 * DEMO_FN. Every wait is a poll with a deadline.
 */

import { createHmac, randomBytes } from "node:crypto";
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
  type TaskView,
  waitFor,
  waitForTask,
} from "./harness";

let platform: Platform;
let tenant: Awaited<ReturnType<typeof startRecordingServer>>;
let account: Account;

/** How many times /flaky has been called per task id. */
const flakyCalls = new Map<string, number>();

function header(request: RecordedRequest, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(", ") : value;
}

beforeAll(async () => {
  tenant = await startRecordingServer((request, res) => {
    const taskId = header(request, "sluice-task-id") ?? "";
    if (request.path.startsWith("/flaky")) {
      const n = (flakyCalls.get(taskId) ?? 0) + 1;
      flakyCalls.set(taskId, n);
      if (n <= 2) {
        res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error: "try again", n }));
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true, calls: n }));
      return;
    }
    const contentType = header(request, "content-type") ?? "";
    if (contentType.startsWith("application/json")) {
      const answer = { received: JSON.parse(request.body.toString("utf8")), bytes: request.body.length, taskId };
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
      return;
    }
    // Binary in, binary out: the bytes reversed.
    res.writeHead(200, { "content-type": "application/octet-stream" }).end(Buffer.from(request.body).reverse());
  });
  platform = await startPlatform();
  account = await createAccount(platform.url, platform.adminToken, `e2e-${randomBytes(4).toString("hex")}`);
  expect(account.apiKey).toMatch(/^sk_/);
  expect(account.webhookSecret).toMatch(/^whsec_/);
});

afterAll(async () => {
  await platform?.stop();
  await tenant?.close();
});

async function submit(name: string, body: BodyInit, contentType: string): Promise<string> {
  const response = await call(platform.url, "POST", `/v1/functions/${name}/tasks`, {
    token: account.apiKey,
    body,
    headers: { "content-type": contentType },
  });
  expect(response.status, response.text).toBe(202);
  expect(response.body.state).toBe("accepted");
  expect(typeof response.body.id).toBe("string");
  expect(response.headers.get("location")).toBe(response.body.statusUrl);
  return response.body.id as string;
}

function expectTimelineFilled(task: TaskView): void {
  const t = task.timeline;
  for (const field of ["acceptedAt", "queuedAt", "firstDispatchedAt", "lastDispatchedAt", "finishedAt"]) {
    expect(t[field], `timeline.${field}`).toEqual(expect.any(String));
    expect(Number.isNaN(Date.parse(t[field] as string)), `timeline.${field} is a date`).toBe(false);
  }
  const at = (field: string) => Date.parse(t[field] as string);
  expect(at("acceptedAt")).toBeLessThanOrEqual(at("queuedAt"));
  expect(at("queuedAt")).toBeLessThanOrEqual(at("firstDispatchedAt"));
  expect(at("firstDispatchedAt")).toBeLessThanOrEqual(at("lastDispatchedAt"));
  expect(at("lastDispatchedAt")).toBeLessThanOrEqual(at("finishedAt"));
}

/** The invocation headers of API.md, checked on one recorded call. */
function expectInvocationHeaders(request: RecordedRequest, taskId: string, attempt: number): void {
  expect(header(request, "sluice-task-id")).toBe(taskId);
  expect(header(request, "sluice-attempt")).toBe(String(attempt));
  const deadline = Number(header(request, "sluice-deadline"));
  expect(Number.isInteger(deadline)).toBe(true);
  expect(deadline).toBeGreaterThan(request.at);
  expect(header(request, "sluice-callback-token")).toMatch(/^\S{16,}$/);
  expect(header(request, "webhook-id")).toBeTruthy();
  expect(header(request, "webhook-timestamp")).toMatch(/^\d+$/);
  expect(header(request, "webhook-signature")).toMatch(/^v1,/);
}

/** The Standard Webhooks signature over the raw body bytes, computed independently of any library. */
function expectRawSignature(request: RecordedRequest, secret: string): void {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const signed = Buffer.concat([
    Buffer.from(`${header(request, "webhook-id")}.${header(request, "webhook-timestamp")}.`),
    request.body,
  ]);
  const expected = `v1,${createHmac("sha256", key).update(signed).digest("base64")}`;
  expect((header(request, "webhook-signature") ?? "").split(" ")).toContain(expected);
}

function signatureHeaders(request: RecordedRequest): Record<string, string> {
  return {
    "webhook-id": header(request, "webhook-id") ?? "",
    "webhook-timestamp": header(request, "webhook-timestamp") ?? "",
    "webhook-signature": header(request, "webhook-signature") ?? "",
  };
}

describe("URL target", () => {
  it("delivers JSON and binary payloads byte for byte, signed, and stores the results", async () => {
    await putFunction(platform.url, account.apiKey, "local-url", {
      target: { type: "url", url: `${tenant.url}/run` },
      timeoutMs: 10_000,
    });

    const jsonText = JSON.stringify({ hello: "wörld", n: 42, nested: { list: [1, 2, 3] } });
    const binary = Buffer.concat([Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80, 0x7f]), randomBytes(1_000)]);
    const jsonId = await submit("local-url", jsonText, "application/json");
    const binaryId = await submit("local-url", binary, "application/octet-stream");

    const [jsonTask, binaryTask] = await Promise.all([
      waitForTask(platform.url, account.apiKey, jsonId, { timeoutMs: 60_000 }),
      waitForTask(platform.url, account.apiKey, binaryId, { timeoutMs: 60_000 }),
    ]);
    expect(jsonTask.state, JSON.stringify(jsonTask)).toBe("succeeded");
    expect(binaryTask.state, JSON.stringify(binaryTask)).toBe("succeeded");

    // --- what the tenant received ---
    const jsonCalls = tenant.requests.filter((r) => header(r, "sluice-task-id") === jsonId);
    const binaryCalls = tenant.requests.filter((r) => header(r, "sluice-task-id") === binaryId);
    expect(jsonCalls).toHaveLength(1);
    expect(binaryCalls).toHaveLength(1);
    const jsonCall = jsonCalls[0]!;
    const binaryCall = binaryCalls[0]!;

    expect(jsonCall.method).toBe("POST");
    expect(jsonCall.path).toBe("/run");
    expect(jsonCall.body.equals(Buffer.from(jsonText, "utf8"))).toBe(true);
    expect(header(jsonCall, "content-type")).toBe("application/json");
    expect(binaryCall.body.equals(binary)).toBe(true);
    expect(header(binaryCall, "content-type")).toBe("application/octet-stream");

    expectInvocationHeaders(jsonCall, jsonId, 1);
    expectInvocationHeaders(binaryCall, binaryId, 1);

    // Standard Webhooks: the library verifies the JSON call (it returns the parsed body) ...
    const verified = new Webhook(account.webhookSecret).verify(
      jsonCall.body.toString("utf8"),
      signatureHeaders(jsonCall),
    );
    expect(verified).toEqual(JSON.parse(jsonText));
    expect(() =>
      new Webhook(account.webhookSecret).verify("tampered", signatureHeaders(jsonCall), { jsonParse: false }),
    ).toThrow();
    // ... and the raw-bytes HMAC holds for both. (standardwebhooks-js turns a Buffer into a UTF-8 string before
    // signing, so it cannot check a body that is not valid UTF-8; the spec signs the raw bytes, which we check here.)
    expectRawSignature(jsonCall, account.webhookSecret);
    expectRawSignature(binaryCall, account.webhookSecret);

    // --- what the task shows ---
    expect(jsonTask.function).toBe("local-url");
    expect(jsonTask.attempts).toBe(1);
    expect(jsonTask.result).toEqual({
      received: JSON.parse(jsonText),
      bytes: Buffer.byteLength(jsonText),
      taskId: jsonId,
    });
    expect(jsonTask.resultContentType).toBe("application/json");
    expect(binaryTask.result).toBe(Buffer.from(binary).reverse().toString("base64"));
    expect(binaryTask.resultEncoding).toBe("base64");
    expect(binaryTask.resultContentType).toBe("application/octet-stream");

    for (const task of [jsonTask, binaryTask]) {
      expectTimelineFilled(task);
      expect(task.attemptLog).toHaveLength(1);
      expect(task.attemptLog[0]).toMatchObject({ attempt: 1, status: 200 });
      expect(task.error).toBeUndefined();
    }

    // The raw result is readable too, byte for byte.
    const raw = await fetch(`${platform.url}/v1/tasks/${binaryId}/result`, {
      headers: { authorization: `Bearer ${account.apiKey}` },
    });
    expect(raw.status).toBe(200);
    expect(Buffer.from(await raw.arrayBuffer()).equals(Buffer.from(binary).reverse())).toBe(true);
  });

  it("retries a function that answers 500 twice, then succeeds on the third attempt", async () => {
    await putFunction(platform.url, account.apiKey, "local-flaky", {
      target: { type: "url", url: `${tenant.url}/flaky` },
      timeoutMs: 10_000,
      retry: { maxAttempts: 5, initialBackoffMs: 50, maxBackoffMs: 200 },
    });
    const id = await submit("local-flaky", JSON.stringify({ flaky: true }), "application/json");
    const task = await waitForTask(platform.url, account.apiKey, id, { timeoutMs: 60_000 });

    expect(task.state, JSON.stringify(task)).toBe("succeeded");
    expect(task.attempts).toBe(3);
    expect(task.attemptLog.map((a) => a.attempt)).toEqual([1, 2, 3]);
    expect(task.attemptLog.map((a) => a.status)).toEqual([500, 500, 200]);
    expect(task.result).toEqual({ ok: true, calls: 3 });
    expectTimelineFilled(task);
    expect(Date.parse(task.timeline.lastDispatchedAt!)).toBeGreaterThan(Date.parse(task.timeline.firstDispatchedAt!));

    const calls = tenant.requests.filter((r) => header(r, "sluice-task-id") === id);
    expect(calls.map((r) => header(r, "sluice-attempt"))).toEqual(["1", "2", "3"]);
    for (const [i, request] of calls.entries()) {
      expectInvocationHeaders(request, id, i + 1);
      expectRawSignature(request, account.webhookSecret);
    }
    // Each attempt is a distinct invocation: its own webhook-id and callback token.
    expect(new Set(calls.map((r) => header(r, "webhook-id"))).size).toBe(3);
    expect(new Set(calls.map((r) => header(r, "sluice-callback-token"))).size).toBe(3);
  });
});

describe("service-binding target", () => {
  it("runs the demo function through DEMO_FN and stores its JSON result", async () => {
    await putFunction(platform.url, account.apiKey, "demo-echo", { target: { type: "service", service: "DEMO_FN" } });
    const echo = { a: [1, 2, 3], s: "ünïcode", nested: { ok: true } };
    const id = await submit("demo-echo", JSON.stringify({ echo }), "application/json");

    // Right after submission the id is known (never a 404), whatever state it is in.
    const early = await call(platform.url, "GET", `/v1/tasks/${id}`, { token: account.apiKey });
    expect(early.status).toBe(200);

    const task = await waitForTask(platform.url, account.apiKey, id, { timeoutMs: 60_000 });
    expect(task.state, JSON.stringify(task)).toBe("succeeded");
    expect(task.result).toEqual({ echo, taskId: id, attempt: 1 });
    expect(task.resultContentType).toMatch(/^application\/json/);
    expect(task.attempts).toBe(1);
    expect(task.attemptLog).toHaveLength(1);
    expect(task.attemptLog[0]).toMatchObject({ attempt: 1, status: 200 });
    expectTimelineFilled(task);
  });

  it("rejects an unknown service binding with a validation problem", async () => {
    const response = await call(platform.url, "PUT", "/v1/functions/nope", {
      token: account.apiKey,
      json: { target: { type: "service", service: "NOT_BOUND" } },
    });
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    await waitFor(
      async () => (await call(platform.url, "GET", "/v1/functions/nope", { token: account.apiKey })).status === 404,
      {
        timeoutMs: 5_000,
        what: "function nope stays unknown",
      },
    );
  });
});
