/**
 * @module
 * What the shard records for stats and metrics (read back by stats-read.ts; the time buckets are
 * src/observability.ts, the sketch src/latency-sketch.ts). Bounded per function: 60 minute rows of latency sketches, 360 history slots, one row
 * of totals since counting started. A finished task's timings are gathered in memory and written at most once a second
 * per function (finish-buffer.ts), and before every read; history costs an outcome or a dispatch two index probes, and a row write at most once a second
 * per function (or when the function goes idle or busy), never a timer per function.
 */

import { emptySketch, mergeInto, parseSketch, type SerializedSketch, serializeSketch } from "../latency-sketch";
import { historyStart, minuteOf, STAGES, type Stage, sketchCutoff, slotOf } from "../observability";
import type { FunctionRecord } from "../records";
import type { Sql } from "../sql";
import { INT_PARAM } from "../sql";
import { functionKey, type ShardContext } from "./context";
import { bufferFinish, type PendingFinishes, takeDue } from "./finish-buffer";
import { concurrencyLimit } from "./governor";
import { functionInFlight } from "./running";
import type { TaskRow } from "./schema";

/** Tables this part owns; applied by schema.ts. */
export const OBSERVATIONS_SCHEMA: readonly string[] = [
  // data: {"f": finished, "q"|"x"|"e": the queue-wait, execution and end-to-end sketches of that minute}
  `CREATE TABLE IF NOT EXISTS latency_minutes (
     account TEXT NOT NULL, function TEXT NOT NULL, minute INTEGER NOT NULL, data TEXT NOT NULL,
     PRIMARY KEY (account, function, minute))`,
  `CREATE INDEX IF NOT EXISTS latency_by_minute ON latency_minutes (minute)`,
  `CREATE TABLE IF NOT EXISTS history_slots (
     account TEXT NOT NULL, function TEXT NOT NULL, t INTEGER NOT NULL, concurrency_limit REAL NOT NULL,
     in_flight INTEGER NOT NULL, queued INTEGER NOT NULL, throttled INTEGER NOT NULL,
     last_in_flight INTEGER NOT NULL, last_queued INTEGER NOT NULL,
     PRIMARY KEY (account, function, t))`,
  `CREATE INDEX IF NOT EXISTS history_by_time ON history_slots (t)`,
  // data: Totals (below), since the shard started counting this function.
  `CREATE TABLE IF NOT EXISTS function_totals (
     account TEXT NOT NULL, function TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (account, function))`,
];

/** A history sample is taken at most this often per function (besides when it goes idle or busy). */
export const SAMPLE_EVERY_MS = 1_000;
/** Old minute and history rows one alarm deletes (functions that went quiet keep theirs until then). */
export const PRUNE_CHUNK = 1_000;

export const STAGE_FIELDS: Record<Stage, "q" | "x" | "e"> = { queueWait: "q", execution: "x", endToEnd: "e" };

interface Totals {
  endings: Record<string, number>;
  throttled: number;
  stages: Record<Stage, SerializedSketch>;
  deliveries: Record<string, number>;
}

function emptyTotals(): Totals {
  const stages = Object.fromEntries(STAGES.map((s) => [s, serializeSketch(emptySketch())])) as Totals["stages"];
  return { endings: {}, throttled: 0, stages, deliveries: {} };
}

export function readTotals(sql: Sql, account: string, fnName: string): Totals {
  const row = sql
    .exec<{ data: string }>(`SELECT data FROM function_totals WHERE account = ? AND function = ?`, account, fnName)
    .toArray()[0];
  if (!row) return emptyTotals();
  const parsed = JSON.parse(row.data) as Partial<Totals>;
  const totals = emptyTotals();
  return {
    endings: parsed.endings ?? totals.endings,
    throttled: parsed.throttled ?? 0,
    stages: { ...totals.stages, ...parsed.stages },
    deliveries: parsed.deliveries ?? totals.deliveries,
  };
}

function updateTotals(sql: Sql, account: string, fnName: string, change: (totals: Totals) => void): void {
  if (fnName === "") return;
  const totals = readTotals(sql, account, fnName);
  change(totals);
  sql.exec(
    `INSERT INTO function_totals (account, function, data) VALUES (?, ?, ?)
     ON CONFLICT (account, function) DO UPDATE SET data = excluded.data`,
    account,
    fnName,
    JSON.stringify(totals),
  );
}

/** `n` tasks of a function ended in `state` without a call finishing them (cancelled, expired). */
export function recordEnding(sql: Sql, account: string, fnName: string, state: string, n = 1): void {
  if (n <= 0) return;
  updateTotals(sql, account, fnName, (t) => {
    t.endings[state] = (t.endings[state] ?? 0) + n;
  });
}

/**
 * A task's run ended with a call (succeeded or failed): its stage timings go into this minute's sketches and the
 * totals. Queue wait runs from when the task was queued, or due (a delay), to its first dispatch; end to end from
 * accepted to now. Both are the task's first run only: a retried task (run > 1) keeps its first run's timeline, so it
 * adds its execution alone.
 */
export function recordFinish(
  ctx: ShardContext,
  row: TaskRow,
  state: string,
  now: number,
  callMs: number | undefined,
): void {
  const timings: Partial<Record<Stage, number>> = {};
  if (row.run === 1 && row.first_dispatched_at !== null && row.queued_at !== null) {
    timings.queueWait = row.first_dispatched_at - Math.max(row.queued_at, row.age_from);
  }
  if (row.run === 1 && row.accepted_at !== null) timings.endToEnd = now - row.accepted_at;
  const execution = callMs ?? (row.last_dispatched_at !== null ? now - row.last_dispatched_at : undefined);
  if (execution !== undefined) timings.execution = execution;

  writeFinishes(ctx, bufferFinish(ctx, row.account, row.function, minuteOf(now), state, timings, now), now);
}

/** Everything still buffered (or only `account`'s, or one function's) goes to its rows now: before a read. */
export function flushFinishes(ctx: ShardContext, now: number, only?: { account: string; fn?: string }): void {
  writeFinishes(ctx, takeDue(ctx, now, true, only), now);
}

/** Merge buffered finishes into their minute rows (sketches) and totals rows (endings, Prometheus buckets). */
function writeFinishes(ctx: ShardContext, batches: readonly PendingFinishes[], now: number): void {
  for (const pending of batches) {
    const stored = ctx.sql
      .exec<{ data: string }>(
        `SELECT data FROM latency_minutes WHERE account = ? AND function = ? AND minute = ?`,
        pending.account,
        pending.fn,
        pending.minute,
      )
      .toArray()[0];
    const data = stored ? (JSON.parse(stored.data) as Record<string, unknown>) : {};
    const out: Record<string, unknown> = { f: (typeof data.f === "number" ? data.f : 0) + pending.finished };
    for (const stage of STAGES) {
      const field = STAGE_FIELDS[stage];
      out[field] = serializeSketch(mergeInto(parseSketch(data[field]), pending.sketches[stage]));
    }
    ctx.sql.exec(
      `INSERT INTO latency_minutes (account, function, minute, data) VALUES (?, ?, ?, ?)
       ON CONFLICT (account, function, minute) DO UPDATE SET data = excluded.data`,
      pending.account,
      pending.fn,
      pending.minute,
      JSON.stringify(out),
    );
    // A new minute row: this function's rows past the hour go (the alarm's prune covers functions that went quiet).
    if (!stored) {
      ctx.sql.exec(
        `DELETE FROM latency_minutes WHERE account = ? AND function = ? AND minute < ?`,
        pending.account,
        pending.fn,
        sketchCutoff(now),
      );
    }
    updateTotals(ctx.sql, pending.account, pending.fn, (t) => {
      for (const [state, n] of Object.entries(pending.endings)) t.endings[state] = (t.endings[state] ?? 0) + n;
      for (const stage of STAGES) {
        const sketch = mergeInto(parseSketch(t.stages[stage]), pending.sketches[stage]);
        // Totals keep only the Prometheus buckets, sum and count: percentiles come from the minute rows.
        sketch.bins.clear();
        t.stages[stage] = serializeSketch(sketch);
      }
    });
  }
}

/** A delivery ended (`delivered` or `failed`): counted per destination type. */
export function recordDelivery(sql: Sql, account: string, fnName: string, destination: string, outcome: string): void {
  let type = "unknown";
  try {
    type = String((JSON.parse(destination) as { type?: unknown }).type ?? "unknown");
  } catch {
    // A damaged row still counts, as "unknown".
  }
  updateTotals(sql, account, fnName, (t) => {
    const key = `${type}|${outcome}`;
    t.deliveries[key] = (t.deliveries[key] ?? 0) + 1;
  });
}

interface Sample {
  at: number;
  idle: boolean;
}
/** The last history sample per function, per store (memory only: after an eviction the next event samples). */
const lastSamples = new WeakMap<ShardContext, Map<string, Sample>>();

export function queuedOf(sql: Sql, account: string, fnName: string): number {
  return sql
    .exec<{ n: number }>(
      `SELECT COUNT(*) AS n FROM tasks WHERE account = ? AND function = ? AND state = 'queued'`,
      account,
      fnName,
    )
    .one().n;
}

function anyQueued(sql: Sql, account: string, fnName: string): boolean {
  return (
    sql
      .exec(`SELECT 1 FROM tasks WHERE account = ? AND function = ? AND state = 'queued' LIMIT 1`, account, fnName)
      .toArray().length > 0
  );
}

/**
 * Something happened to a function (an outcome, a dispatch): count a throttled outcome in the current 10 s slot, and
 * sample the window, calls in flight and queued tasks into it when the slot is new, a second has passed since the
 * last sample, or the function just went idle or busy (so the end of a burst is never missed). A slot keeps the
 * highest calls in flight and queued it sampled (a burst shorter than 10 s still shows), the window and the counts of
 * its last sample (carried over quiet slots that follow).
 */
export function noteActivity(
  ctx: ShardContext,
  fn: FunctionRecord,
  now: number,
  throttled = 0,
  /** The function's calls in flight, when the caller knows them (a dispatch pass). */
  knownInFlight?: number,
): void {
  const key = functionKey(fn.account, fn.name);
  let samples = lastSamples.get(ctx);
  if (!samples) {
    samples = new Map();
    lastSamples.set(ctx, samples);
  }
  const slot = slotOf(now);
  const last = samples.get(key);
  const inFlight = knownInFlight ?? functionInFlight(ctx.sql, fn.account, fn.name);
  const idle = inFlight === 0 && !anyQueued(ctx.sql, fn.account, fn.name);
  const due = !last || slotOf(last.at) !== slot || now - last.at >= SAMPLE_EVERY_MS || last.idle !== idle;
  if (throttled > 0) {
    updateTotals(ctx.sql, fn.account, fn.name, (t) => {
      t.throttled += throttled;
    });
  }
  if (!due) {
    if (throttled > 0) {
      ctx.sql.exec(
        `UPDATE history_slots SET throttled = throttled + ? WHERE account = ? AND function = ? AND t = ?`,
        throttled,
        fn.account,
        fn.name,
        slot,
      );
    }
    return;
  }
  const queued = idle ? 0 : queuedOf(ctx.sql, fn.account, fn.name);
  ctx.sql.exec(
    `INSERT INTO history_slots (account, function, t, concurrency_limit, in_flight, queued, throttled, last_in_flight,
       last_queued)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (account, function, t) DO UPDATE SET concurrency_limit = excluded.concurrency_limit,
       in_flight = MAX(in_flight, excluded.in_flight), queued = MAX(queued, excluded.queued),
       throttled = throttled + excluded.throttled, last_in_flight = excluded.last_in_flight,
       last_queued = excluded.last_queued`,
    fn.account,
    fn.name,
    slot,
    concurrencyLimit(ctx, fn.account, fn.name) ?? 0,
    inFlight,
    queued,
    throttled,
    inFlight,
    queued,
  );
  if (!last || slotOf(last.at) !== slot) {
    ctx.sql.exec(
      `DELETE FROM history_slots WHERE account = ? AND function = ? AND t < ?`,
      fn.account,
      fn.name,
      historyStart(now),
    );
  }
  samples.set(key, { at: now, idle });
}

/** Delete minute and history rows past their hour, a bounded number per call (from the alarm). */
export function pruneObservations(sql: Sql, now: number): void {
  sql.exec(
    `DELETE FROM latency_minutes WHERE rowid IN (SELECT rowid FROM latency_minutes WHERE minute < ? LIMIT ${INT_PARAM})`,
    sketchCutoff(now),
    PRUNE_CHUNK,
  );
  sql.exec(
    `DELETE FROM history_slots WHERE rowid IN (SELECT rowid FROM history_slots WHERE t < ? LIMIT ${INT_PARAM})`,
    historyStart(now),
    PRUNE_CHUNK,
  );
}

/** A deleted function's figures go with it (a function of the same name made later starts from zero). */
export function forgetObservations(sql: Sql, account: string, fnName: string): void {
  for (const table of ["latency_minutes", "history_slots", "function_totals"]) {
    sql.exec(`DELETE FROM ${table} WHERE account = ? AND function = ?`, account, fnName);
  }
}
