/**
 * @module
 * Fairness-key lanes inside one function: start-time fair queuing over the `lanes` table. A queued task is either
 * *waiting* (not yet due: `lane_tag IS NULL`, indexed by due time) or *ready* (`lane_tag` set, indexed by tag). A task
 * that becomes due gets the tag `max(its lane's last tag, the function's clock) + 1`, and dispatch takes ready tasks
 * in tag order. With unit cost that is exactly round robin over the lanes that have ready work: one customer's
 * backlog of 5,000 holds tags far ahead, and a customer that turns up later is served in the next round. Every step
 * is an indexed read of the rows it returns, so ten thousand keys cost a pass no more than ten. The clock is the tag
 * last dispatched; a lane whose last tag is behind it is the same as a new lane and is deleted by the next sweep.
 */

import type { FunctionRecord } from "../records";
import { INT_PARAM } from "../sql";
import { functionKey, type ShardContext } from "./context";
import type { TaskRow } from "./schema";

/** Tables and indexes this part owns; applied by schema.ts. */
export const LANES_SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS lanes (
     account TEXT NOT NULL, function TEXT NOT NULL, lane TEXT NOT NULL, last_tag INTEGER NOT NULL,
     PRIMARY KEY (account, function, lane))`,
  `CREATE INDEX IF NOT EXISTS lanes_by_tag ON lanes (account, function, last_tag)`,
  `CREATE INDEX IF NOT EXISTS tasks_ready_by_tag ON tasks (account, function, lane_tag, seq)
     WHERE state = 'queued' AND lane_tag IS NOT NULL`,
  `CREATE INDEX IF NOT EXISTS tasks_waiting_by_due ON tasks (account, function, not_before, seq)
     WHERE state = 'queued' AND lane_tag IS NULL`,
];

/** Stale lanes (behind the clock) deleted per function by each sweep (attention.ts, every SWEEP_MS). */
const PRUNE_PER_SWEEP = 5_000;
/** A capped pass reads at most this many ready rows per call it wants, to skip keys at their cap. */
const SCAN_PER_CALL = 4;

/** The lane of a task: its fairness key, or the one lane of tasks without a key. */
export function laneOf(fairnessKey: string | null | undefined): string {
  return fairnessKey ?? "";
}

/** The function's virtual clock, rebuilt after a start from its ready tasks or its lanes. */
function clockOf(ctx: ShardContext, account: string, fnName: string): number {
  const key = functionKey(account, fnName);
  const known = ctx.clocks.get(key);
  if (known !== undefined) return known;
  const head = ctx.sql
    .exec<{ t: number | null }>(
      `SELECT MIN(lane_tag) AS t FROM tasks WHERE account = ? AND function = ? AND state = 'queued'
         AND lane_tag IS NOT NULL`,
      account,
      fnName,
    )
    .one().t;
  const clock =
    head !== null
      ? head - 1
      : (ctx.sql
          .exec<{ t: number | null }>(
            `SELECT MAX(last_tag) AS t FROM lanes WHERE account = ? AND function = ?`,
            account,
            fnName,
          )
          .one().t ?? 0);
  ctx.clocks.set(key, clock);
  return clock;
}

/** The tag of the next task of `lane` that becomes ready (and remember it as the lane's last): one statement. */
export function nextTag(ctx: ShardContext, account: string, fnName: string, lane: string): number {
  const clock = clockOf(ctx, account, fnName);
  // max(the lane's last tag, the clock) + 1; a lane not seen yet starts from the clock.
  return ctx.sql
    .exec<{ last_tag: number }>(
      `INSERT INTO lanes (account, function, lane, last_tag) VALUES (?, ?, ?, ?)
       ON CONFLICT (account, function, lane) DO UPDATE SET last_tag = MAX(lanes.last_tag, ?) + 1
       RETURNING last_tag`,
      account,
      fnName,
      lane,
      Math.max(0, clock) + 1,
      clock,
    )
    .one().last_tag;
}

/** Waiting tasks of `fn` whose time has come become ready (at most `limit`, in due order). Returns how many. */
export function promoteDue(ctx: ShardContext, fn: FunctionRecord, now: number, limit: number): number {
  const key = functionKey(fn.account, fn.name);
  const known = ctx.waitingDue.get(key);
  if ((known !== undefined && known > now) || limit <= 0) return 0;
  const due = ctx.sql
    .exec<{ id: string; fairness_key: string | null }>(
      // INDEXED BY: the planner would otherwise walk (account, function, state, not_before) through every ready task.
      `SELECT id, fairness_key FROM tasks INDEXED BY tasks_waiting_by_due
       WHERE account = ? AND function = ? AND state = 'queued' AND lane_tag IS NULL AND not_before <= ?
       ORDER BY not_before, seq LIMIT ${INT_PARAM}`,
      fn.account,
      fn.name,
      now,
      limit,
    )
    .toArray();
  for (const row of due) {
    const tag = nextTag(ctx, fn.account, fn.name, laneOf(row.fairness_key));
    ctx.sql.exec(`UPDATE tasks SET lane_tag = ? WHERE id = ?`, tag, row.id);
  }
  // Until a task joins the waiting set again (noteQueued), the next promotion is due when the earliest waiting one is.
  const next = ctx.sql
    .exec<{ t: number | null }>(
      `SELECT MIN(not_before) AS t FROM tasks INDEXED BY tasks_waiting_by_due
       WHERE account = ? AND function = ? AND state = 'queued' AND lane_tag IS NULL`,
      fn.account,
      fn.name,
    )
    .one().t;
  ctx.waitingDue.set(key, next ?? Number.POSITIVE_INFINITY);
  return due.length;
}

/** Built once, like the statements of takeReady below: every pass runs it. */
const READY_COUNT = `SELECT COUNT(*) AS n FROM (SELECT 1 FROM tasks WHERE account = ? AND function = ? AND state = 'queued'
  AND lane_tag IS NOT NULL LIMIT ${INT_PARAM})`;

/** Ready tasks of `fn` that may start now (within `fairness.maxConcurrencyPerKey`), counted up to `cap`. */
export function readyCount(ctx: ShardContext, fn: FunctionRecord, cap: number): number {
  if (fn.spec.fairness?.maxConcurrencyPerKey !== undefined) return pickWithinKeyCaps(ctx, fn, cap).length;
  return ctx.sql.exec<{ n: number }>(READY_COUNT, fn.account, fn.name, cap).one().n;
}

/** Calls in flight per lane of `fn` (as many rows as calls in flight, which its window bounds). */
function runningPerLane(ctx: ShardContext, fn: FunctionRecord): Map<string, number> {
  const running = new Map<string, number>();
  for (const row of ctx.sql
    .exec<{ fairness_key: string | null; n: number }>(
      `SELECT fairness_key, COUNT(*) AS n FROM tasks WHERE account = ? AND function = ? AND state = 'running'
       GROUP BY fairness_key`,
      fn.account,
      fn.name,
    )
    .toArray()) {
    running.set(laneOf(row.fairness_key), row.n);
  }
  return running;
}

/**
 * Ids of the next `count` ready tasks of `fn` in lane order whose lanes are below `fairness.maxConcurrencyPerKey`.
 * Bounded: it reads at most SCAN_PER_CALL rows per call wanted; what it misses waits for the next pass.
 */
function pickWithinKeyCaps(ctx: ShardContext, fn: FunctionRecord, count: number): string[] {
  const perKey = fn.spec.fairness?.maxConcurrencyPerKey ?? Number.POSITIVE_INFINITY;
  const running = runningPerLane(ctx, fn);
  const picked: string[] = [];
  for (const row of ctx.sql
    .exec<{ id: string; fairness_key: string | null }>(
      `SELECT id, fairness_key FROM tasks WHERE account = ? AND function = ? AND state = 'queued'
         AND lane_tag IS NOT NULL ORDER BY lane_tag, seq LIMIT ${INT_PARAM}`,
      fn.account,
      fn.name,
      count * SCAN_PER_CALL + 16,
    )
    .toArray()) {
    const lane = laneOf(row.fairness_key);
    const inFlight = running.get(lane) ?? 0;
    if (inFlight >= perKey) continue;
    running.set(lane, inFlight + 1);
    picked.push(row.id);
    if (picked.length === count) break;
  }
  return picked;
}

/** What a dispatch reads of a ready task: a row of 40 columns costs about as much to read as the search for it. */
const READY_COLUMNS = [
  "id",
  "account",
  "function",
  "state",
  "run",
  "attempts",
  "invocations",
  "payload",
  "payload_r2",
  "payload_type",
  "payload_size",
  "schedule",
  "traceparent",
  "accepted_at",
  "queued_at",
  "not_before",
  "lane_tag",
] as const satisfies readonly (keyof TaskRow)[];
export type ReadyRow = Pick<TaskRow, (typeof READY_COLUMNS)[number]>;
const READY_SELECT = `SELECT ${READY_COLUMNS.join(", ")} FROM tasks`;
/** The statements built once (a statement's text is looked up in the runtime's cache on every exec; context.ts). */
const READY_IN_ORDER = (order: string) =>
  `${READY_SELECT} WHERE account = ? AND function = ? AND state = 'queued' AND lane_tag IS NOT NULL
   ORDER BY ${order} LIMIT ${INT_PARAM}`;
const READY_BY_LANE = READY_IN_ORDER("lane_tag, seq");
const READY_BY_ARRIVAL = READY_IN_ORDER("seq");
const READY_BY_ID = `${READY_SELECT} WHERE id = ?`;

/**
 * The next `count` ready tasks of `fn` in lane order, skipping lanes at `fairness.maxConcurrencyPerKey` (or in
 * arrival order, for the FIFO contrast). Moves the clock to the last tag taken and deletes lanes left behind it.
 */
export function takeReady(ctx: ShardContext, fn: FunctionRecord, count: number, arrivalOrder = false): ReadyRow[] {
  if (count <= 0) return [];
  const perKey = fn.spec.fairness?.maxConcurrencyPerKey;
  let rows: ReadyRow[];
  if (perKey === undefined || arrivalOrder) {
    // Arrival order (seq) only for the FIFO contrast of the benchmarks (DISPATCH_ORDER=fifo): it sorts the backlog.
    rows = ctx.sql
      .exec<ReadyRow>(arrivalOrder ? READY_BY_ARRIVAL : READY_BY_LANE, fn.account, fn.name, count)
      .toArray();
  } else {
    rows = pickWithinKeyCaps(ctx, fn, count)
      .map((id) => ctx.sql.exec<ReadyRow>(READY_BY_ID, id).toArray()[0])
      .filter((row): row is ReadyRow => row !== undefined);
  }
  const last = rows.reduce((max, row) => Math.max(max, row.lane_tag ?? 0), 0);
  if (rows.length > 0)
    ctx.clocks.set(functionKey(fn.account, fn.name), Math.max(clockOf(ctx, fn.account, fn.name), last));
  return rows;
}

/**
 * Delete lanes left behind the clock (the same as new lanes), a bounded number per sweep: rows stay bounded by the
 * keys that had work in the last sweep interval, and no dispatch pass pays for it.
 */
export function pruneLanes(ctx: ShardContext, fn: FunctionRecord): void {
  const clock = ctx.clocks.get(functionKey(fn.account, fn.name));
  if (clock === undefined) return;
  ctx.sql.exec(
    `DELETE FROM lanes WHERE rowid IN (SELECT rowid FROM lanes WHERE account = ? AND function = ? AND last_tag <= ?
       LIMIT ${INT_PARAM})`,
    fn.account,
    fn.name,
    clock,
    PRUNE_PER_SWEEP,
  );
}

/** Lanes of `fn` with work ahead of its clock (the `fairnessLanes` of stats): counted up to `cap`. */
export function activeLanes(ctx: ShardContext, account: string, fnName: string, cap = 100_000): number {
  return ctx.sql
    .exec<{ n: number }>(
      `SELECT COUNT(*) AS n FROM (SELECT 1 FROM lanes WHERE account = ? AND function = ? AND last_tag > ? LIMIT ${INT_PARAM})`,
      account,
      fnName,
      clockOf(ctx, account, fnName),
      cap,
    )
    .one().n;
}

/** Forget a deleted function's lanes and clock. */
export function dropLanes(ctx: ShardContext, account: string, fnName: string): void {
  ctx.sql.exec(`DELETE FROM lanes WHERE account = ? AND function = ?`, account, fnName);
  ctx.clocks.delete(functionKey(account, fnName));
}
