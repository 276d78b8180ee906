import { env, runInDurableObject } from "cloudflare:test";
import { expect, it } from "vitest";
import type { FunctionRecord } from "../../src/records";
import { ShardStore } from "../../src/shard";
import type { Sql, SqlCursor, SqlValue } from "../../src/sql";
import { testFunction, testTask } from "../support/records";
import { TEST_SHARD_SETTINGS } from "../support/shard-settings";

/** Wraps the Durable Object's SQLite to add up the rows each statement read. */
function countingSql(sql: Sql): { sql: Sql; rowsRead: () => number; reset: () => void } {
  let cursors: { rowsRead: number }[] = [];
  return {
    sql: {
      exec<T extends Record<string, SqlValue>>(query: string, ...bindings: unknown[]): SqlCursor<T> {
        const cursor = sql.exec<T>(query, ...bindings);
        cursors.push(cursor as unknown as { rowsRead: number });
        return cursor;
      },
    },
    rowsRead: () => cursors.reduce((n, c) => n + c.rowsRead, 0),
    reset: () => {
      cursors = [];
    },
  };
}

it("lists one page out of 20,000 tasks by reading about one page of rows, not the table", async () => {
  const stub = env.SHARD.getByName("listing-cost");
  await runInDurableObject(stub, (_instance, state) => {
    const counter = countingSql(state.storage.sql as unknown as Sql);
    const store = new ShardStore(counter.sql, {
      leaseGraceMs: 1000,
      invokers: 4,
      callsPerInvoker: 6,
      aimdDecreaseFactor: 0.5,
      aimdCooldownMs: 1000,
    });
    const fn: FunctionRecord = { ...testFunction("acme", "big", "listing-cost"), paused: true };
    const now = Date.now();
    for (let chunk = 0; chunk < 20; chunk++) {
      const messages = Array.from({ length: 1000 }, (_, i) => testTask(fn, `t-${chunk}-${i}`, now));
      state.storage.transactionSync(() => store.accept(messages, now));
    }
    counter.reset();
    const first = store.listTasks("acme", "big", "queued", 100);
    expect(first.tasks).toHaveLength(100);
    expect(counter.rowsRead()).toBeLessThan(1_000);
    counter.reset();
    const second = store.listTasks("acme", "big", undefined, 100, first.nextBefore);
    expect(second.tasks).toHaveLength(100);
    expect(second.tasks[0]?.id).not.toBe(first.tasks[0]?.id);
    expect(counter.rowsRead()).toBeLessThan(1_000);
    // A dispatch pass over a paused function with this backlog must not scan it either.
    counter.reset();
    store.planDispatch("listing-cost", now);
    store.nextWakeAt(now, false);
    expect(counter.rowsRead()).toBeLessThan(1_000);
  });
}, 60_000);

it("a shard crowded with 2,000 idle functions of another account costs a quiet tenant's dispatch pass no more than an empty one", async () => {
  const stub = env.SHARD.getByName("crowded-cost");
  await runInDurableObject(stub, (_instance, state) => {
    const counter = countingSql(state.storage.sql as unknown as Sql);
    const store = new ShardStore(counter.sql, TEST_SHARD_SETTINGS);
    const now = Date.now();
    const record = (account: string, name: string) => testFunction(account, name, "crowded-cost");
    const task = (fn: FunctionRecord, id: string, delaySeconds: number) =>
      testTask(fn, id, now, delaySeconds ? { delaySeconds } : {});
    // 2,000 functions of a crowd account, each holding one task delayed by an hour.
    const crowd = Array.from({ length: 2000 }, (_, i) => record("crowd", `idle-${i}`));
    state.storage.transactionSync(() =>
      store.accept(
        crowd.map((fn, i) => task(fn, `idle-task-${i}`, 3600)),
        now,
      ),
    );
    // The first pass after a start visits every function once (and finds nothing due).
    store.planDispatch("crowded-cost", now);
    const quiet = record("quiet", "fast");
    const measure = (at: number, id: string) => {
      state.storage.transactionSync(() => store.accept([task(quiet, id, 0)], at));
      counter.reset();
      const plan = store.planDispatch("crowded-cost", at);
      store.nextWakeAt(at, plan.more);
      return { dispatched: plan.dispatched, rows: counter.rowsRead() };
    };
    const pass = measure(now + 10, "quiet-1");
    expect(pass.dispatched).toBe(1);
    // Independent of the crowd: a handful of indexed reads, not one or more per idle function.
    expect(pass.rows).toBeLessThan(100);
    expect(store.nextWakeAt(now + 20, false)).toBeLessThanOrEqual(now + 3600 * 1000);
  });
}, 60_000);

it("ten thousand fairness keys on one function cost a dispatch pass no more rows than ten", async () => {
  const rowsPerPass = async (keys: number) =>
    runInDurableObject(env.SHARD.getByName(`keys-cost-${keys}`), (_instance, state) => {
      const counter = countingSql(state.storage.sql as unknown as Sql);
      const store = new ShardStore(counter.sql, TEST_SHARD_SETTINGS);
      const now = Date.now();
      const fn = testFunction("acme", "keyed", `keys-cost-${keys}`, { maxConcurrency: 10 });
      // 10,000 ready tasks either way, spread over `keys` lanes.
      for (let chunk = 0; chunk < 10; chunk++) {
        const messages = Array.from({ length: 1000 }, (_, i) =>
          testTask(fn, `k-${chunk}-${i}`, now, { fairnessKey: `customer-${(chunk * 1000 + i) % keys}` }),
        );
        state.storage.transactionSync(() => store.accept(messages, now));
      }
      store.planDispatch(fn.shard, now); // the first pass after a start visits every function
      const passes: number[] = [];
      for (let i = 0; i < 3; i++) {
        // Free the window (the calls "ended" by their lease running out is not needed: a new window each time).
        state.storage.sql.exec(`UPDATE tasks SET state = 'succeeded', finished_at = ? WHERE state = 'running'`, now);
        counter.reset();
        const plan = store.planDispatch(fn.shard, now + 1 + i);
        store.nextWakeAt(now + 1 + i, plan.more);
        expect(plan.dispatched).toBe(10);
        passes.push(counter.rowsRead());
      }
      return Math.max(...passes);
    });
  const ten = await rowsPerPass(10);
  const tenThousand = await rowsPerPass(10_000);
  expect(ten).toBeLessThan(300);
  // The same indexed reads; the only extra is deleting the lanes this pass emptied (one per call plus 8, each a few
  // rows of index): a constant, whatever the number of keys.
  expect(tenThousand).toBeLessThanOrEqual(ten + 100);
}, 120_000);
