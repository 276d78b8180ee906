/**
 * @module
 * AIMD persistence: each function's window kept in the `governors` table (the arithmetic is src/aimd.ts).
 */

import {
  type AimdParams,
  type AimdState,
  aimdLimit,
  aimdOnCongestion,
  aimdOnSuccess,
  clampAimd,
  initialAimd,
} from "../aimd";
import type { InvocationOutcome } from "../outcome";
import type { FunctionRecord } from "../records";
import { functionKey, type ShardContext } from "./context";

/** Tables this part owns (each function's AIMD window); applied by schema.ts. */
export const GOVERNORS_SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS governors (
     account TEXT NOT NULL, function TEXT NOT NULL, window REAL NOT NULL, last_decrease_at INTEGER NOT NULL,
     PRIMARY KEY (account, function))`,
];

/** The function's AIMD window now (`concurrencyLimit` in stats). */
export function concurrencyLimit(ctx: ShardContext, account: string, fnName: string): number | undefined {
  const fn = ctx.functions.get(functionKey(account, fnName));
  return fn ? aimdLimit(governorOf(ctx, fn)) : undefined;
}

export function aimdParams(ctx: ShardContext, fn: FunctionRecord): AimdParams {
  return {
    max: fn.spec.maxConcurrency,
    decreaseFactor: ctx.settings.aimdDecreaseFactor,
    cooldownMs: ctx.settings.aimdCooldownMs,
  };
}

export function governorOf(ctx: ShardContext, fn: FunctionRecord): AimdState {
  const key = functionKey(fn.account, fn.name);
  let state = ctx.governors.get(key);
  if (!state) {
    const row = ctx.sql
      .exec<{ window: number; last_decrease_at: number }>(
        `SELECT window, last_decrease_at FROM governors WHERE account = ? AND function = ?`,
        fn.account,
        fn.name,
      )
      .toArray()[0];
    state = row ? { window: row.window, lastDecreaseAt: row.last_decrease_at } : initialAimd(aimdParams(ctx, fn));
    ctx.governors.set(key, state);
  }
  return clampAimd(state, aimdParams(ctx, fn));
}

/** Successes widen the window; 429/503 and timeouts narrow it. Other failures say nothing about capacity. */
export function feedGovernor(
  ctx: ShardContext,
  fn: FunctionRecord,
  outcome: InvocationOutcome,
  now: number,
  callStartedAt: number,
): void {
  const before = governorOf(ctx, fn);
  let after = before;
  if (outcome.kind === "succeeded" || outcome.kind === "async") after = aimdOnSuccess(before, aimdParams(ctx, fn));
  else if (outcome.kind === "throttled" || (outcome.kind === "transient" && outcome.error.kind === "timeout")) {
    after = aimdOnCongestion(before, aimdParams(ctx, fn), now, callStartedAt);
  }
  if (after === before) return;
  ctx.governors.set(functionKey(fn.account, fn.name), after);
  ctx.sql.exec(
    `INSERT INTO governors (account, function, window, last_decrease_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (account, function) DO UPDATE SET window = excluded.window, last_decrease_at = excluded.last_decrease_at`,
    fn.account,
    fn.name,
    after.window,
    after.lastDecreaseAt,
  );
}
