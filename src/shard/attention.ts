/**
 * @module
 * Which functions a dispatch pass must look at. Each function with queued tasks has an *attention time*: the earliest
 * moment one of its tasks becomes due or reaches its age limit. A pass visits only functions whose time has come, and
 * the next alarm is the earliest of them, so a shard holding thousands of idle functions of other accounts (each with
 * a delayed task, say) costs a quiet tenant nothing per pass (bounded cost per tenant). Every way into `queued` notes
 * the task's due time here (intake, requeue, resume, retry); a full sweep every SWEEP_MS re-derives all of them from
 * the indexes, as a safety net.
 */

import type { FunctionRecord } from "../records";
import { functionKey, type ShardContext } from "./context";
import { pruneLanes } from "./lanes";

/** How often a pass re-derives every function's attention time from storage. */
export const SWEEP_MS = 30_000;

/** When a function next needs a look: a queued task becomes due (`due`), or the oldest reaches its age limit. */
export interface Attention {
  readonly due: number | null;
  readonly expiry: number | null;
}

/**
 * A task of `fn` is queued, due at `dueAt`, its age counted from `ageFrom`: make sure a pass looks at the function when
 * it is due and when it would expire.
 */
export function noteQueued(ctx: ShardContext, fn: FunctionRecord, dueAt: number, ageFrom: number): void {
  const key = functionKey(fn.account, fn.name);
  const known = ctx.attention.get(key);
  const expiresAt = ageFrom + fn.spec.maxEventAgeSeconds * 1000;
  ctx.attention.set(key, {
    due: known?.due == null ? dueAt : Math.min(known.due, dueAt),
    expiry: known?.expiry == null ? expiresAt : Math.min(known.expiry, expiresAt),
  });
  // It may be waiting outside its lane (lanes.ts) until then.
  const waiting = ctx.waitingDue.get(key);
  if (waiting !== undefined && dueAt < waiting) ctx.waitingDue.set(key, dueAt);
}

/** A function whose configuration changed (resumed, new age limit): look at it on the next pass. */
export function noteChanged(ctx: ShardContext, fn: FunctionRecord, now: number): void {
  ctx.attention.set(functionKey(fn.account, fn.name), { due: now, expiry: null });
}

/**
 * When the longest-waiting queued task became due (its `age_from`: acceptance plus any delay, or the start of a
 * retried run), read from the (state, age_from) index rather than by scanning a deep backlog.
 */
export function oldestQueuedAge(ctx: ShardContext, fn: FunctionRecord): number | undefined {
  return ctx.sql
    .exec<{ age_from: number }>(
      `SELECT age_from FROM tasks WHERE account = ? AND function = ? AND state = 'queued' ORDER BY age_from LIMIT 1`,
      fn.account,
      fn.name,
    )
    .toArray()[0]?.age_from;
}

/** Re-derive a function's attention from its indexes (two indexed reads), after a pass looked at it. */
export function refreshAttention(ctx: ShardContext, fn: FunctionRecord): void {
  const key = functionKey(fn.account, fn.name);
  // A paused function dispatches nothing, but its queued tasks still expire.
  const due = fn.paused
    ? null
    : ctx.sql
        .exec<{ t: number | null }>(
          `SELECT MIN(not_before) AS t FROM tasks WHERE account = ? AND function = ? AND state = 'queued'`,
          fn.account,
          fn.name,
        )
        .one().t;
  const oldest = oldestQueuedAge(ctx, fn);
  const expiry = oldest === undefined ? null : oldest + fn.spec.maxEventAgeSeconds * 1000;
  if (due === null && expiry === null) ctx.attention.delete(key);
  else ctx.attention.set(key, { due, expiry });
}

/** What a pass at `now` must visit; in a sweep, every function, and the pass re-derives each one's attention. */
export interface Visit {
  readonly functions: FunctionRecord[];
  readonly sweep: boolean;
}

/** The functions a pass at `now` must visit: those with a due task or an expiry, or all of them when a sweep is due. */
export function functionsToVisit(ctx: ShardContext, now: number): Visit {
  if (now - ctx.lastSweepAt >= SWEEP_MS) {
    ctx.lastSweepAt = now;
    // The sweep re-derives what the shard keeps in memory: when waiting tasks come due, and which lanes are stale.
    ctx.waitingDue.clear();
    for (const fn of ctx.functions.values()) pruneLanes(ctx, fn);
    return { functions: [...ctx.functions.values()], sweep: true };
  }
  const visit: FunctionRecord[] = [];
  for (const [key, at] of ctx.attention) {
    const dueNow = (at.due !== null && at.due <= now) || (at.expiry !== null && at.expiry <= now);
    if (!dueNow) continue;
    const fn = ctx.functions.get(key);
    if (fn) visit.push(fn);
    else ctx.attention.delete(key);
  }
  return { functions: visit, sweep: false };
}

/**
 * Whether a queued task of `fn` may have reached its age limit by `now`. The attention's expiry is never later than
 * the oldest queued task's (every way into `queued` lowers it), so a pass skips the index read while it lies ahead;
 * unknown (a changed function, or a sweep) means look.
 */
export function mayExpire(ctx: ShardContext, fn: FunctionRecord, now: number, sweep: boolean): boolean {
  const expiry = ctx.attention.get(functionKey(fn.account, fn.name))?.expiry ?? null;
  return sweep || expiry === null || expiry <= now;
}

/**
 * The earliest future moment a function needs a look: a task becoming due after `now`, or any expiry. A task already
 * due but held back (a full window) is not a reason to wake: the reports of the calls that fill the window are.
 */
export function nextAttention(ctx: ShardContext, now: number): number | null {
  let earliest: number | null = null;
  for (const at of ctx.attention.values()) {
    for (const t of [at.due !== null && at.due > now ? at.due : null, at.expiry]) {
      if (t !== null && (earliest === null || t < earliest)) earliest = t;
    }
  }
  return earliest;
}
