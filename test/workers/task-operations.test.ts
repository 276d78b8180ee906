import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import {
  asyncTask,
  createAccount,
  demoTarget,
  expectProblem,
  fastRetry,
  getTask,
  post,
  putFunction,
  quietPeriod,
  shardOf,
  submit,
  type TestAccount,
  tenant,
  waitForState,
} from "./helpers";

describe("single-task operations", () => {
  it("pauses and resumes a queued task; refused transitions answer 409 naming the state", async () => {
    const account = await createAccount();
    await putFunction(account, "ops", { target: demoTarget });
    const id = await submit(account, "ops", JSON.stringify({ echo: 1 }), {
      "content-type": "application/json",
      "sluice-delay": "600",
    });
    await waitForState(account, id, "queued");
    const paused = await post(account, `/v1/tasks/${id}/pause`);
    expect(paused.status).toBe(200);
    expect(((await paused.json()) as { state: string }).state).toBe("paused");
    const again = await expectProblem(await post(account, `/v1/tasks/${id}/pause`), 409, "invalid-transition");
    expect(again.state).toBe("paused");
    await expectProblem(await post(account, `/v1/tasks/${id}/retry`), 409, "invalid-transition");
    const resumed = (await (await post(account, `/v1/tasks/${id}/resume`)).json()) as { state: string };
    expect(resumed.state).toBe("queued");
    await expectProblem(await post(account, `/v1/tasks/${id}/resume`), 409, "invalid-transition");
    const cancelled = (await (await post(account, `/v1/tasks/${id}/cancel`)).json()) as { state: string };
    expect(cancelled.state).toBe("cancelled");
    for (const op of ["cancel", "pause", "resume", "retry"]) {
      const problem = await expectProblem(await post(account, `/v1/tasks/${id}/${op}`), 409, "invalid-transition");
      expect(problem.state).toBe("cancelled");
      expect(problem.detail).toContain("cancelled");
    }
  });

  it("refuses every operation but retry on a succeeded task, and retry too", async () => {
    const account = await createAccount();
    await putFunction(account, "done", { target: demoTarget });
    const id = await submit(account, "done", JSON.stringify({ echo: 1 }));
    await waitForState(account, id, "succeeded");
    for (const op of ["cancel", "pause", "resume", "retry"]) {
      const problem = await expectProblem(await post(account, `/v1/tasks/${id}/${op}`), 409, "invalid-transition");
      expect(problem.state).toBe("succeeded");
    }
  });

  it("cancels a running task: the call is aborted and the task ends cancelled, not succeeded", async () => {
    const account = await createAccount();
    await putFunction(account, "slow", { target: demoTarget, timeoutMs: 20_000 });
    const id = await submit(account, "slow", JSON.stringify({ sleepMs: 1500, echo: "too late" }));
    await waitForState(account, id, "running");
    const cancelled = (await (await post(account, `/v1/tasks/${id}/cancel`)).json()) as { state: string };
    expect(cancelled.state).toBe("cancelled");
    await quietPeriod(1800, "past the aborted call's end: a late answer must not make it succeed");
    const task = await getTask(account, id);
    expect(task.state).toBe("cancelled");
    expect(task.result).toBeUndefined();
  });

  it("retries a failed task as a new run, keeping the first run's attempts in the log", async () => {
    const account = await createAccount();
    await putFunction(account, "again", { target: demoTarget, retry: { ...fastRetry, maxAttempts: 2 } });
    const id = await submit(account, "again", JSON.stringify({ fail: 500 }));
    await waitForState(account, id, "failed");
    const retried = (await (await post(account, `/v1/tasks/${id}/retry`)).json()) as {
      state: string;
      run: number;
      attempts: number;
    };
    expect(retried).toMatchObject({ state: "queued", run: 2, attempts: 0 });
    const task = await waitForState(account, id, "failed");
    expect(task.attemptLog.map((a) => [(a as { run?: number }).run, a.attempt])).toEqual([
      [1, 1],
      [1, 2],
      [2, 1],
      [2, 2],
    ]);
  });

  it("cancels a task that is still on its way through the ingest queue, and its arrival does not revive it", async () => {
    const account = await createAccount();
    await putFunction(account, "early", { target: demoTarget });
    // Pause the function so the cancel is the only thing that can change the task.
    expect((await post(account, "/v1/functions/early/pause")).status).toBe(200);
    const id = await submit(account, "early", JSON.stringify({ echo: 1 }));
    const cancelled = await post(account, `/v1/tasks/${id}/cancel`);
    expect(cancelled.status).toBe(200);
    // The task arrives from the ingest queue: the cancelled placeholder learns its function and stays cancelled.
    const shard = await shardOf(account, "early");
    await vi.waitFor(
      async () =>
        expect(
          await runInDurableObject(
            shard,
            (_i, state) =>
              state.storage.sql.exec<{ function: string }>("SELECT function FROM tasks WHERE id = ?", id).one()
                .function,
          ),
        ).toBe("early"),
      { timeout: 5000, interval: 25 },
    );
    await post(account, "/v1/functions/early/resume");
    await quietPeriod(300, "a resumed function must not dispatch the cancelled task");
    expect((await getTask(account, id)).state).toBe("cancelled");
  });

  it("deletes an ended task with its R2 objects; a live task cannot be deleted", async () => {
    const account = await createAccount();
    await putFunction(account, "purge", { target: demoTarget });
    await post(account, "/v1/functions/purge/pause");
    const id = await submit(account, "purge", JSON.stringify({ echo: "z".repeat(70 * 1024) }));
    await waitForState(account, id, "queued");
    const refused = await expectProblem(
      await tenant(account, `/v1/tasks/${id}`, { method: "DELETE" }),
      409,
      "invalid-transition",
    );
    expect(refused.state).toBe("queued");
    await post(account, "/v1/functions/purge/resume");
    await waitForState(account, id, "succeeded");
    expect(await env.BLOBS.head(`payloads/${id}`)).not.toBeNull();
    expect((await env.BLOBS.list({ prefix: `results/${id}/` })).objects.length).toBe(1);
    const deleted = await tenant(account, `/v1/tasks/${id}`, { method: "DELETE" });
    expect(deleted.status).toBe(204);
    await expectProblem(await tenant(account, `/v1/tasks/${id}`), 404, "not-found");
    expect(await env.BLOBS.head(`payloads/${id}`)).toBeNull();
    expect((await env.BLOBS.list({ prefix: `results/${id}/` })).objects.length).toBe(0);
  });
});

describe("function-level pause and resume", () => {
  it("keeps accepting and queueing while paused, dispatches nothing, and runs everything after resume", async () => {
    const account = await createAccount();
    await putFunction(account, "hold", { target: demoTarget });
    const paused = (await (await post(account, "/v1/functions/hold/pause")).json()) as { paused: boolean };
    expect(paused.paused).toBe(true);
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await submit(account, "hold", JSON.stringify({ echo: i })));
    for (const id of ids) await waitForState(account, id, "queued");
    await quietPeriod(300, "a paused function dispatches nothing");
    for (const id of ids) expect((await getTask(account, id)).state).toBe("queued");
    // Replacing the configuration does not silently unpause it.
    await putFunction(account, "hold", { target: demoTarget, timeoutMs: 9000 });
    await quietPeriod(200, "replacing the configuration must not unpause it");
    for (const id of ids) expect((await getTask(account, id)).state).toBe("queued");
    const resumed = (await (await post(account, "/v1/functions/hold/resume")).json()) as { paused: boolean };
    expect(resumed.paused).toBe(false);
    for (const id of ids) await waitForState(account, id, "succeeded");
  });
});

describe("bulk operations", () => {
  it("refuses an empty filter instead of treating it as everything", async () => {
    const account = await createAccount();
    await putFunction(account, "bulk-empty", { target: demoTarget });
    await expectProblem(await post(account, "/v1/functions/bulk-empty/tasks:cancel", {}), 400, "validation");
  });

  it("pauses, resumes and cancels by ids", async () => {
    const account = await createAccount();
    await putFunction(account, "bulk-ids", { target: demoTarget });
    await post(account, "/v1/functions/bulk-ids/pause");
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(await submit(account, "bulk-ids", JSON.stringify({ echo: i })));
    for (const id of ids) await waitForState(account, id, "queued");
    const paused = (await (
      await post(account, "/v1/functions/bulk-ids/tasks:pause", { ids: ids.slice(0, 2) })
    ).json()) as { affected: number };
    expect(paused.affected).toBe(2);
    expect((await getTask(account, ids[0] ?? "")).state).toBe("paused");
    const resumed = (await (await post(account, "/v1/functions/bulk-ids/tasks:resume", { ids })).json()) as {
      affected: number;
    };
    expect(resumed.affected).toBe(2);
    const cancelled = (await (
      await post(account, "/v1/functions/bulk-ids/tasks:cancel", { state: "queued" })
    ).json()) as { affected: number };
    expect(cancelled.affected).toBe(3);
    for (const id of ids) expect((await getTask(account, id)).state).toBe("cancelled");
  });

  it("cancels 10,000 queued tasks in bounded chunks, finishing in the background", async () => {
    const account = await createAccount();
    await putFunction(account, "flood", { target: demoTarget });
    await post(account, "/v1/functions/flood/pause");
    for (let batch = 0; batch < 100; batch++) {
      const items = Array.from({ length: 100 }, (_, i) => ({ payload: { n: batch * 100 + i } }));
      const response = await post(account, "/v1/functions/flood/tasks:batch", items);
      expect(response.status).toBe(202);
    }
    const shard = await shardOf(account, "flood");
    expect((await shard.countByState(account.id, "flood")).queued).toBe(10_000);
    const result = (await (await post(account, "/v1/functions/flood/tasks:cancel", { state: "queued" })).json()) as {
      affected: number;
      completed: number;
      inProgress: boolean;
    };
    expect(result.affected).toBe(10_000);
    expect(result.completed).toBeLessThan(10_000);
    expect(result.inProgress).toBe(true);
    await vi.waitFor(async () => expect((await shard.countByState(account.id, "flood")).cancelled).toBe(10_000), {
      timeout: 30_000,
      interval: 100,
    });
  }, 60_000);
});

describe("deduplication", () => {
  it("two concurrent submissions with one Idempotency-Key make one task; the repeat answers 200 deduplicated", async () => {
    const account = await createAccount();
    await putFunction(account, "dedup", { target: demoTarget });
    const send = () =>
      tenant(account, "/v1/functions/dedup/tasks", {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": "order-42" },
        body: JSON.stringify({ echo: "once" }),
      });
    const [a, b] = await Promise.all([send(), send()]);
    const bodies = (await Promise.all([a.json(), b.json()])) as { id: string; deduplicated?: boolean }[];
    expect([a.status, b.status].sort()).toEqual([200, 202]);
    expect(bodies[0]?.id).toBe(bodies[1]?.id);
    expect(bodies.filter((x) => x.deduplicated === true)).toHaveLength(1);
    const shard = await shardOf(account, "dedup");
    const total = Object.values(await shard.countByState(account.id, "dedup")).reduce((n, v) => n + v, 0);
    expect(total).toBe(1);
  });

  it("deduplicates inside a batch and against earlier submissions; keys expire after the window", async () => {
    const account = await createAccount();
    await putFunction(account, "dedup-batch", { target: demoTarget, dedupWindowSeconds: 1 });
    const first = await tenant(account, "/v1/functions/dedup-batch/tasks", {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": "k1" },
      body: "{}",
    });
    const firstId = ((await first.json()) as { id: string }).id;
    const batch = (await (
      await post(account, "/v1/functions/dedup-batch/tasks:batch", [
        { payload: 1, idempotencyKey: "k1" },
        { payload: 2, idempotencyKey: "k2" },
        { payload: 3, idempotencyKey: "k2" },
        { payload: 4 },
      ])
    ).json()) as { tasks: { id: string; deduplicated?: boolean }[] };
    expect(batch.tasks[0]).toEqual({ id: firstId, deduplicated: true });
    expect(batch.tasks[1]?.deduplicated).toBeUndefined();
    expect(batch.tasks[2]).toEqual({ id: batch.tasks[1]?.id, deduplicated: true });
    expect(batch.tasks[3]?.deduplicated).toBeUndefined();
    // Once the 1 s window has passed (and not before), the key makes a new task.
    const windowStart = Date.now();
    const later = await vi.waitFor(
      async () => {
        const response = await tenant(account, "/v1/functions/dedup-batch/tasks", {
          method: "POST",
          headers: { "content-type": "application/json", "idempotency-key": "k1" },
          body: "{}",
        });
        expect(response.status).toBe(202);
        return (await response.json()) as { id: string };
      },
      { timeout: 5000, interval: 100 },
    );
    expect(later.id).not.toBe(firstId);
    expect(Date.now() - windowStart).toBeGreaterThanOrEqual(500);
    // Expired keys are removed by the shard's alarm, so storage does not grow without bound.
    const shard = await shardOf(account, "dedup-batch");
    await vi.waitFor(
      async () => {
        const keys = await runInDurableObject(
          shard,
          (_i, state) =>
            state.storage.sql
              .exec<{ n: number }>("SELECT COUNT(*) AS n FROM idempotency WHERE expires_at <= ?", Date.now())
              .one().n,
        );
        expect(keys).toBe(0);
      },
      { timeout: 5000 },
    );
  });

  it("validates batches: at most 100, payload required", async () => {
    const account = await createAccount();
    await putFunction(account, "batch-check", { target: demoTarget });
    await expectProblem(
      await post(
        account,
        "/v1/functions/batch-check/tasks:batch",
        Array.from({ length: 101 }, () => ({ payload: 1 })),
      ),
      400,
      "validation",
    );
    await expectProblem(await post(account, "/v1/functions/batch-check/tasks:batch", [{ nope: 1 }]), 400, "validation");
    await expectProblem(await post(account, "/v1/functions/batch-check/tasks:batch", []), 400, "validation");
  });
});

describe("Prefer: wait", () => {
  it("answers 200 with the ended task when it finishes in time, 202 otherwise", async () => {
    const account = await createAccount();
    await putFunction(account, "waity", { target: demoTarget });
    const quick = await tenant(account, "/v1/functions/waity/tasks", {
      method: "POST",
      headers: { "content-type": "application/json", prefer: "wait=10" },
      body: JSON.stringify({ echo: "fast" }),
    });
    expect(quick.status).toBe(200);
    expect(await quick.json()).toMatchObject({ state: "succeeded", result: { echo: "fast" } });
    const slow = await tenant(account, "/v1/functions/waity/tasks", {
      method: "POST",
      headers: { "content-type": "application/json", prefer: "wait=1" },
      body: JSON.stringify({ sleepMs: 3000 }),
    });
    expect(slow.status).toBe(202);
  });
});

describe("long-running tasks (202 + Sluice-Async: 1)", () => {
  function callback(id: string, what: "complete" | "heartbeat", token: string | undefined, body?: unknown) {
    return tenant({ apiKey: "" } as TestAccount, `/v1/tasks/${id}/${what}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { "sluice-callback-token": token } : {}) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }

  it("stays running until completed with the invocation's token; a wrong token and a duplicate change nothing", async () => {
    const account = await createAccount();
    await putFunction(account, "long", { target: demoTarget, timeoutMs: 10_000 });
    const { id, token } = await asyncTask(account, "long");
    expect((await getTask(account, id)).state).toBe("running");
    // No token, a wrong one and (below) an ended task all read the same: the endpoint tells a stranger nothing.
    await expectProblem(await callback(id, "complete", undefined, { ok: true }), 404, "not-found");
    await expectProblem(await callback(id, "complete", "wrong-token", { ok: true, result: 1 }), 404, "not-found");
    expect((await getTask(account, id)).state).toBe("running");
    const done = await callback(id, "complete", token, { ok: true, result: { answer: 42 } });
    expect(done.status).toBe(200);
    const task = await getTask(account, id);
    expect(task).toMatchObject({ state: "succeeded", result: { answer: 42 } });
    const duplicate = await expectProblem(
      await callback(id, "complete", token, { ok: false, error: "late" }),
      404,
      "not-found",
    );
    expect(duplicate.state).toBeUndefined();
    expect((await getTask(account, id)).state).toBe("succeeded");
  });

  it("a completion with ok:false and retryable:false fails the task", async () => {
    const account = await createAccount();
    await putFunction(account, "long-fail", { target: demoTarget, timeoutMs: 10_000 });
    const { id, token } = await asyncTask(account, "long-fail");
    await callback(id, "complete", token, { ok: false, error: { message: "bad input" }, retryable: false });
    const task = await getTask(account, id);
    expect(task).toMatchObject({ state: "failed", error: { kind: "callback", message: "bad input" } });
  });

  it("heartbeats keep it alive; a missed heartbeat after timeoutMs counts as a failed attempt", async () => {
    const account = await createAccount();
    await putFunction(account, "long-beat", {
      target: demoTarget,
      timeoutMs: 800,
      retry: { maxAttempts: 1, initialBackoffMs: 10, maxBackoffMs: 10 },
    });
    const { id, token } = await asyncTask(account, "long-beat");
    for (let beat = 0; beat < 3; beat++) {
      await quietPeriod(400, "heartbeats spaced about half a timeout apart");
      expect((await callback(id, "heartbeat", token)).status).toBe(200);
    }
    expect((await getTask(account, id)).state).toBe("running");
    const task = await waitForState(account, id, "failed", 10_000);
    expect(task.error).toMatchObject({ kind: "heartbeat_timeout" });
    // The attempt that answered 202 is closed with the missed heartbeat, not left looking like a success.
    expect(task.attemptLog).toHaveLength(1);
    expect(task.attemptLog[0]?.error).toMatchObject({ kind: "heartbeat_timeout" });
    await expectProblem(await callback(id, "complete", token, { ok: true }), 404, "not-found");
  });
});

describe("expiry", () => {
  it("a queued task older than maxEventAgeSeconds expires, and can be retried as a new run", async () => {
    const account = await createAccount();
    await putFunction(account, "stale", { target: demoTarget, maxEventAgeSeconds: 1 });
    await post(account, "/v1/functions/stale/pause");
    const id = await submit(account, "stale", JSON.stringify({ echo: "old" }));
    const expired = await waitForState(account, id, "expired", 5000);
    expect(expired.error).toMatchObject({ kind: "expired" });
    await post(account, "/v1/functions/stale/resume");
    await post(account, `/v1/tasks/${id}/retry`);
    await waitForState(account, id, "succeeded");
  });
});

describe("listing", () => {
  it("pages newest first with an opaque cursor, filters by state, and never repeats or skips while tasks are added", async () => {
    const account = await createAccount();
    await putFunction(account, "list", { target: demoTarget });
    await post(account, "/v1/functions/list/pause");
    const items = Array.from({ length: 25 }, (_, i) => ({ payload: { i } }));
    const created = (await (await post(account, "/v1/functions/list/tasks:batch", items)).json()) as {
      tasks: { id: string }[];
    };
    const expected = created.tasks.map((t) => t.id).reverse();
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = `?limit=7${cursor ? `&cursor=${cursor}` : ""}`;
      const page = (await (await tenant(account, `/v1/functions/list/tasks${query}`)).json()) as {
        tasks: { id: string; state: string }[];
        nextCursor: string | null;
      };
      seen.push(...page.tasks.map((t) => t.id));
      cursor = page.nextCursor;
      pages++;
      // Tasks added mid-listing are newer than the cursor: they must not appear in later pages.
      await post(account, "/v1/functions/list/tasks:batch", [{ payload: { late: pages } }]);
    } while (cursor);
    expect(seen).toEqual(expected);
    expect(pages).toBe(4);
    const queued = (await (await tenant(account, "/v1/functions/list/tasks?state=queued&limit=1000")).json()) as {
      tasks: unknown[];
    };
    expect(queued.tasks.length).toBe(25 + pages);
    const none = (await (await tenant(account, "/v1/functions/list/tasks?state=succeeded")).json()) as {
      tasks: unknown[];
    };
    expect(none.tasks).toEqual([]);
    await expectProblem(await tenant(account, "/v1/functions/list/tasks?limit=5000"), 400, "validation");
    await expectProblem(await tenant(account, "/v1/functions/list/tasks?cursor=garbage"), 400, "validation");
  });
});
