/**
 * Runner-neutral cases for the shard store: each takes an `Sql` and an explicit clock, so the same list runs in Node
 * over node:sqlite (test/unit/shard-store.test.ts) and inside workerd over a Durable Object's own SQLite
 * (test/workers/shard-store.test.ts), and a difference between the two adapters shows up as a failing case.
 * Covered: the attempt log, throttled probing, delays against the age limit, listings as summaries, retention,
 * deleting a function with work in flight, and the delivery outbox's recovery.
 */
import { expect } from "vitest";
import { THROTTLE_MAX_DELAY_MS, throttleDelayMs } from "../../src/backoff";
import type { InvocationOutcome } from "../../src/outcome";
import { routeTask } from "../../src/placement";
import type { FunctionRecord, IngestMessage, InvocationJob } from "../../src/records";
import { ShardStore } from "../../src/shard";
import { ATTEMPT_LOG_LIMIT } from "../../src/shard/attempt-log";
import { TOMBSTONE_TTL_MS } from "../../src/shard/retention";
import type { Sql } from "../../src/sql";
import { testFunction, testTask } from "../support/records";
import { TEST_SHARD_SETTINGS } from "../support/shard-settings";

const T0 = Date.parse("2026-06-01T00:00:00Z");

function setup(sql: Sql, spec: Record<string, unknown> = {}) {
  const store = new ShardStore(sql, TEST_SHARD_SETTINGS);
  const fn = testFunction("acme", "work", "s", spec, T0 - 1000);
  store.upsertFunction(fn);
  let n = 0;
  const submit = (at: number, extra: Partial<IngestMessage["task"]> = {}, snapshot = fn): string => {
    const id = `t-${++n}`;
    store.accept([testTask(snapshot, id, at, extra)], at);
    return id;
  };
  const dispatch = (at: number): InvocationJob[] => [...store.planDispatch("s", at).byInvoker.values()].flat();
  const report = (job: InvocationJob, at: number, outcome: InvocationOutcome) =>
    store.applyOutcome(
      { taskId: job.taskId, invocation: job.invocation, startedAt: at, durationMs: 5, outcome },
      at,
      () => 0.5,
    );
  const task = (id: string) => store.getTask("acme", id).task;
  /** Run the task `id` (just submitted) to success and hand its delivery off; returns the delivery message. */
  const handedOffDelivery = (id: string) => {
    const job = dispatch(T0).find((j) => j.taskId === id);
    if (!job) throw new Error("nothing dispatched");
    report(job, T0, {
      kind: "succeeded",
      status: 200,
      body: { contentType: "application/json", size: 2, inline: new TextEncoder().encode("{}") },
    });
    const [first] = store.pendingHandoffs("s", 10, T0);
    if (!first) throw new Error("no hand-off");
    store.markHandedOff([first.deliveryId], T0);
    return first;
  };
  return { sql, store, fn, submit, dispatch, report, task, handedOffDelivery };
}

export interface StoreCase {
  readonly name: string;
  run(sql: Sql): void;
}

export const shardStoreCases: readonly StoreCase[] = [
  {
    name: "dispatch plan: names the earliest lease it gave out (the alarm must come by then), none when it started nothing",
    run: (sql) => {
      const { store, submit } = setup(sql, { timeoutMs: 7_000 });
      expect(store.planDispatch("s", T0).leaseBy).toBeNull();
      const id = submit(T0);
      const plan = store.planDispatch("s", T0 + 5);
      expect([...plan.byInvoker.values()].flat().map((j) => j.taskId)).toEqual([id]);
      // timeoutMs plus the grace of TEST_SHARD_SETTINGS (1 s), from the moment of dispatch.
      expect(plan.leaseBy).toBe(T0 + 5 + 7_000 + 1_000);
      const lease = sql.exec<{ t: number }>(`SELECT lease_until AS t FROM tasks WHERE id = ?`, id).one().t;
      expect(plan.leaseBy).toBe(lease);
      expect(store.planDispatch("s", T0 + 10).leaseBy).toBeNull();
    },
  },

  {
    name: "attempt log: keeps the newest 100 entries and counts the dropped ones",
    run: (sql) => {
      const { submit, dispatch, report, task } = setup(sql, {
        retry: { maxAttempts: 100, initialBackoffMs: 0, maxBackoffMs: 0 },
      });
      const id = submit(T0);
      let now = T0;
      for (let i = 0; i < 100; i++) {
        const [job] = dispatch(now);
        if (!job) throw new Error(`nothing dispatched at call ${i}`);
        report(job, now, { kind: "transient", error: { kind: "http", status: 500, message: "boom" } });
        now += 1000;
      }
      // Five more runs' worth would be 100 more rows; the log stays at the limit.
      const view = task(id);
      expect(view?.state).toBe("failed");
      expect(view?.attemptLog).toHaveLength(ATTEMPT_LOG_LIMIT);
      expect(view?.attemptLogDropped ?? 0).toBe(0);
    },
  },

  {
    name: "attempt log: drops the oldest past the limit, and folds consecutive throttles into one entry with a count",
    run: (sql) => {
      const { submit, dispatch, report, task } = setup(sql, {
        retry: { maxAttempts: 100, initialBackoffMs: 0, maxBackoffMs: 0 },
        maxEventAgeSeconds: 604_800,
      });
      const id = submit(T0);
      let now = T0;
      const next = () => {
        now += 2000;
        const [job] = dispatch(now);
        if (!job) throw new Error("nothing dispatched");
        return job;
      };
      // 150 throttles in a row: one entry.
      for (let i = 0; i < 150; i++) report(next(), now, { kind: "throttled", status: 429 });
      let view = task(id);
      expect(view?.attemptLog).toHaveLength(1);
      expect(view?.attemptLog[0]).toMatchObject({ status: 429, throttled: true, count: 150 });
      expect(view?.attempts).toBe(0);
      // Alternating answers do not fold: 120 entries more, the log keeps 100 and counts what it dropped.
      for (let i = 0; i < 60; i++) {
        report(next(), now, { kind: "throttled", status: 503 });
        report(next(), now, { kind: "throttled", status: 429 });
      }
      view = task(id);
      expect(view?.attemptLog).toHaveLength(ATTEMPT_LOG_LIMIT);
      expect(view?.attemptLogDropped).toBe(21);
    },
  },

  {
    name: "throttled probing: grows from 100 ms to about one call per second, jittered, and honours a longer Retry-After",
    run: (sql) => {
      expect(throttleDelayMs(1, () => 0.5)).toBe(100);
      expect(throttleDelayMs(2, () => 0.5)).toBe(200);
      for (let n = 5; n < 50; n++) {
        for (const r of [0, 0.5, 0.999]) {
          const d = throttleDelayMs(n, () => r);
          expect(d).toBeGreaterThanOrEqual(THROTTLE_MAX_DELAY_MS * 0.75);
          expect(d).toBeLessThanOrEqual(THROTTLE_MAX_DELAY_MS * 1.25);
        }
      }
      const { submit, dispatch, report, task } = setup(sql);
      const id = submit(T0);
      let now = T0;
      let calls = 0;
      // 60 s of a backend answering 429 with Retry-After: 0: about one call a second, not nine.
      while (now < T0 + 60_000) {
        const [job] = dispatch(now);
        if (job) {
          calls++;
          report(job, now, { kind: "throttled", status: 429, retryAfterMs: 0 });
        }
        now += 50;
      }
      expect(calls).toBeLessThan(75);
      expect(calls).toBeGreaterThan(40);
      expect(task(id)?.attemptLog).toHaveLength(1);
      // A longer Retry-After wins over the backoff.
      const [job] = dispatch(now + 2000);
      if (!job) throw new Error("nothing dispatched");
      report(job, now + 2000, { kind: "throttled", status: 429, retryAfterMs: 30_000 });
      const row = sql.exec<{ not_before: number }>(`SELECT not_before FROM tasks WHERE id = ?`, id).one();
      expect(row.not_before).toBe(now + 2000 + 30_000);
    },
  },

  {
    name: "throttled probing: puts a floor under zero backoff: 100 failing attempts take at least 10 s",
    run: (sql) => {
      const { submit, dispatch, report, task } = setup(sql, {
        retry: { maxAttempts: 100, initialBackoffMs: 0, maxBackoffMs: 0 },
      });
      const id = submit(T0);
      let now = T0;
      let calls = 0;
      while (task(id)?.state !== "failed" && now < T0 + 60_000) {
        for (const job of dispatch(now)) {
          calls++;
          report(job, now, { kind: "transient", error: { kind: "http", status: 500, message: "x" } });
        }
        now += 10;
      }
      expect(calls).toBe(100);
      expect(now - T0).toBeGreaterThanOrEqual(99 * 100);
    },
  },

  {
    name: "delay and age: counts maxEventAgeSeconds from when a delayed task is due, so it runs",
    run: (sql) => {
      const { submit, dispatch, task } = setup(sql, { maxEventAgeSeconds: 5 });
      const id = submit(T0, { delaySeconds: 10 });
      expect(dispatch(T0 + 9_000)).toHaveLength(0);
      expect(task(id)?.state).toBe("queued");
      const jobs = dispatch(T0 + 10_000);
      expect(jobs.map((j) => j.taskId)).toEqual([id]);
    },
  },

  {
    name: "delay and age: a delay beyond the default age limit (6 h) still runs",
    run: (sql) => {
      const { submit, dispatch, store } = setup(sql);
      const id = submit(T0, { delaySeconds: 7 * 3600 });
      expect(store.nextWakeAt(T0, false)).toBe(T0 + 7 * 3600 * 1000);
      expect(dispatch(T0 + 7 * 3600 * 1000).map((j) => j.taskId)).toEqual([id]);
    },
  },

  {
    name: "delay and age: a due task behind a delayed one in sequence still expires on time",
    run: (sql) => {
      const { submit, dispatch, task, store } = setup(sql, { maxEventAgeSeconds: 5, maxConcurrency: 1 });
      const delayed = submit(T0, { delaySeconds: 60 });
      const now = submit(T0);
      // The window is full so `now` waits; it must expire at T0 + 5 s even though `delayed` has the lower sequence.
      const [running] = dispatch(T0);
      expect(running?.taskId).toBe(now);
      const waiting = submit(T0 + 100);
      expect(store.nextWakeAt(T0 + 200, false)).toBeLessThanOrEqual(T0 + 100 + 5_000);
      dispatch(T0 + 6_000);
      expect(task(waiting)?.state).toBe("expired");
      expect(task(delayed)?.state).toBe("queued");
    },
  },

  {
    name: "listings: are summaries: 600 tasks with 65 KB results list as a small page",
    run: (sql) => {
      const { submit, dispatch, report, store } = setup(sql, { maxConcurrency: 1000 });
      for (let i = 0; i < 600; i++) submit(T0);
      const result = new Uint8Array(65_000).fill(120);
      // Slots are the shard's invokers x 6: dispatch and report until every task ran.
      for (let jobs = dispatch(T0); jobs.length > 0; jobs = dispatch(T0)) {
        for (const job of jobs) {
          report(job, T0, {
            kind: "succeeded",
            status: 200,
            body: { contentType: "text/plain", size: result.byteLength, inline: result },
          });
        }
      }
      const page = store.listTasks("acme", "work", undefined, 1000);
      expect(page.tasks).toHaveLength(600);
      expect(page.tasks.every((t) => t.state === "succeeded")).toBe(true);
      expect(JSON.stringify(page).length).toBeLessThan(600 * 1024);
      expect(Object.keys(page.tasks[0] ?? {}).sort()).toEqual([
        "attempts",
        "createdAt",
        "function",
        "id",
        "state",
        "timeline",
        "updatedAt",
      ]);
    },
  },

  {
    name: "retention: purges ended tasks after retentionSeconds in bounded chunks, with their R2 objects; counts survive",
    run: (sql) => {
      const { submit, dispatch, report, store, task } = setup(sql, { retentionSeconds: 60, maxConcurrency: 1000 });
      const ids = Array.from({ length: 450 }, () => submit(T0));
      for (let jobs = dispatch(T0); jobs.length > 0; jobs = dispatch(T0)) {
        for (const job of jobs) {
          report(job, T0, {
            kind: "succeeded",
            status: 200,
            body: { contentType: "text/plain", size: 9, r2Key: `results/${job.taskId}/1` },
          });
        }
      }
      expect(store.countByState("acme", "work")).toEqual({ succeeded: 450 });
      expect(store.purgeExpired(T0 + 59_000)).toBe(0);
      expect(store.nextWakeAt(T0 + 1000, false)).toBe(T0 + 60_000);
      // One chunk at a time, never everything at once.
      expect(store.purgeExpired(T0 + 60_000)).toBe(200);
      expect(store.purgeExpired(T0 + 60_000)).toBe(200);
      expect(store.purgeExpired(T0 + 60_000)).toBe(50);
      expect(store.purgeExpired(T0 + 60_000)).toBe(0);
      expect(sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM tasks`).one().n).toBe(0);
      expect(sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM attempts`).one().n).toBe(0);
      // Stats still count them; a GET says they were deleted; their R2 objects wait in the outbox.
      expect(store.countByState("acme", "work")).toEqual({ succeeded: 450 });
      expect(store.getTask("acme", ids[0] ?? "")).toEqual({ task: null, purged: true });
      expect(task(ids[1] ?? "")).toBeNull();
      const garbage = store.pendingGarbage();
      expect(garbage).toHaveLength(450);
      expect(garbage).toContain(`results/${ids[0]}/1`);
      store.forgetGarbage(garbage);
      expect(store.pendingGarbage()).toHaveLength(0);
      // Tombstones are forgotten after a day.
      store.purgeExpired(T0 + 60_000 + TOMBSTONE_TTL_MS);
      expect(sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM tombstones`).one().n).toBe(0);
      expect(store.nextWakeAt(T0 + 60_000 + TOMBSTONE_TTL_MS, false)).toBeNull();
    },
  },

  {
    name: "retention: a retried task is not purged while it runs again",
    run: (sql) => {
      const { submit, dispatch, report, store, task } = setup(sql, {
        retentionSeconds: 60,
        retry: { maxAttempts: 1, initialBackoffMs: 0, maxBackoffMs: 0 },
      });
      const id = submit(T0);
      const [job] = dispatch(T0);
      if (!job) throw new Error("nothing dispatched");
      report(job, T0, { kind: "permanent", error: { kind: "http", status: 400, message: "no" } });
      expect(store.operate("acme", id, "retry", T0 + 1000).ok).toBe(true);
      expect(store.purgeExpired(T0 + 120_000)).toBe(0);
      expect(task(id)?.state).toBe("queued");
    },
  },

  {
    name: "deleting a function: cancels queued, paused and running tasks and asks for the running calls to be aborted",
    run: (sql) => {
      const { submit, dispatch, store, task, report } = setup(sql, { maxConcurrency: 2 });
      const running = [submit(T0), submit(T0)];
      const queued = submit(T0);
      const paused = submit(T0, { delaySeconds: 60 });
      const jobs = dispatch(T0);
      expect(jobs.map((j) => j.taskId).sort()).toEqual([...running].sort());
      expect(store.operate("acme", paused, "pause", T0).ok).toBe(true);
      const result = store.deleteFunction("acme", "work", T0 + 10);
      expect(result.cancelled).toBe(4);
      expect(result.aborts.map((a) => a.taskId).sort()).toEqual([...running].sort());
      for (const id of [...running, queued, paused]) {
        expect(task(id)).toMatchObject({ state: "cancelled", error: { kind: "function_deleted" } });
      }
      // The running call's log entry says how it ended; a late report of it changes nothing.
      expect(task(running[0] ?? "")?.attemptLog.at(-1)?.error).toMatchObject({ kind: "function_deleted" });
      const [first] = jobs;
      if (!first) throw new Error("no job");
      expect(
        report(first, T0 + 20, { kind: "transient", error: { kind: "http", status: 500, message: "late" } }).applied,
      ).toBe(false);
      expect(task(first.taskId)?.state).toBe("cancelled");
    },
  },

  {
    name: "deleting a function: a task made for an earlier function of the same name never runs on the new one, nor inherits its window",
    run: (sql) => {
      const { submit, dispatch, store, fn, task, report } = setup(sql);
      // The old function was throttled: its window was cut and stored.
      submit(T0 - 500);
      const [job] = dispatch(T0 - 500);
      if (!job) throw new Error("no job");
      report(job, T0 - 400, { kind: "throttled", status: 429 });
      const governors = () =>
        sql
          .exec<{ n: number }>(`SELECT COUNT(*) AS n FROM governors WHERE account = 'acme' AND function = 'work'`)
          .one().n;
      expect(governors()).toBe(1);
      store.deleteFunction("acme", "work", T0);
      expect(governors()).toBe(0);
      const reborn: FunctionRecord = { ...fn, version: 2, createdAt: T0 + 5, updatedAt: T0 + 5 };
      store.upsertFunction(reborn);
      // Still in the ingest queue with the old function's snapshot when the new one was created.
      const stale = submit(T0 + 10, {}, fn);
      const fresh = submit(T0 + 10, {}, reborn);
      expect(task(stale)).toMatchObject({ state: "cancelled", error: { kind: "function_deleted" } });
      expect(dispatch(T0 + 20).map((j) => j.taskId)).toEqual([fresh]);
      // The new function starts slow from scratch (AIMD_INITIAL_WINDOW), not from the old one's cut window.
      const initial = Math.min(TEST_SHARD_SETTINGS.aimdInitialWindow ?? 4, reborn.spec.maxConcurrency);
      expect(store.concurrencyLimit("acme", "work")).toBe(initial);
    },
  },

  {
    name: "delivery outbox: a send that failed is handed out again; with nothing waiting the outbox is not read, and every write that leaves one re-arms it",
    run: (sql) => {
      const { submit, dispatch, report, store } = setup(sql, {
        destinations: { onSuccess: { type: "webhook", url: "https://hooks.example.com/x" } },
      });
      const ok = (job: InvocationJob) =>
        report(job, T0, { kind: "succeeded", status: 200, body: { contentType: "text/plain", size: 0 } });
      const idA = submit(T0);
      const [a] = dispatch(T0).filter((j) => j.taskId === idA);
      if (!a) throw new Error("nothing dispatched");
      ok(a);
      const [first] = store.pendingHandoffs("s", 10, T0);
      if (!first) throw new Error("no hand-off");
      // The send failed: nothing marked, and the next look hands the same delivery out again.
      store.markHandedOff([], T0, 1);
      expect(store.pendingHandoffs("s", 10, T0 + 1)).toMatchObject([{ deliveryId: first.deliveryId }]);
      store.markHandedOff([first.deliveryId], T0 + 1);
      expect(store.pendingHandoffs("s", 10, T0 + 2)).toEqual([]);
      // A row left unsent behind the store's back is not seen: after a look found none, only a write re-arms it
      // (this is what spares a busy shard the outbox query after every call).
      sql.exec(`UPDATE deliveries SET handed_off = 0`);
      expect(store.pendingHandoffs("s", 10, T0 + 3)).toEqual([]);
      const idB = submit(T0 + 4);
      const [b] = dispatch(T0 + 4).filter((j) => j.taskId === idB);
      if (!b) throw new Error("nothing dispatched");
      ok(b);
      expect(store.pendingHandoffs("s", 10, T0 + 5).map((m) => m.taskId)).toHaveLength(2);
      // A look that filled its limit may have left more: the next look reads again.
      store.markHandedOff([], T0 + 5, 2);
      expect(store.pendingHandoffs("s", 1, T0 + 6)).toHaveLength(1);
      expect(store.pendingHandoffs("s", 1, T0 + 6)).toHaveLength(1);
    },
  },

  {
    name: "delivery outbox recovery: hands a delivery off again when no report came long after its next attempt was due, continuing its count",
    run: (sql) => {
      const { submit, handedOffDelivery, store } = setup(sql, {
        destinations: { onSuccess: { type: "webhook", url: "https://hooks.example.com/x" } },
      });
      const first = handedOffDelivery(submit(T0));
      expect(first.priorAttempts).toBeUndefined();
      expect(store.pendingHandoffs("s", 10, T0)).toHaveLength(0);
      // Defaults: attempt 1 is due at once, with a 10 s receiver timeout: silent for 25 s means lost. (The finished
      // task's timings are written first, else the shard would wake in a second to write them.)
      store.flushObservations(T0);
      expect(store.nextWakeAt(T0, false)).toBe(T0 + 25_000);
      expect(store.reviveSilentDeliveries(T0 + 24_999)).toBe(0);
      // One attempt reported (503, retry in 5 s): the deadline moves with it.
      store.applyDeliveryReport({
        taskId: first.taskId,
        deliveryId: first.deliveryId,
        state: "pending",
        attempts: 1,
        at: T0 + 1000,
      });
      expect(store.reviveSilentDeliveries(T0 + 26_000)).toBe(0);
      expect(store.reviveSilentDeliveries(T0 + 1000 + 5_500 + 25_000)).toBe(1);
      const [again] = store.pendingHandoffs("s", 10, T0 + 40_000);
      expect(again).toMatchObject({ deliveryId: first.deliveryId, priorAttempts: 1 });
      // A delivered one is never sent again.
      store.markHandedOff([first.deliveryId], T0 + 40_000);
      store.applyDeliveryReport({
        taskId: first.taskId,
        deliveryId: first.deliveryId,
        state: "delivered",
        attempts: 2,
        at: T0 + 41_000,
      });
      expect(store.reviveSilentDeliveries(T0 + 10_000_000)).toBe(0);
    },
  },

  {
    name: "delivery outbox recovery: a delivery its lane holds (a promise to report by a time) is not silent before then, and keeps its last error",
    run: (sql) => {
      const { submit, handedOffDelivery, store } = setup(sql, {
        destinations: { onSuccess: { type: "webhook", url: "https://hooks.example.com/x" } },
      });
      const id = submit(T0);
      const first = handedOffDelivery(id);
      const base = { taskId: first.taskId, deliveryId: first.deliveryId, state: "pending" as const };
      store.applyDeliveryReport({ ...base, attempts: 1, error: "receiver answered 500", at: T0 + 1000 });
      // The lane holds it behind a hung receiver and promises a report within 5 minutes; then renews the promise.
      store.applyDeliveryReport({ ...base, attempts: 1, at: T0 + 2000, reportBy: T0 + 300_000 });
      expect(store.reviveSilentDeliveries(T0 + 299_000)).toBe(0);
      store.applyDeliveryReport({ ...base, attempts: 1, at: T0 + 150_000, reportBy: T0 + 450_000 });
      expect(store.reviveSilentDeliveries(T0 + 449_000)).toBe(0);
      expect(store.getTask("acme", id).task?.delivery).toMatchObject({
        state: "pending",
        attempts: 1,
        lastError: "receiver answered 500",
      });
      // Past the promise (and the grace of two receiver timeouts plus 5 s) it counts as lost and is handed off again.
      store.flushObservations(T0 + 449_000);
      expect(store.nextWakeAt(T0 + 449_000, false)).toBe(T0 + 450_000 + 25_000);
      expect(store.reviveSilentDeliveries(T0 + 475_000)).toBe(1);
      expect(store.pendingHandoffs("s", 10, T0 + 475_000)).toMatchObject([{ priorAttempts: 1 }]);
      // A final report arriving after the revival settles it: it is not handed off again.
      store.applyDeliveryReport({ ...base, state: "delivered", attempts: 2, at: T0 + 476_000 });
      expect(store.pendingHandoffs("s", 10, T0 + 477_000)).toEqual([]);
    },
  },
  {
    name: "idempotency after a move: a key new here that the current record routes elsewhere is refused (moved), not stored; a key held here still names its task; other callers' tasks are kept",
    run: (sql) => {
      const { store, fn, task } = setup(sql);
      const keyed = (snapshot: FunctionRecord, id: string, key: string, at: number) =>
        testTask(snapshot, id, at, { idempotencyKey: key });
      expect(store.accept([keyed(fn, "t-k1", "k1", T0)], T0, "s")).toEqual([{ id: "t-k1", deduplicated: false }]);
      // The function moves to shard "d" (the record a placement move pushes to the shards it leaves).
      const moved: FunctionRecord = { ...fn, shard: "d", version: 2, previousShards: ["s"] };
      store.upsertFunction(moved);
      // A gateway still holding the old record sends a new key and a used one here.
      expect(store.accept([keyed(fn, "t-k2", "k2", T0 + 10), keyed(fn, "t-k1b", "k1", T0 + 10)], T0 + 10, "s")).toEqual(
        [
          { id: "t-k2", moved: true },
          { id: "t-k1", deduplicated: true },
        ],
      );
      expect(task("t-k2")).toBeNull();
      // The ingest consumer and other callers do not ask (`self` unset): their task is kept where it came.
      expect(store.accept([keyed(fn, "t-k3", "k3", T0 + 20)], T0 + 20)).toEqual([{ id: "t-k3", deduplicated: false }]);
      // Partitions: a key belongs to the one partition its hash picks; the others refuse it.
      const placement = { tier: "dedicated" as const, partitions: 2, since: T0, reason: "backlog", moves: 1, log: [] };
      const split: FunctionRecord = { ...moved, version: 3, placement };
      store.upsertFunction(split);
      const key = ["a", "b", "c", "d", "e"].find((k) => routeTask(split, k) === "d#1") as string;
      expect(store.accept([keyed(split, "t-p0", key, T0 + 30)], T0 + 30, "d")).toEqual([{ id: "t-p0", moved: true }]);
      expect(store.accept([keyed(split, "t-p1", key, T0 + 30)], T0 + 30, "d#1")).toEqual([
        { id: "t-p1", deduplicated: false },
      ]);
    },
  },
];
