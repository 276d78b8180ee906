/**
 * Runner-neutral cases for tenant isolation inside one shard (run in Node over node:sqlite and inside workerd, like
 * shard-store.cases.ts): the fair share of call slots across accounts, fairness-key lanes, `maxConcurrencyPerKey`,
 * delayed tasks joining their lane when due, account `maxConcurrency` grants, and the FIFO contrast that shows each
 * test can tell fair from unfair. Every case ends by counting every task's terminal state: nothing lost.
 */
import { expect } from "vitest";
import type { FunctionRecord, IngestMessage, InvocationJob } from "../../src/records";
import { type ShardSettings, ShardStore } from "../../src/shard";
import { SWEEP_MS } from "../../src/shard/attention";
import type { Sql } from "../../src/sql";
import { testFunction, testTask } from "../support/records";
import { TEST_SHARD_SETTINGS } from "../support/shard-settings";
import type { StoreCase } from "./shard-store.cases";

const T0 = Date.parse("2026-06-01T00:00:00Z");

function setup(sql: Sql, settings: Partial<ShardSettings> = {}) {
  const store = new ShardStore(sql, { ...TEST_SHARD_SETTINGS, ...settings });
  const functions = new Map<string, FunctionRecord>();
  const define = (account: string, name: string, spec: Record<string, unknown> = {}) => {
    const fn = testFunction(account, name, "s", spec, T0 - 1000);
    store.upsertFunction(fn);
    functions.set(`${account}/${name}`, fn);
  };
  let n = 0;
  const submit = (
    at: number,
    account: string,
    name: string,
    extra: Partial<IngestMessage["task"]> = {},
    message: Partial<IngestMessage> = {},
  ): string => {
    const fn = functions.get(`${account}/${name}`);
    if (!fn) throw new Error(`define ${account}/${name} first`);
    const id = `${account}-${name}-${++n}`;
    store.accept([testTask(fn, id, at, extra, message)], at);
    return id;
  };
  const dispatch = (at: number): InvocationJob[] => [...store.planDispatch("s", at).byInvoker.values()].flat();
  const succeed = (job: InvocationJob, at: number) =>
    store.applyOutcome(
      {
        taskId: job.taskId,
        invocation: job.invocation,
        startedAt: at,
        durationMs: 5,
        outcome: { kind: "succeeded", status: 200, body: { contentType: "text/plain", size: 0 } },
      },
      at,
      () => 0.5,
    );
  /** Run everything that is left to the end; returns the jobs in dispatch order. */
  const drain = (at: number): InvocationJob[] => {
    const all: InvocationJob[] = [];
    for (let jobs = dispatch(at); jobs.length > 0; jobs = dispatch(at)) {
      for (const job of jobs) succeed(job, at);
      all.push(...jobs);
    }
    return all;
  };
  const fairnessKeyOf = (job: InvocationJob) => store.getTask(job.account, job.taskId).task?.fairnessKey;
  return { store, define, submit, dispatch, succeed, drain, fairnessKeyOf };
}

/** Slots of TEST_SHARD_SETTINGS: 4 invokers x 6 calls. */
const SLOTS = TEST_SHARD_SETTINGS.invokers * TEST_SHARD_SETTINGS.callsPerInvoker;

function floodThenQuiet(sql: Sql, settings: Partial<ShardSettings>) {
  const t = setup(sql, settings);
  t.define("flood", "slow", { maxConcurrency: 1000 });
  t.define("quiet", "fast");
  for (let i = 0; i < 300; i++) t.submit(T0, "flood", "slow");
  const quiet = t.submit(T0 + 1, "quiet", "fast");
  const first = t.dispatch(T0 + 2);
  return { t, quiet, first };
}

function bigKeyThenSmallKeys(sql: Sql, settings: Partial<ShardSettings>) {
  const t = setup(sql, settings);
  t.define("acme", "work", { maxConcurrency: 4 });
  for (let i = 0; i < 600; i++) t.submit(T0, "acme", "work", { fairnessKey: "big" });
  const small = new Set<string>();
  for (const key of ["c1", "c2", "c3"]) {
    for (let i = 0; i < 2; i++) small.add(t.submit(T0 + 1, "acme", "work", { fairnessKey: key }));
  }
  // Window 4: each pass runs four calls, which all succeed before the next pass.
  const order: InvocationJob[] = [];
  for (let jobs = t.dispatch(T0 + 2); jobs.length > 0; jobs = t.dispatch(T0 + 2)) {
    for (const job of jobs) t.succeed(job, T0 + 2);
    order.push(...jobs);
  }
  return { t, small, order };
}

export const isolationCases: readonly StoreCase[] = [
  {
    name: "fair share: on a full shard, a quiet account's task goes in the first pass, next to another's flood",
    run: (sql) => {
      const { t, quiet, first } = floodThenQuiet(sql, {});
      expect(first.length).toBe(SLOTS);
      expect(first.map((j) => j.taskId)).toContain(quiet);
      // No more than the slots: a job never waits in an invoker behind another tenant's.
      expect(t.dispatch(T0 + 3)).toEqual([]);
      for (const job of first) t.succeed(job, T0 + 3);
      t.drain(T0 + 4);
      expect(t.store.countByState("flood")).toEqual({ succeeded: 300 });
      expect(t.store.countByState("quiet")).toEqual({ succeeded: 1 });
    },
  },
  {
    name: "fair share contrast: with DISPATCH_ORDER=fifo the same quiet task waits behind the flood",
    run: (sql) => {
      const { t, quiet, first } = floodThenQuiet(sql, { dispatchOrder: "fifo" });
      expect(first.length).toBe(SLOTS);
      expect(first.map((j) => j.taskId)).not.toContain(quiet);
      for (const job of first) t.succeed(job, T0 + 3);
      const rest = [...first, ...t.drain(T0 + 4)];
      expect(rest.findIndex((j) => j.taskId === quiet)).toBeGreaterThanOrEqual(300);
      expect(t.store.countByState("quiet")).toEqual({ succeeded: 1 });
    },
  },
  {
    name: "fair share: ten functions of one account weigh as much as one function of another",
    run: (sql) => {
      const t = setup(sql);
      for (let f = 0; f < 10; f++) {
        t.define("many", `f${f}`, { maxConcurrency: 1000 });
        for (let i = 0; i < 20; i++) t.submit(T0, "many", `f${f}`);
      }
      t.define("one", "g", { maxConcurrency: 1000 });
      for (let i = 0; i < 200; i++) t.submit(T0, "one", "g");
      const first = t.dispatch(T0 + 1);
      expect(first.length).toBe(SLOTS);
      expect(first.filter((j) => j.account === "one").length).toBe(SLOTS / 2);
      for (const job of first) t.succeed(job, T0 + 1);
      t.drain(T0 + 2);
      expect(t.store.countByState("many")).toEqual({ succeeded: 200 });
      expect(t.store.countByState("one")).toEqual({ succeeded: 200 });
    },
  },
  {
    name: "fairness keys: small customers behind a 600-task backlog run within their first two rounds",
    run: (sql) => {
      const { t, small, order } = bigKeyThenSmallKeys(sql, {});
      const positions = order.flatMap((j, i) => (small.has(j.taskId) ? [i] : []));
      expect(positions.length).toBe(6);
      // Four keys with work: two rounds of one call each hold the six small tasks, within the first 3 passes.
      expect(Math.max(...positions)).toBeLessThan(12);
      expect(t.store.countByState("acme", "work")).toEqual({ succeeded: 606 });
    },
  },
  {
    name: "fairness keys contrast: in arrival order the small customers wait for all 600",
    run: (sql) => {
      const { t, small, order } = bigKeyThenSmallKeys(sql, { dispatchOrder: "fifo" });
      const positions = order.flatMap((j, i) => (small.has(j.taskId) ? [i] : []));
      expect(Math.min(...positions)).toBeGreaterThanOrEqual(600);
      expect(t.store.countByState("acme", "work")).toEqual({ succeeded: 606 });
    },
  },
  {
    name: "fairness keys: maxConcurrencyPerKey caps one key's calls in flight, the others use the rest",
    run: (sql) => {
      const t = setup(sql);
      t.define("acme", "work", { maxConcurrency: 10, fairness: { maxConcurrencyPerKey: 2 } });
      for (let i = 0; i < 50; i++) t.submit(T0, "acme", "work", { fairnessKey: "a" });
      for (let i = 0; i < 50; i++) t.submit(T0, "acme", "work", { fairnessKey: "b" });
      for (let i = 0; i < 3; i++) t.submit(T0, "acme", "work");
      const first = t.dispatch(T0 + 1);
      const byKey = (jobs: InvocationJob[], key: string | undefined) =>
        jobs.filter((j) => t.fairnessKeyOf(j) === key).length;
      expect(byKey(first, "a")).toBe(2);
      expect(byKey(first, "b")).toBe(2);
      expect(byKey(first, undefined)).toBe(2);
      expect(t.dispatch(T0 + 1)).toEqual([]);
      const a = first.find((j) => t.fairnessKeyOf(j) === "a");
      if (a) t.succeed(a, T0 + 2);
      const next = t.dispatch(T0 + 2);
      expect(next.length).toBe(1);
      expect(t.fairnessKeyOf(next[0] as InvocationJob)).toBe("a");
      for (const job of [...first, ...next]) if (job !== a) t.succeed(job, T0 + 3);
      t.drain(T0 + 4);
      expect(t.store.countByState("acme", "work")).toEqual({ succeeded: 103 });
    },
  },
  {
    name: "fairness keys: delayed tasks wait outside the ready set and join their lane when due",
    run: (sql) => {
      const t = setup(sql);
      t.define("acme", "work", { maxConcurrency: 100 });
      for (let i = 0; i < 100; i++) t.submit(T0, "acme", "work", { fairnessKey: "later", delaySeconds: 60 });
      const now = t.submit(T0, "acme", "work", { fairnessKey: "now" });
      const first = t.dispatch(T0 + 1);
      expect(first.map((j) => j.taskId)).toEqual([now]);
      t.succeed(first[0] as InvocationJob, T0 + 1);
      expect(t.dispatch(T0 + 59_000)).toEqual([]);
      expect(t.drain(T0 + 60_000).length).toBe(100);
      expect(t.store.countByState("acme", "work")).toEqual({ succeeded: 101 });
    },
  },
  {
    name: "fairness keys: a retried task goes to the back of its lane, behind the other keys' turns",
    run: (sql) => {
      const t = setup(sql);
      t.define("acme", "work", { maxConcurrency: 1, retry: { maxAttempts: 3, initialBackoffMs: 0, maxBackoffMs: 0 } });
      const a1 = t.submit(T0, "acme", "work", { fairnessKey: "a" });
      const b1 = t.submit(T0, "acme", "work", { fairnessKey: "b" });
      const [first] = t.dispatch(T0 + 1);
      expect(first?.taskId).toBe(a1);
      t.store.applyOutcome(
        {
          taskId: a1,
          invocation: first?.invocation ?? 1,
          startedAt: T0 + 1,
          durationMs: 5,
          outcome: { kind: "transient", error: { kind: "http", message: "500", status: 500 } },
        },
        T0 + 2,
        () => 0,
      );
      const order = t.drain(T0 + 1_000).map((j) => j.taskId);
      expect(order).toEqual([b1, a1]);
      expect(t.store.countByState("acme", "work")).toEqual({ succeeded: 2 });
    },
  },
  {
    name: "account maxConcurrency: no calls before the limiter's grant, then at most the grant over all functions",
    run: (sql) => {
      const t = setup(sql);
      t.define("capped", "f", { maxConcurrency: 100 });
      t.define("capped", "g", { maxConcurrency: 100 });
      t.define("free", "h", { maxConcurrency: 100 });
      for (let i = 0; i < 10; i++) {
        t.submit(T0, "capped", "f", {}, { accountLimits: { maxConcurrency: 3, version: 1 } });
        t.submit(T0, "capped", "g", {}, { accountLimits: { maxConcurrency: 3, version: 1 } });
      }
      for (let i = 0; i < 4; i++)
        t.submit(T0, "free", "h", {}, { accountLimits: { maxConcurrency: null, version: 1 } });
      expect(t.store.grantRequests(T0 + 1)).toEqual([{ account: "capped", limit: 3, want: 3 }]);
      // Without a grant the capped account runs nothing; the other account is not held up by it.
      const before = t.dispatch(T0 + 1);
      expect(before.map((j) => j.account)).toEqual(["free", "free", "free", "free"]);
      t.store.recordGrant("capped", 3, T0 + 1);
      const first = t.dispatch(T0 + 2);
      expect(first.length).toBe(3);
      expect(new Set(first.map((j) => j.functionName))).toEqual(new Set(["f", "g"]));
      expect(t.dispatch(T0 + 2)).toEqual([]);
      // Holding its whole grant with work left: nothing to ask until the grant runs out.
      expect(t.store.grantRequests(T0 + 3)).toEqual([]);
      t.succeed(first[0] as InvocationJob, T0 + 3);
      expect(t.dispatch(T0 + 3).length).toBe(1);
      // A grant not renewed lapses: no more calls on it.
      expect(t.store.grantRequests(T0 + 20_000)).toEqual([{ account: "capped", limit: 3, want: 3 }]);
      for (const job of [...before, ...first.slice(1)]) t.succeed(job, T0 + 4);
      expect(t.dispatch(T0 + 31_000).filter((j) => j.account === "capped")).toEqual([]);
      // The limit lifted (PATCH): everything left runs.
      // An older version (a stale cache) changes nothing; a newer one does.
      expect(t.store.setAccountLimits("capped", { maxConcurrency: null, version: 0 })).toBe(false);
      expect(t.store.setAccountLimits("capped", { maxConcurrency: null, version: 2 })).toBe(true);
      t.submit(T0 + 31_500, "capped", "f", {}, { accountLimits: { maxConcurrency: 3, version: 1 } });
      t.drain(T0 + 32_000);
      expect(t.store.countByState("capped")).toEqual({ running: 1, succeeded: 20 });
      expect(t.store.countByState("free")).toEqual({ succeeded: 4 });
    },
  },
  {
    name: "account maxConcurrency: an idle account gives its grant back",
    run: (sql) => {
      const t = setup(sql);
      t.define("capped", "f");
      t.submit(T0, "capped", "f", {}, { accountLimits: { maxConcurrency: 5, version: 1 } });
      t.store.recordGrant("capped", 1, T0);
      const [job] = t.dispatch(T0 + 1);
      t.succeed(job as InvocationJob, T0 + 2);
      expect(t.store.grantRequests(T0 + 3)).toEqual([{ account: "capped", limit: 5, want: 0 }]);
    },
  },
];

export const laneStorageCases: readonly StoreCase[] = [
  {
    name: "fairness keys: lanes of keys whose work is done are deleted by the next sweep (storage follows live keys)",
    run: (sql) => {
      const t = setup(sql);
      t.define("acme", "work", { maxConcurrency: 50 });
      for (let i = 0; i < 300; i++) t.submit(T0, "acme", "work", { fairnessKey: `customer-${i}` });
      const lanes = () => sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM lanes`).one().n;
      expect(lanes()).toBe(300);
      t.drain(T0 + 1);
      expect(t.store.countByState("acme", "work")).toEqual({ succeeded: 300 });
      // The first pass after a start was a sweep; the next one comes SWEEP_MS later and deletes the stale lanes.
      t.dispatch(T0 + SWEEP_MS + 10);
      expect(lanes()).toBe(0);
      expect(t.store.activeLanes("acme", "work")).toBe(0);
    },
  },
];

export const reportAnswerCases: readonly StoreCase[] = [
  {
    name: "report answer: a pass for one invoker fills only its free slots, never more than 6 on it",
    run: (sql) => {
      const t = setup(sql);
      t.define("acme", "work", { maxConcurrency: 100 });
      for (let i = 0; i < 40; i++) t.submit(T0, "acme", "work");
      const first = t.store.planDispatch("s", T0 + 1).byInvoker;
      expect([...first.values()].flat().length).toBe(SLOTS);
      const [invoker, mine] = [...first.entries()][0] as [number, InvocationJob[]];
      expect(mine.length).toBe(TEST_SHARD_SETTINGS.callsPerInvoker);
      // The invoker finishes two calls and has room for 5 by its own count: the shard gives it only the 2 it freed.
      for (const job of mine.slice(0, 2)) t.succeed(job, T0 + 2);
      const answer = t.store.planDispatch("s", T0 + 2, { invoker, free: 5 });
      expect([...answer.byInvoker.keys()]).toEqual([invoker]);
      expect(answer.dispatched).toBe(2);
      // Fewer free slots than freed: fewer jobs. An index outside the pool: none.
      for (const job of answer.byInvoker.get(invoker) ?? []) t.succeed(job, T0 + 3);
      expect(t.store.planDispatch("s", T0 + 3, { invoker, free: 1 }).dispatched).toBe(1);
      expect(t.store.planDispatch("s", T0 + 3, { invoker: 999, free: 6 }).dispatched).toBe(0);
      for (const job of [...first.values()].flat().slice(2)) t.succeed(job, T0 + 4);
      t.drain(T0 + 5);
      // The one job handed out last above is still running; everything else ended.
      expect(t.store.countByState("acme", "work")).toEqual({ running: 1, succeeded: 39 });
    },
  },
  {
    name: "report answer: once the backlog is gone, a pass runs no statement (not even the count of calls in flight)",
    run: (sql) => {
      let statements = 0;
      const counted: Sql = {
        exec: (query, ...bindings) => {
          statements++;
          return sql.exec(query, ...bindings);
        },
      };
      const t = setup(counted);
      t.define("acme", "work", { maxConcurrency: 100 });
      for (let i = 0; i < 12; i++) t.submit(T0, "acme", "work");
      const jobs = [...t.store.planDispatch("s", T0 + 1).byInvoker.values()].flat();
      expect(jobs).toHaveLength(12);
      // One call ends; the answer to its report finds nothing due, and reads nothing to find it.
      t.succeed(jobs[0] as InvocationJob, T0 + 2);
      statements = 0;
      expect(t.store.planDispatch("s", T0 + 2, { invoker: 0, free: 1 }).dispatched).toBe(0);
      expect(statements).toBe(0);
    },
  },
  {
    name: "report answer: a function at its full window costs a pass no read of its queue (its attention is kept)",
    run: (sql) => {
      const bound: unknown[][] = [];
      const counted: Sql = {
        exec: (query, ...bindings) => {
          bound.push(bindings);
          return sql.exec(query, ...bindings);
        },
      };
      const t = setup(counted);
      t.define("acme", "full", { maxConcurrency: 2 });
      t.define("acme", "other", { maxConcurrency: 10 });
      for (let i = 0; i < 10; i++) t.submit(T0, "acme", "full");
      for (let i = 0; i < 4; i++) t.submit(T0, "acme", "other");
      const byInvoker = t.store.planDispatch("s", T0 + 1).byInvoker;
      const jobs = [...byInvoker.values()].flat();
      expect(jobs.filter((j) => j.functionName === "full")).toHaveLength(2);
      const other = jobs.filter((j) => j.functionName === "other");
      expect(other).toHaveLength(4);
      const ended = other[0] as InvocationJob;
      const invoker = [...byInvoker].find(([, list]) => list.includes(ended))?.[0] ?? -1;
      for (let i = 0; i < 4; i++) t.submit(T0 + 2, "acme", "other");
      // A call of "other" ends; the answer's pass starts the next one and does not look at "full"'s queue.
      t.succeed(ended, T0 + 3);
      bound.length = 0;
      const answer = [...t.store.planDispatch("s", T0 + 3, { invoker, free: 1 }).byInvoker.values()].flat();
      expect(answer.map((j) => j.functionName)).toEqual(["other"]);
      expect(bound.filter((b) => b.includes("full"))).toEqual([]);
      // Nothing is lost by it: everything still runs to the end.
      for (const job of [...jobs.filter((j) => j !== ended), ...answer]) t.succeed(job, T0 + 4);
      t.drain(T0 + 5);
      expect(t.store.countByState("acme", "full")).toEqual({ succeeded: 10 });
      expect(t.store.countByState("acme", "other")).toEqual({ succeeded: 8 });
    },
  },
];
