/**
 * Runner-neutral cases of flow control inside one shard (run in Node over node:sqlite and inside workerd): slow start
 * from the initial window, the cut that ends it, a backend's Retry-After pausing the whole function (and surviving
 * a restart), the restart after idle, and a trickle that does not inflate the window. Each case ends with every task
 * accounted for.
 */
import { expect } from "vitest";
import type { InvocationOutcome } from "../../src/outcome";
import type { FunctionRecord, InvocationJob } from "../../src/records";
import { type ShardSettings, ShardStore } from "../../src/shard";
import type { Sql } from "../../src/sql";
import { testFunction, testTask } from "../support/records";
import { TEST_SHARD_SETTINGS } from "../support/shard-settings";
import type { StoreCase } from "./shard-store.cases";

const T0 = Date.parse("2026-07-01T00:00:00Z");
const OK: InvocationOutcome = { kind: "succeeded", status: 200, body: { contentType: "text/plain", size: 0 } };

function setup(sql: Sql, spec: Record<string, unknown> = {}, settings: Partial<ShardSettings> = {}) {
  const options = { ...TEST_SHARD_SETTINGS, aimdInitialWindow: 4, aimdIdleRestartMs: 60_000, ...settings };
  let store = new ShardStore(sql, options);
  const fn: FunctionRecord = testFunction("acme", "flow", "s", { maxConcurrency: 50, ...spec }, T0 - 1000);
  store.upsertFunction(fn);
  let n = 0;
  const submit = (at: number, count = 1) => {
    for (let i = 0; i < count; i++) store.accept([testTask(fn, `flow-${++n}`, at)], at);
  };
  const dispatch = (at: number): InvocationJob[] => [...store.planDispatch("s", at).byInvoker.values()].flat();
  const report = (job: InvocationJob, at: number, outcome: InvocationOutcome = OK, startedAt = at) =>
    store.applyOutcome(
      { taskId: job.taskId, invocation: job.invocation, startedAt, durationMs: 5, outcome },
      at,
      () => 0.5,
    );
  const limit = () => store.concurrencyLimit("acme", "flow");
  /** A restart: a new store over the same storage (what an evicted Durable Object rebuilds). */
  const restart = () => {
    store = new ShardStore(sql, options);
  };
  const drain = (at: number) => {
    for (let jobs = dispatch(at); jobs.length > 0; jobs = dispatch(at)) for (const job of jobs) report(job, at);
  };
  const counts = () => store.countByState("acme", "flow");
  return {
    submit,
    dispatch,
    report,
    limit,
    restart,
    drain,
    counts,
    get store() {
      return store;
    },
  };
}

export const flowControlCases: readonly StoreCase[] = [
  {
    name: "flow control: a new function starts slow (4 calls), doubles per round trip, and cuts once at the first 429 to the window the call was sent under × β",
    run: (sql) => {
      const t = setup(sql, {}, { invokers: 10 });
      t.submit(T0, 100);
      expect(t.limit()).toBe(4);
      let at = T0 + 10;
      const rounds: number[] = [];
      for (let rtt = 0; rtt < 3; rtt++) {
        const jobs = t.dispatch(at);
        rounds.push(jobs.length);
        at += 200;
        for (const job of jobs) t.report(job, at);
      }
      expect(rounds).toEqual([4, 8, 16]);
      expect(t.limit()).toBe(32);
      // 32 go out in the millisecond of the 16 successes that doubled the window, and the backend answers 429 to one:
      // those successes count as after its send (they may have been), so it was sent under 16; × β (0.7 here) = 11.2.
      // A second 429 of a call sent before that cut says nothing new.
      const jobs = t.dispatch(at);
      expect(jobs.length).toBe(32);
      const [first, second, ...rest] = jobs as [InvocationJob, InvocationJob, ...InvocationJob[]];
      t.report(first, at + 5, { kind: "throttled", status: 429 }, at);
      expect(t.limit()).toBe(11);
      t.report(second, at + 6, { kind: "throttled", status: 429 }, at);
      expect(t.limit()).toBe(11);
      for (const job of rest) t.report(job, at + 200);
      t.drain(at + 10_000);
      expect(t.counts()).toEqual({ succeeded: 100 });
    },
  },
  {
    name: "flow control: Retry-After pauses every call of the function until then, also across a restart",
    run: (sql) => {
      const t = setup(sql, {}, { aimdInitialWindow: 10 });
      t.submit(T0, 5);
      const [throttled, ...others] = t.dispatch(T0 + 1);
      expect(others.length).toBe(4);
      for (const job of others) t.report(job, T0 + 2);
      t.submit(T0 + 2, 5);
      t.report(throttled as InvocationJob, T0 + 3, { kind: "throttled", status: 503, retryAfterMs: 2_000 }, T0 + 1);
      // Nothing of the function starts during the pause, though its window has room and 6 tasks are queued.
      expect(t.dispatch(T0 + 500)).toEqual([]);
      t.restart();
      expect(t.dispatch(T0 + 1_500)).toEqual([]);
      // The shard wakes itself when the pause ends (no call is running whose report would wake it).
      const wake = t.store.nextWakeAt(T0 + 1_500, false);
      expect(wake).not.toBeNull();
      expect(wake as number).toBeLessThanOrEqual(T0 + 2_003);
      // All six: the window left slow start at the 10 the throttled call was sent under, × β (0.7) = 7.
      const resumed = t.dispatch(T0 + 2_003);
      expect(resumed.length).toBe(6);
      for (const job of resumed) t.report(job, T0 + 2_100);
      t.drain(T0 + 10_000);
      expect(t.counts()).toEqual({ succeeded: 10 });
    },
  },
  {
    name: "flow control: a trickle does not inflate the window, and an idle function starts slow again",
    run: (sql) => {
      const t = setup(sql, {}, { invokers: 10 });
      let at = T0;
      // One task at a time, 200 of them: the window stays where the trickle found it.
      for (let i = 0; i < 200; i++) {
        t.submit(at);
        const [job] = t.dispatch(at + 1);
        t.report(job as InvocationJob, at + 50);
        at += 100;
      }
      expect(t.limit()).toBe(4);
      // A backlog grows it (slow start) ...
      t.submit(at, 60);
      for (let rtt = 0; rtt < 3; rtt++) {
        const jobs = t.dispatch(at);
        at += 200;
        for (const job of jobs) t.report(job, at);
      }
      expect(t.limit()).toBe(32);
      t.drain(at);
      // ... and after a minute without calls the next burst opens with 4 calls again, not 32.
      at += 61_000;
      t.submit(at, 20);
      const burst = t.dispatch(at + 1);
      expect(burst.length).toBe(4);
      for (const job of burst) t.report(job, at + 200);
      t.drain(at + 1_000);
      expect(t.counts()).toEqual({ succeeded: 280 });
    },
  },
  {
    name: "report answer: a pass that used all of the invoker's free slots says work may be left (the shard then runs a pass for the pool)",
    run: (sql) => {
      const t = setup(sql, {}, { aimdInitialWindow: 50 });
      t.submit(T0, 10);
      const first = t.store.planDispatch("s", T0 + 1, { invoker: 0, free: 2 });
      expect(first.dispatched).toBe(2);
      expect(first.exhausted).toBe(true);
      const rest = t.dispatch(T0 + 2);
      expect(rest.length).toBe(8);
      // Nothing ready: a pass for one invoker with free slots starts nothing and says so.
      const none = t.store.planDispatch("s", T0 + 3, { invoker: 1, free: 6 });
      expect(none.dispatched).toBe(0);
      expect(none.exhausted).toBe(false);
      for (const job of [...first.byInvoker.values()].flat()) t.report(job, T0 + 10);
      for (const job of rest) t.report(job, T0 + 10);
      expect(t.counts()).toEqual({ succeeded: 10 });
    },
  },
  {
    name: "report answer: a pass that fills the function's window says nothing is left for the pool, though tasks wait",
    run: (sql) => {
      // maxConcurrency 4 = the initial window: a busy function whose every report frees one slot.
      const t = setup(sql, { maxConcurrency: 4 });
      t.submit(T0, 10);
      const first = t.dispatch(T0 + 1);
      expect(first.length).toBe(4);
      t.report(first[0] as InvocationJob, T0 + 10);
      const answer = t.store.planDispatch("s", T0 + 11, { invoker: 0, free: 1 });
      expect(answer.dispatched).toBe(1);
      // The window is full again: a pass for the other invokers would start nothing, so the shard runs none.
      expect(answer.exhausted).toBe(false);
      expect(t.dispatch(T0 + 12)).toEqual([]);
      for (const job of [...first.slice(1), ...[...answer.byInvoker.values()].flat()]) t.report(job, T0 + 20);
      t.drain(T0 + 30);
      expect(t.counts()).toEqual({ succeeded: 10 });
    },
  },
  {
    name: "transition log: one event per transition with ids, states, durations and the trace id, never payloads or tokens",
    run: (sql) => {
      const t = setup(sql);
      t.store.drainEvents();
      t.submit(T0, 1);
      const [job] = t.dispatch(T0 + 100);
      t.report(job as InvocationJob, T0 + 300);
      const { events, dropped } = t.store.drainEvents();
      expect(dropped).toBe(0);
      expect(events.map((e) => `${e.from}->${e.to}:${e.cause}`)).toEqual([
        "accepted->queued:enqueue",
        "queued->running:dispatch",
        "running->succeeded:succeed",
      ]);
      expect(events[1]).toMatchObject({
        task: "flow-1",
        account: "acme",
        function: "flow",
        attempt: 1,
        queueWaitMs: 100,
      });
      expect(events[2]).toMatchObject({ endToEndMs: 300, executionMs: 5 });
      for (const e of events) expect(e.traceId).toMatch(/^[0-9a-f]{32}$/);
      const text = JSON.stringify(events);
      expect(text).not.toContain((job as InvocationJob).callbackToken);
      expect(text).not.toContain("payload");
      expect(t.store.drainEvents().events).toEqual([]);
    },
  },
  {
    name: "stats write-behind: a finish's timings wait in memory at most a second, the shard wakes to write them, a read sees them",
    run: (sql) => {
      const t = setup(sql);
      t.submit(T0, 1);
      const [job] = t.dispatch(T0 + 10);
      t.report(job as InvocationJob, T0 + 50);
      const rows = () => sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM latency_minutes`).one().n;
      expect(rows()).toBe(0);
      expect(t.store.nextWakeAt(T0 + 60, false)).toBe(T0 + 1_050);
      // A read writes them first: stats never miss a finish.
      const stats = t.store.stats("acme", [{ name: "flow", current: true }], T0 + 70);
      expect(stats.finished).toBe(1);
      expect(rows()).toBe(1);
      // Nothing left to write: the second's wake-up is gone.
      expect(t.store.nextWakeAt(T0 + 80, false)).not.toBe(T0 + 1_050);
    },
  },
  {
    name: "fairness keys: delayed tasks of a capped key do not hold back a due task of another key (one pass starts both)",
    run: (sql) => {
      const t = setup(sql, { maxConcurrency: 2, fairness: { maxConcurrencyPerKey: 1 } }, { aimdInitialWindow: 10 });
      const fn = testFunction(
        "acme",
        "flow",
        "s",
        { maxConcurrency: 2, fairness: { maxConcurrencyPerKey: 1 } },
        T0 - 1000,
      );
      t.store.accept([testTask(fn, "k1-a", T0, { fairnessKey: "k1", delaySeconds: 1 })], T0);
      t.store.accept([testTask(fn, "k1-b", T0, { fairnessKey: "k1", delaySeconds: 1 })], T0);
      t.store.accept([testTask(fn, "plain", T0, { delaySeconds: 1 })], T0);
      const jobs = t.dispatch(T0 + 1_050);
      expect(jobs.map((j) => j.taskId).sort()).toEqual(["k1-a", "plain"]);
      expect(t.dispatch(T0 + 1_050)).toEqual([]);
      for (const job of jobs) t.report(job, T0 + 1_100);
      t.drain(T0 + 1_200);
      expect(t.counts()).toEqual({ succeeded: 3 });
    },
  },
];
