/**
 * Holes found by probing Sluice as a careless or hostile tenant would, checked against real local bindings: deleting a
 * function with calls in flight, retention, the attempt log of a cancelled call, blobs of deduplicated batch items,
 * `Prefer: wait` on a running task, r2 prefixes, and shards created before the current schema.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { ShardStore } from "../../src/shard";
import { TEST_SHARD_SETTINGS } from "../support/shard-settings";
import {
  blobKeys,
  createAccount,
  demoTarget,
  expectProblem,
  getTask,
  post,
  putFunction,
  quietPeriod,
  shardOf,
  submit,
  tenant,
  waitForState,
} from "./helpers";

describe("deleting a function with a call in flight", () => {
  it("cancels the running task, logs how its call ended, and a new function of the same name never runs it", async () => {
    const account = await createAccount();
    await putFunction(account, "doomed", { target: demoTarget, timeoutMs: 20_000 });
    const id = await submit(account, "doomed", JSON.stringify({ sleepMs: 3000, echo: "old" }));
    await waitForState(account, id, "running");
    const deleted = await tenant(account, "/v1/functions/doomed", { method: "DELETE" });
    expect(await deleted.json()).toMatchObject({ deleted: "doomed", cancelledTasks: 1 });
    let task = await getTask(account, id);
    expect(task).toMatchObject({ state: "cancelled", error: { kind: "function_deleted" } });
    expect(task.attemptLog.at(-1)?.error).toMatchObject({ kind: "function_deleted" });
    await putFunction(account, "doomed", { target: demoTarget });
    // Past the old call's end: its outcome (had the abort not arrived) is ignored, and nothing runs the old payload.
    await quietPeriod(3500, "past the old call's end: nothing may run the old payload");
    task = await getTask(account, id);
    expect(task.state).toBe("cancelled");
    expect(task.attempts).toBe(1);
  }, 20_000);
});

describe("cancelling a running task", () => {
  it("records the aborted call in the attempt log", async () => {
    const account = await createAccount();
    await putFunction(account, "slow", { target: demoTarget, timeoutMs: 20_000 });
    const id = await submit(account, "slow", JSON.stringify({ sleepMs: 5000 }));
    await waitForState(account, id, "running");
    const cancelled = await tenant(account, `/v1/tasks/${id}/cancel`, { method: "POST" });
    expect(cancelled.status).toBe(200);
    const task = await getTask(account, id);
    expect(task.state).toBe("cancelled");
    expect(task.attemptLog).toHaveLength(1);
    expect(task.attemptLog[0]?.error).toMatchObject({ kind: "cancelled" });
  }, 20_000);
});

describe("Prefer: wait that times out", () => {
  it("answers the task's current state, not accepted", async () => {
    const account = await createAccount();
    await putFunction(account, "waits", { target: demoTarget, timeoutMs: 20_000 });
    const response = await tenant(account, "/v1/functions/waits/tasks", {
      method: "POST",
      headers: { "content-type": "application/json", prefer: "wait=2" },
      body: JSON.stringify({ sleepMs: 6000 }),
    });
    expect(response.status).toBe(202);
    expect(((await response.json()) as { state: string }).state).toBe("running");
  }, 20_000);
});

describe("deduplicated submissions", () => {
  it("leave no payload object behind in R2", async () => {
    const account = await createAccount();
    await putFunction(account, "batchy", { target: demoTarget });
    const big = { echo: "z".repeat(80 * 1024) };
    const items = Array.from({ length: 5 }, (_, i) => ({ payload: big, idempotencyKey: `k-${i}` }));
    const before = (await blobKeys("payloads/")).length;
    const first = await tenant(account, "/v1/functions/batchy/tasks:batch", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(items),
    });
    expect(first.status).toBe(202);
    expect((await blobKeys("payloads/")).length).toBe(before + 5);
    const repeat = await tenant(account, "/v1/functions/batchy/tasks:batch", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(items),
    });
    const body = (await repeat.json()) as { tasks: { deduplicated?: boolean }[] };
    expect(body.tasks.every((t) => t.deduplicated)).toBe(true);
    expect((await blobKeys("payloads/")).length).toBe(before + 5);
    // The same for a single submission with a repeated key.
    const single = () =>
      tenant(account, "/v1/functions/batchy/tasks", {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": "k-single" },
        body: JSON.stringify(big),
      });
    expect((await single()).status).toBe(202);
    const again = await single();
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ deduplicated: true });
    expect((await blobKeys("payloads/")).length).toBe(before + 6);
  }, 20_000);
});

describe("idempotency keys", () => {
  it("a batch key with a control character is refused whole (Sluice's own chain/event keys use newlines)", async () => {
    const account = await createAccount();
    await putFunction(account, "keyed", { target: demoTarget });
    const res = await post(account, "/v1/functions/keyed/tasks:batch", [
      { payload: 1 },
      { payload: 2, idempotencyKey: "chain\ndlv_x" },
    ]);
    const problem = await expectProblem(res, 400, "validation");
    expect((problem.errors as { path: string }[]).map((e) => e.path)).toEqual(["1.idempotencyKey"]);
    // Nothing was stored: the function has no task.
    const stats = await tenant(account, "/v1/functions/keyed/stats");
    expect(((await stats.json()) as { counts: Record<string, number> }).counts).toEqual({});
  });
});

describe("r2 destinations", () => {
  it("refuse a prefix that could reach into another tenant's folder", async () => {
    const account = await createAccount();
    const response = await tenant(account, "/v1/functions/sink", {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ target: demoTarget, destinations: { onSuccess: { type: "r2", prefix: "sluice/bravo" } } }),
    });
    const problem = await expectProblem(response, 400, "validation");
    expect(problem.errors).toEqual([expect.objectContaining({ path: "destinations.onSuccess.prefix" })]);
  });
});

describe("retention", () => {
  it("purges an ended task retentionSeconds after it ended, with its R2 objects; stats still count it", async () => {
    const account = await createAccount();
    await putFunction(account, "brief", { target: demoTarget, retentionSeconds: 10 });
    const big = JSON.stringify({ echo: "r".repeat(80 * 1024) });
    const id = await submit(account, "brief", big);
    const task = await waitForState(account, id, "succeeded");
    expect(task.resultUrl).toBeDefined();
    expect(await blobKeys(`payloads/${id}`)).toHaveLength(1);
    expect((await blobKeys(`results/${id}/`)).length).toBeGreaterThan(0);
    const shard = await shardOf(account, "brief");
    await vi.waitFor(async () => expectProblem(await tenant(account, `/v1/tasks/${id}`), 404, "not-found"), {
      timeout: 20_000,
      interval: 500,
    });
    await vi.waitFor(
      async () => {
        expect(await blobKeys(`payloads/${id}`)).toHaveLength(0);
        expect(await blobKeys(`results/${id}/`)).toHaveLength(0);
      },
      { timeout: 5_000, interval: 200 },
    );
    expect(await shard.countByState(account.id, "brief")).toEqual({ succeeded: 1 });
    const listed = (await (await tenant(account, "/v1/functions/brief/tasks")).json()) as { tasks: unknown[] };
    expect(listed.tasks).toHaveLength(0);
  }, 40_000);
});

describe("a shard created before the current schema", () => {
  it("gains the new columns on start and keeps its tasks", async () => {
    const stub = env.SHARD.getByName("migration-test");
    await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      for (const table of ["tasks", "attempts", "tombstones", "purged_counts", "r2_garbage"])
        sql.exec(`DROP TABLE IF EXISTS ${table}`);
      // The first release's shape of the two tables that changed.
      sql.exec(`CREATE TABLE tasks (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, account TEXT NOT NULL, function TEXT NOT NULL,
        state TEXT NOT NULL, run INTEGER NOT NULL DEFAULT 1, attempts INTEGER NOT NULL DEFAULT 0,
        invocations INTEGER NOT NULL DEFAULT 0, payload BLOB, payload_r2 TEXT, payload_type TEXT NOT NULL,
        payload_size INTEGER NOT NULL, idempotency_key TEXT, fairness_key TEXT, not_before INTEGER NOT NULL,
        age_from INTEGER NOT NULL, lease_until INTEGER, invoker INTEGER, callback_token TEXT,
        async INTEGER NOT NULL DEFAULT 0, chain_depth INTEGER NOT NULL DEFAULT 0, origin TEXT,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, accepted_at INTEGER, queued_at INTEGER,
        first_dispatched_at INTEGER, last_dispatched_at INTEGER, finished_at INTEGER, delivered_at INTEGER,
        result BLOB, result_r2 TEXT, result_type TEXT, result_size INTEGER, error TEXT)`);
      sql.exec(`CREATE TABLE attempts (
        task_id TEXT NOT NULL, invocation INTEGER NOT NULL, run INTEGER NOT NULL, attempt INTEGER NOT NULL,
        started_at INTEGER NOT NULL, duration_ms INTEGER NOT NULL, status INTEGER, error TEXT,
        throttled INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (task_id, invocation))`);
      sql.exec(
        `INSERT INTO tasks (id, account, function, state, payload_type, payload_size, not_before, age_from, created_at,
           updated_at, finished_at) VALUES ('old-1', 'acme', 'f', 'succeeded', 'text/plain', 0, 1, 1, 1, 1, 1000)`,
      );
      sql.exec(
        `INSERT INTO attempts (task_id, invocation, run, attempt, started_at, duration_ms) VALUES ('old-1', 1, 1, 1, 1, 5)`,
      );
      const store = new ShardStore(sql, TEST_SHARD_SETTINGS);
      const { task } = store.getTask("acme", "old-1");
      expect(task?.state).toBe("succeeded");
      expect(task?.attemptLog).toHaveLength(1);
      // An ended task from before retention gets the default: purged 7 days after it ended.
      expect(sql.exec<{ purge_at: number }>(`SELECT purge_at FROM tasks WHERE id = 'old-1'`).one().purge_at).toBe(
        1000 + 604_800_000,
      );
      expect(store.purgeExpired(1000 + 604_800_000)).toBe(1);
      // Starting again over the migrated schema is a no-op.
      new ShardStore(sql, TEST_SHARD_SETTINGS);
    });
  });
});
