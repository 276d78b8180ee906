/**
 * @module
 * Planning dispatch: functions share a pass round robin within their AIMD windows, stale tasks expire first, each
 * dispatched task gets a lease, an invocation number, a callback token and an invoker.
 */

import { aimdLimit } from "../aimd";
import { mintCallbackToken } from "../callback-token";
import type { TaskError } from "../outcome";
import type { BodyRef, FunctionRecord, InvocationJob } from "../records";
import { allocateDispatch, pickInvoker } from "../scheduler";
import { mustTransition } from "../task-states";
import { functionsToVisit, oldestQueuedAge, refreshAttention } from "./attention";
import { functionKey, type ShardContext } from "./context";
import { governorOf } from "./governor";
import { scheduleDelivery } from "./outbox";
import { purgeAt } from "./retention";
import type { TaskRow } from "./schema";

export interface DispatchPlan {
  /** Jobs grouped by invoker index. */
  readonly byInvoker: Map<number, InvocationJob[]>;
  readonly dispatched: number;
  readonly expired: number;
  /** True when the pass stopped at its budget and more tasks are ready now. */
  readonly more: boolean;
}

/** Largest number of tasks one dispatch pass moves (bounds the transaction and the CPU of one call). */
export const DISPATCH_BUDGET = 200;
/** How soon the shard looks again when a dispatch pass hit its budget. */
export const MORE_DISPATCH_MS = 10;

/**
 * Pick the next tasks to run: functions share the pass round robin, each limited by its concurrency window; tasks
 * older than their function's `maxEventAgeSeconds` expire instead of running; paused functions are skipped.
 */
export function planDispatch(ctx: ShardContext, shard: string, now: number): DispatchPlan {
  const running = new Map<string, number>();
  for (const row of ctx.sql
    .exec<{ account: string; function: string; n: number }>(
      `SELECT account, function, COUNT(*) AS n FROM tasks WHERE state = 'running' GROUP BY account, function`,
    )
    .toArray()) {
    running.set(functionKey(row.account, row.function), row.n);
  }

  let expired = 0;
  const candidates = [];
  // Only functions with due work (attention.ts): thousands of idle ones cost nothing here.
  const visited = functionsToVisit(ctx, now);
  for (const fn of visited) {
    const key = functionKey(fn.account, fn.name);
    expired += expireStale(ctx, fn, now);
    if (fn.paused) continue;
    const room = aimdLimit(governorOf(ctx, fn)) - (running.get(key) ?? 0);
    if (room <= 0) continue;
    const ready = ctx.sql
      .exec<{ n: number }>(
        `SELECT COUNT(*) AS n FROM (SELECT 1 FROM tasks WHERE account = ? AND function = ? AND state = 'queued'
           AND not_before <= ? LIMIT ?)`,
        fn.account,
        fn.name,
        now,
        DISPATCH_BUDGET + 1,
      )
      .one().n;
    if (ready > 0) candidates.push({ key, room, ready });
  }

  const allocation = allocateDispatch(candidates, DISPATCH_BUDGET, ctx.rotation++);
  const load = invokerLoad(ctx);
  const byInvoker = new Map<number, InvocationJob[]>();
  let dispatched = 0;
  for (const [key, count] of allocation) {
    const fn = ctx.functions.get(key);
    if (!fn || count <= 0) continue;
    const rows = ctx.sql
      .exec<TaskRow>(
        `SELECT * FROM tasks WHERE account = ? AND function = ? AND state = 'queued' AND not_before <= ?
         ORDER BY not_before, seq LIMIT ?`,
        fn.account,
        fn.name,
        now,
        count,
      )
      .toArray();
    for (const row of rows) {
      const { invoker, job } = dispatchRow(ctx, shard, row, fn, now, load);
      const list = byInvoker.get(invoker) ?? [];
      list.push(job);
      byInvoker.set(invoker, list);
      dispatched++;
    }
  }
  const more = candidates.some((c) => (allocation.get(c.key) ?? 0) < Math.min(c.room, c.ready));
  for (const fn of visited) refreshAttention(ctx, fn);
  return { byInvoker, dispatched, expired, more };
}

function invokerLoad(ctx: ShardContext): number[] {
  const load = new Array<number>(ctx.settings.invokers).fill(0);
  for (const row of ctx.sql
    .exec<{ invoker: number; n: number }>(
      `SELECT invoker, COUNT(*) AS n FROM tasks WHERE state = 'running' AND invoker IS NOT NULL AND async = 0
       GROUP BY invoker`,
    )
    .toArray()) {
    if (row.invoker < load.length) load[row.invoker] = row.n;
  }
  return load;
}

export function dispatchRow(
  ctx: ShardContext,
  shard: string,
  row: TaskRow,
  fn: FunctionRecord,
  now: number,
  invokerLoad: number[],
): { invoker: number; job: InvocationJob } {
  const to = mustTransition(row.state, "dispatch");
  const invoker = pickInvoker(invokerLoad, ctx.settings.callsPerInvoker);
  invokerLoad[invoker] = (invokerLoad[invoker] ?? 0) + 1;
  const attempt = row.attempts + 1;
  const invocation = row.invocations + 1;
  const deadline = now + fn.spec.timeoutMs;
  const callbackToken = mintCallbackToken(row.account);
  ctx.sql.exec(
    `UPDATE tasks SET state = ?, attempts = ?, invocations = ?, lease_until = ?, invoker = ?, callback_token = ?,
       async = 0, first_dispatched_at = COALESCE(first_dispatched_at, ?), last_dispatched_at = ?, updated_at = ?
     WHERE id = ?`,
    to,
    attempt,
    invocation,
    deadline + ctx.settings.leaseGraceMs,
    invoker,
    callbackToken,
    now,
    now,
    now,
    row.id,
  );
  const payload: BodyRef = {
    contentType: row.payload_type,
    size: row.payload_size,
    ...(row.payload ? { inline: new Uint8Array(row.payload) } : {}),
    ...(row.payload_r2 ? { r2Key: row.payload_r2 } : {}),
  };
  return {
    invoker,
    job: {
      shard,
      taskId: row.id,
      account: row.account,
      functionName: row.function,
      attempt,
      invocation,
      target: fn.spec.target,
      timeoutMs: fn.spec.timeoutMs,
      deadline,
      callbackToken,
      payload,
    },
  };
}

/** Queued tasks due longer ago than maxEventAgeSeconds expire (at most a dispatch budget per pass). */
export function expireStale(ctx: ShardContext, fn: FunctionRecord, now: number): number {
  const cutoff = now - fn.spec.maxEventAgeSeconds * 1000;
  const oldest = oldestQueuedAge(ctx, fn);
  if (oldest === undefined || oldest > cutoff) return 0;
  const to = mustTransition("queued", "expire");
  const error = JSON.stringify({
    kind: "expired",
    message: `not finished within maxEventAgeSeconds (${fn.spec.maxEventAgeSeconds})`,
  } satisfies TaskError);
  const expired = ctx.sql
    .exec<{ id: string }>(
      `UPDATE tasks SET state = ?, finished_at = ?, updated_at = ?, error = ?, lease_until = NULL, purge_at = ?
       WHERE id IN (SELECT id FROM tasks WHERE account = ? AND function = ? AND state = 'queued' AND age_from <= ?
                    ORDER BY age_from LIMIT ?)
       RETURNING id`,
      to,
      now,
      now,
      error,
      purgeAt(now, fn.spec.retentionSeconds),
      fn.account,
      fn.name,
      cutoff,
      DISPATCH_BUDGET * 5,
    )
    .toArray();
  if (fn.spec.destinations.onFailure) for (const { id } of expired) scheduleDelivery(ctx, id, "expired", now);
  return expired.length;
}
