/**
 * @module
 * AIMD persistence: each function's window kept in the `governors` table (the arithmetic is src/aimd.ts), the
 * function-wide pause a backend's Retry-After orders, and what dispatch needs from both.
 */

import {
  type AimdParams,
  type AimdState,
  aimdLimit,
  aimdNextRelease,
  aimdOnCongestion,
  aimdOnDispatch,
  aimdOnSuccess,
  aimdPause,
  aimdRestartIfIdle,
  clampAimd,
  initialAimd,
} from "../aimd";
import type { InvocationOutcome } from "../outcome";
import { shardCap } from "../placement-moves";
import type { FunctionRecord } from "../records";
import { functionKey, type ShardContext } from "./context";

/** Tables this part owns (each function's AIMD window); applied by schema.ts. */
export const GOVERNORS_SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS governors (
     account TEXT NOT NULL, function TEXT NOT NULL, window REAL NOT NULL, last_decrease_at INTEGER NOT NULL,
     ssthresh REAL, paused_until INTEGER NOT NULL DEFAULT 0, last_active_at INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (account, function))`,
];

/** Defaults of the slow start when the settings leave them out (AIMD_INITIAL_WINDOW, AIMD_IDLE_RESTART_MS). */
const DEFAULT_INITIAL_WINDOW = 4;
const DEFAULT_IDLE_RESTART_MS = 60_000;

/** The function's AIMD window now (`concurrencyLimit` in stats). */
export function concurrencyLimit(ctx: ShardContext, account: string, fnName: string): number | undefined {
  const fn = ctx.functions.get(functionKey(account, fnName));
  return fn ? aimdLimit(governorOf(ctx, fn)) : undefined;
}

/** A deleted function's window goes with it: a function created again with its name starts slow, from scratch. */
export function forgetGovernor(ctx: ShardContext, account: string, fnName: string): void {
  const key = functionKey(account, fnName);
  ctx.governors.delete(key);
  ctx.pauses.delete(key);
  ctx.executionMs.delete(key);
  ctx.sql.exec(`DELETE FROM governors WHERE account = ? AND function = ?`, account, fnName);
}

export function aimdParams(ctx: ShardContext, fn: FunctionRecord): AimdParams {
  return {
    // A partition of a function runs its share of the function's cap (each has its own window, src/placement.ts).
    max: shardCap(fn),
    decreaseFactor: ctx.settings.aimdDecreaseFactor,
    cooldownMs: ctx.settings.aimdCooldownMs,
    initialWindow: ctx.settings.aimdInitialWindow ?? DEFAULT_INITIAL_WINDOW,
    idleRestartMs: ctx.settings.aimdIdleRestartMs ?? DEFAULT_IDLE_RESTART_MS,
  };
}

type GovernorRow = {
  window: number;
  last_decrease_at: number;
  ssthresh: number | null;
  paused_until: number;
  last_active_at: number;
};

export function governorOf(ctx: ShardContext, fn: FunctionRecord, now = Date.now()): AimdState {
  const key = functionKey(fn.account, fn.name);
  let state = ctx.governors.get(key);
  if (!state) {
    const row = ctx.sql
      .exec<GovernorRow>(
        `SELECT window, last_decrease_at, ssthresh, paused_until, last_active_at FROM governors
         WHERE account = ? AND function = ?`,
        fn.account,
        fn.name,
      )
      .toArray()[0];
    state = row
      ? {
          window: row.window,
          // A window stored before slow start existed is past it.
          ssthresh: row.ssthresh ?? row.window,
          lastDecreaseAt: row.last_decrease_at,
          pausedUntil: row.paused_until,
          lastActiveAt: row.last_active_at,
        }
      : initialAimd(aimdParams(ctx, fn), now);
    ctx.governors.set(key, state);
    if (state.pausedUntil > now) ctx.pauses.set(key, state.pausedUntil);
  }
  return clampAimd(state, aimdParams(ctx, fn));
}

/**
 * How many more calls of `fn` may start now: its window (after a restart if it was idle) less those running; none
 * while a Retry-After pause lasts.
 */
export function governorRoom(ctx: ShardContext, fn: FunctionRecord, running: number, now: number): number {
  const before = governorOf(ctx, fn, now);
  const state = aimdRestartIfIdle(before, aimdParams(ctx, fn), now, running);
  if (state !== before) store(ctx, fn, state, now);
  return aimdLimit(state, now) - running;
}

/** A pass left `inFlight` calls of `fn` running (so successes can tell a full window from an idle one). */
export function noteDispatched(ctx: ShardContext, fn: FunctionRecord, inFlight: number, now: number): void {
  const before = governorOf(ctx, fn, now);
  const after = aimdOnDispatch(before, inFlight);
  if (after !== before) ctx.governors.set(functionKey(fn.account, fn.name), after);
}

/**
 * Successes widen the window; 429/503 and timeouts narrow it, and a Retry-After pauses the whole function. Other
 * failures say nothing about capacity.
 */
export function feedGovernor(
  ctx: ShardContext,
  fn: FunctionRecord,
  outcome: InvocationOutcome,
  now: number,
  callStartedAt: number,
  dispatchedAt: number | null = null,
): void {
  const before = governorOf(ctx, fn, now);
  const params = aimdParams(ctx, fn);
  let after = before;
  if (outcome.kind === "succeeded" || outcome.kind === "async") {
    // The round trip as the shard sees it: dispatch to report.
    after = aimdOnSuccess(before, params, now, now - (dispatchedAt ?? callStartedAt), callStartedAt);
  } else if (outcome.kind === "throttled" || (outcome.kind === "transient" && outcome.error.kind === "timeout")) {
    after = aimdOnCongestion(before, params, now, callStartedAt, dispatchedAt ?? callStartedAt);
    if (outcome.kind === "throttled" && outcome.retryAfterMs !== undefined && outcome.retryAfterMs > 0) {
      after = aimdPause(after, now, outcome.retryAfterMs);
    }
  }
  if (after !== before) store(ctx, fn, after, now, before);
}

/**
 * The earliest moment after `now` a function's limit rises by itself: a Retry-After pause ends or a throttled call's
 * held slot frees up (no report may come to wake the shard then: the function may have no call running).
 */
export function nextUnpause(ctx: ShardContext, now: number): number | null {
  let earliest: number | null = null;
  for (const [key, until] of ctx.pauses) {
    let next: number | null = until;
    if (until <= now) {
      const state = ctx.governors.get(key);
      next = state ? aimdNextRelease(state, now) : null;
      if (next === null) ctx.pauses.delete(key);
      else ctx.pauses.set(key, next);
    }
    if (next !== null && (earliest === null || next < earliest)) earliest = next;
  }
  return earliest;
}

/**
 * Keep the new state in memory; write it when a persisted field changed, the window by whole slots (a success in
 * congestion avoidance adds 1/window: a restarted shard loses less than one slot of growth, and a busy function
 * writes its row once per round trip instead of once per call).
 */
function store(ctx: ShardContext, fn: FunctionRecord, after: AimdState, now: number, before?: AimdState): void {
  const key = functionKey(fn.account, fn.name);
  ctx.governors.set(key, after);
  const release = aimdNextRelease(after, now);
  if (release !== null) ctx.pauses.set(key, Math.min(release, ctx.pauses.get(key) ?? release));
  const unchanged =
    before !== undefined &&
    Math.floor(after.window) === Math.floor(before.window) &&
    after.ssthresh === before.ssthresh &&
    after.lastDecreaseAt === before.lastDecreaseAt &&
    after.pausedUntil === before.pausedUntil;
  if (unchanged) return;
  ctx.sql.exec(
    `INSERT INTO governors (account, function, window, last_decrease_at, ssthresh, paused_until, last_active_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (account, function) DO UPDATE SET window = excluded.window, last_decrease_at = excluded.last_decrease_at,
       ssthresh = excluded.ssthresh, paused_until = excluded.paused_until, last_active_at = excluded.last_active_at`,
    fn.account,
    fn.name,
    after.window,
    after.lastDecreaseAt,
    after.ssthresh,
    after.pausedUntil,
    after.lastActiveAt,
  );
}
