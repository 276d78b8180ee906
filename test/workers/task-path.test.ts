import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import {
  createAccount,
  demoTarget,
  expectProblem,
  fastRetry,
  putFunction,
  submit,
  tenant,
  waitForState,
} from "./helpers";

describe("task path: gateway -> ingest queue -> shard -> invoker -> service binding", () => {
  it("runs a task to succeeded and keeps its JSON result, timeline and attempt log", async () => {
    const account = await createAccount();
    await putFunction(account, "echo", { target: demoTarget, retry: fastRetry });
    const id = await submit(account, "echo", JSON.stringify({ echo: { hello: "world" } }));
    const task = await waitForState(account, id, "succeeded");
    expect(task.attempts).toBe(1);
    expect(task.result).toMatchObject({ echo: { hello: "world" }, taskId: id, attempt: 1 });
    expect(task.resultContentType).toContain("application/json");
    expect(task.attemptLog).toHaveLength(1);
    expect(task.attemptLog[0]).toMatchObject({ attempt: 1, status: 200 });
    for (const stage of ["acceptedAt", "queuedAt", "firstDispatchedAt", "lastDispatchedAt", "finishedAt"]) {
      expect(task.timeline[stage], stage).toEqual(expect.any(String));
    }
  });

  it("retries 5xx with backoff and fails after maxAttempts", async () => {
    const account = await createAccount();
    await putFunction(account, "flaky", { target: demoTarget, retry: fastRetry });
    const id = await submit(account, "flaky", JSON.stringify({ fail: 500 }));
    const task = await waitForState(account, id, "failed");
    expect(task.attempts).toBe(3);
    expect(task.attemptLog.map((a) => a.attempt)).toEqual([1, 2, 3]);
    expect(task.attemptLog.every((a) => a.status === 500)).toBe(true);
    expect(task.error).toMatchObject({ kind: "http", status: 500 });
  });

  it("succeeds when a transient failure clears before attempts run out", async () => {
    const account = await createAccount();
    await putFunction(account, "recovers", { target: demoTarget, retry: fastRetry });
    const id = await submit(account, "recovers", JSON.stringify({ fail: 502, failTimes: 2, echo: "ok" }));
    const task = await waitForState(account, id, "succeeded");
    expect(task.attemptLog.map((a) => a.status)).toEqual([502, 502, 200]);
  });

  it("fails at once on a permanent 4xx", async () => {
    const account = await createAccount();
    await putFunction(account, "strict", { target: demoTarget, retry: fastRetry });
    const id = await submit(account, "strict", JSON.stringify({ fail: 422 }));
    const task = await waitForState(account, id, "failed");
    expect(task.attempts).toBe(1);
    expect(task.error).toMatchObject({ kind: "http", status: 422 });
  });

  it("does not count throttled answers (429) as attempts, but still expires them by age", async () => {
    const account = await createAccount();
    await putFunction(account, "busy", {
      target: demoTarget,
      retry: { ...fastRetry, maxAttempts: 1 },
      maxEventAgeSeconds: 2,
    });
    // Always 429: with maxAttempts 1, a counted attempt would fail the task after the first call.
    const id = await submit(account, "busy", JSON.stringify({ status: 429, retryAfter: 0 }));
    const task = await waitForState(account, id, "expired");
    // Consecutive throttles fold into one entry that counts them.
    const calls = task.attemptLog.reduce((n, a) => n + ((a as { count?: number }).count ?? 1), 0);
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(task.attemptLog.every((a) => a.status === 429)).toBe(true);
    expect(task.attempts).toBe(0);
    expect(task.error).toMatchObject({ kind: "expired" });
  });

  it("keeps a 100 KiB payload byte for byte by spilling it to R2", async () => {
    const account = await createAccount();
    await putFunction(account, "big", { target: demoTarget, retry: fastRetry });
    const payload = JSON.stringify({ echo: "y".repeat(100 * 1024) });
    const id = await submit(account, "big", payload);
    expect(await env.BLOBS.head(`payloads/${id}`)).not.toBeNull();
    const task = await waitForState(account, id, "succeeded");
    // The echoed result is over the inline limit, so it is only reachable through resultUrl.
    expect(task.result).toBeUndefined();
    expect(task.resultUrl).toMatch(new RegExp(`/v1/tasks/${id}/result$`));
    const result = await tenant(account, `/v1/tasks/${id}/result`);
    expect(result.status).toBe(200);
    const body = (await result.json()) as { echo: string };
    expect(body.echo).toBe("y".repeat(100 * 1024));
  });

  it("keeps non-JSON payloads and shows text results as text", async () => {
    const account = await createAccount();
    await putFunction(account, "texty", { target: demoTarget, retry: fastRetry });
    const id = await submit(account, "texty", JSON.stringify({ bytes: 5 }), { "content-type": "application/json" });
    const task = await waitForState(account, id, "succeeded");
    expect(task.result).toBe("xxxxx");
    expect(task.resultEncoding).toBe("text");
  });

  it("refuses payloads over 1 MiB with 413 and stores nothing", async () => {
    const account = await createAccount();
    await putFunction(account, "huge", { target: demoTarget });
    const response = await tenant(account, "/v1/functions/huge/tasks", {
      method: "POST",
      body: new Uint8Array(1024 * 1024 + 1),
      headers: { "content-type": "application/octet-stream" },
    });
    await expectProblem(response, 413, "payload-too-large");
    const listed = await env.BLOBS.list({ prefix: "payloads/" });
    expect(listed.objects.every((o) => o.size <= 1024 * 1024)).toBe(true);
  });

  it("answers 404 problem+json for an unknown function", async () => {
    const account = await createAccount();
    const response = await tenant(account, "/v1/functions/nope/tasks", { method: "POST", body: "{}" });
    await expectProblem(response, 404, "not-found");
  });

  it("honours Sluice-Delay before the first dispatch", async () => {
    const account = await createAccount();
    await putFunction(account, "later", { target: demoTarget });
    const submittedAt = Date.now();
    const id = await submit(account, "later", JSON.stringify({ echo: 1 }), {
      "content-type": "application/json",
      "sluice-delay": "1",
    });
    const task = await waitForState(account, id, "succeeded");
    expect(Date.parse(task.timeline.firstDispatchedAt ?? "")).toBeGreaterThanOrEqual(submittedAt + 1000);
  });
});
