/**
 * @module
 * What the placement policy (src/placement/policy.ts) needs to know about a shard: per function, its arrivals, calls
 * and failing calls per second over the last minute (in-memory meters, fed by intake and outcomes), its ready backlog
 * (counted from the index, capped) and calls in flight, and when it was last active. A function is judged only by its
 * first partition, its `shard` (a shard it left only drains it; its other partitions follow the first), and only with activity in
 * the last two minutes, plus, on an account or dedicated shard, the functions placed on it (so an idle one can be
 * reclaimed): a shared shard with thousands of idle functions reads none of them.
 */

import { currentShards, partitionsOf, tierOf } from "../placement";
import type { FunctionLoad, FunctionPlacement, ShardLoad } from "../placement/policy";
import { placementOf } from "../placement-moves";
import type { FunctionRecord } from "../records";
import { INT_PARAM } from "../sql";
import { functionKey, type ShardContext } from "./context";
import { functionInFlight, runningCalls } from "./running";

/** Meters count in 10 s buckets over the last minute. */
const BUCKET_MS = 10_000;
const BUCKETS = 6;
/** A function without activity for this long leaves the meters (and the shared shard's judgement). */
const METER_IDLE_MS = 120_000;

interface Meter {
  readonly arrivals: number[];
  readonly calls: number[];
  readonly failing: number[];
  /** Bucket number (time ÷ BUCKET_MS) of the newest bucket. */
  bucket: number;
  firstAt: number;
  lastAt: number;
}

const meters = new WeakMap<ShardContext, Map<string, Meter>>();

function meterOf(ctx: ShardContext, fn: FunctionRecord, now: number): Meter {
  let byFunction = meters.get(ctx);
  if (!byFunction) {
    byFunction = new Map();
    meters.set(ctx, byFunction);
  }
  const key = functionKey(fn.account, fn.name);
  let meter = byFunction.get(key);
  if (!meter) {
    meter = {
      arrivals: new Array(BUCKETS).fill(0),
      calls: new Array(BUCKETS).fill(0),
      failing: new Array(BUCKETS).fill(0),
      bucket: Math.floor(now / BUCKET_MS),
      firstAt: now,
      lastAt: now,
    };
    byFunction.set(key, meter);
  }
  advance(meter, now);
  return meter;
}

/** Zero the buckets that passed since the meter last moved. */
function advance(meter: Meter, now: number): void {
  const bucket = Math.floor(now / BUCKET_MS);
  for (let b = meter.bucket + 1; b <= Math.min(bucket, meter.bucket + BUCKETS); b++) {
    const slot = b % BUCKETS;
    meter.arrivals[slot] = 0;
    meter.calls[slot] = 0;
    meter.failing[slot] = 0;
  }
  meter.bucket = Math.max(meter.bucket, bucket);
}

function ratePerSec(counts: readonly number[], meter: Meter, now: number): number {
  const seconds = Math.min(BUCKETS * BUCKET_MS, Math.max(BUCKET_MS, now - meter.firstAt)) / 1000;
  return counts.reduce((a, b) => a + b, 0) / seconds;
}

/** `n` tasks of `fn` arrived (were stored queued). */
export function noteArrivals(ctx: ShardContext, fn: FunctionRecord, now: number, n = 1): void {
  const meter = meterOf(ctx, fn, now);
  const slot = meter.bucket % BUCKETS;
  meter.arrivals[slot] = (meter.arrivals[slot] ?? 0) + n;
  meter.lastAt = now;
}

/** A call of `fn` ended; `failing` when it failed, timed out or was throttled (it held capacity for nothing). */
export function noteCallEnded(ctx: ShardContext, fn: FunctionRecord, now: number, failing: boolean): void {
  const meter = meterOf(ctx, fn, now);
  const slot = meter.bucket % BUCKETS;
  meter.calls[slot] = (meter.calls[slot] ?? 0) + 1;
  if (failing) meter.failing[slot] = (meter.failing[slot] ?? 0) + 1;
  meter.lastAt = now;
}

/** Ready tasks of a function, counted up to `cap` (the count stops where no decision would change). */
function readyBacklog(ctx: ShardContext, fn: FunctionRecord, now: number, cap: number): number {
  return ctx.sql
    .exec<{ n: number }>(
      `SELECT COUNT(*) AS n FROM (SELECT 1 FROM tasks INDEXED BY tasks_queued_by_function
         WHERE account = ? AND function = ? AND state = 'queued' AND not_before <= ? LIMIT ${INT_PARAM})`,
      fn.account,
      fn.name,
      now,
      cap,
    )
    .one().n;
}

/** When the function's newest task last changed: its last arrival or finish, as far as storage tells. */
function lastStored(ctx: ShardContext, fn: FunctionRecord): number {
  const row = ctx.sql
    .exec<{ updated_at: number }>(
      `SELECT updated_at FROM tasks INDEXED BY tasks_by_function_seq WHERE account = ? AND function = ?
       ORDER BY seq DESC LIMIT 1`,
      fn.account,
      fn.name,
    )
    .toArray()[0];
  return row?.updated_at ?? 0;
}

/**
 * Whether a function has work on this shard: ready tasks (at most one counted), calls in flight, or schedules still
 * to hand on to the shard it moved to (until then this shard must stay among the record's `previousShards`, where
 * listings look for them).
 */
export function hasWork(ctx: ShardContext, account: string, name: string, now: number): boolean {
  const fn = ctx.functions.get(functionKey(account, name));
  if (!fn) return false;
  return (
    readyBacklog(ctx, fn, now, 1) > 0 ||
    functionInFlight(ctx.sql, account, name) > 0 ||
    schedulesLeaving(ctx, account, name)
  );
}

function schedulesLeaving(ctx: ShardContext, account: string, name: string): boolean {
  return (
    ctx.sql
      .exec(
        `SELECT 1 FROM schedules INDEXED BY schedules_moving
         WHERE moved_to IS NOT NULL AND account = ? AND function = ? LIMIT 1`,
        account,
        name,
      )
      .toArray().length > 0
  );
}

/** The function's placement as the policy sees it. */
export function policyPlacement(fn: FunctionRecord): FunctionPlacement {
  const placement = placementOf(fn);
  return {
    tier: placement.tier,
    partitions: placement.partitions,
    since: placement.since,
    reason: placement.reason,
    pinned: fn.spec.isolation !== "auto",
  };
}

/**
 * The load of shard `shard` for the placement policy, and the records it judged (by function key). `backlogCap`
 * bounds each backlog count (a function far past every threshold needs no exact figure).
 */
export function placementLoad(
  ctx: ShardContext,
  shard: string,
  now: number,
  backlogCap: number,
): { load: ShardLoad; records: Map<string, FunctionRecord> } {
  const tier = tierOf(shard);
  const byFunction = meters.get(ctx) ?? new Map<string, Meter>();
  for (const [key, meter] of byFunction) if (now - meter.lastAt > METER_IDLE_MS) byFunction.delete(key);
  const judged = new Map<string, FunctionRecord>();
  for (const key of byFunction.keys()) {
    const fn = ctx.functions.get(key);
    if (fn) judged.set(key, fn);
  }
  // Functions placed on an account or dedicated shard are judged while idle too (an idle one is reclaimed).
  if (tier !== "shared") for (const [key, fn] of ctx.functions) judged.set(key, fn);
  const running = runningCalls(ctx);
  const functions: FunctionLoad[] = [];
  const records = new Map<string, FunctionRecord>();
  for (const [key, fn] of judged) {
    if (fn.paused) continue;
    // A function is judged by its first partition only (one decision for all). On a shard it left it only drains,
    // but still loads the shard: it is passed as a mate (never moved from here: its record is not offered).
    const home = fn.shard === shard;
    if (!home && currentShards(fn).includes(shard)) continue;
    const meter = byFunction.get(key);
    if (meter) advance(meter, now);
    if (home) records.set(key, fn);
    // Tasks are spread evenly over partitions (routeTask), so the first one's figures × N estimate the function's.
    const n = home ? partitionsOf(fn) : 1;
    functions.push({
      account: fn.account,
      name: fn.name,
      placement: policyPlacement(fn),
      queued: readyBacklog(ctx, fn, now, backlogCap) * n,
      arrivalsPerSec: (meter ? ratePerSec(meter.arrivals, meter, now) : 0) * n,
      callsPerSec: (meter ? ratePerSec(meter.calls, meter, now) : 0) * n,
      inFlight: (running.running.get(key) ?? 0) * n,
      failingPerSec: (meter ? ratePerSec(meter.failing, meter, now) : 0) * n,
      // A move counts as activity: a function that just arrived here is not idle for want of tasks here yet.
      lastActiveAt: Math.max(meter?.lastAt ?? 0, lastStored(ctx, fn), placementOf(fn).since),
    });
  }
  let callsPerSec = 0;
  for (const meter of byFunction.values()) callsPerSec += ratePerSec(meter.calls, meter, now);
  let inFlight = 0;
  for (const n of running.running.values()) inFlight += n;
  return { load: { tier, inFlight, callsPerSec, functions }, records };
}
