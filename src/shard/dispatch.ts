/**
 * @module
 * Planning dispatch. A pass visits only functions with due work (attention.ts), expires tasks past their age limit,
 * makes due tasks ready in their fairness-key lanes (lanes.ts), and shares the shard's free call slots among
 * accounts, then functions (src/fair-share.ts), each capped by its AIMD window and its account's `maxConcurrency`.
 * Each dispatched task gets a lease, an invocation number, a callback token and an invoker.
 */

import { mintCallbackToken } from "../callback-token";
import { allocateFairly, callCost, type Demand } from "../fair-share";
import type { TaskError } from "../outcome";
import type { BodyRef, FunctionRecord, InvocationJob, TaskSchedule } from "../records";
import { pickInvoker } from "../scheduler";
import { INT_PARAM } from "../sql";
import { mustTransition } from "../task-states";
import { accountRoom } from "./accounts";
import { functionsToVisit, mayExpire, oldestQueuedAge, refreshAttention } from "./attention";
import { functionKey, type ShardContext } from "./context";
import { noteTransition } from "./events";
import { governorRoom, noteDispatched } from "./governor";
import { promoteDue, type ReadyRow, readyCount, takeReady } from "./lanes";
import { noteActivity, recordEnding } from "./observations";
import { scheduleDelivery } from "./outbox";
import { purgeAt } from "./retention";
import { runningCalls } from "./running";
import type { TaskRow } from "./schema";

export interface DispatchPlan {
  /** Jobs grouped by invoker index. */
  readonly byInvoker: Map<number, InvocationJob[]>;
  readonly dispatched: number;
  readonly expired: number;
  /** True when the pass stopped at its budget and more tasks are ready now. */
  readonly more: boolean;
  /**
   * True when the pass ran out of slots (its budget, or for a targeted pass the invoker's free slots) while some
   * function still had ready work and room: a pass for the other invokers would find work.
   */
  readonly exhausted: boolean;
  /**
   * The earliest lease this pass gave out, or null: the shard must wake by then, so a job whose hand-off or answer was
   * lost is queued again when its lease runs out.
   */
  readonly leaseBy: number | null;
}

/** Largest number of tasks one dispatch pass moves (bounds the transaction and the CPU of one call). */
export const DISPATCH_BUDGET = 200;
/** How soon the shard looks again when a dispatch pass hit its budget. */
export const MORE_DISPATCH_MS = 10;

/**
 * Pick the next tasks to run: accounts and functions share the pass by deficit round robin, each limited by its
 * concurrency window and its account's limit, and the whole shard by its invokers' call slots (a job never waits in
 * an invoker behind another tenant's). Tasks older than `maxEventAgeSeconds` expire; paused functions are skipped.
 *
 * With `to`, the pass fills only that invoker's free slots (at most `free`, and what the shard counts free there):
 * the answer to an invoker's report carries its next jobs, so a busy function pays no hand-off RPC and no invoker
 * alarm per call.
 */
export function planDispatch(
  ctx: ShardContext,
  shard: string,
  now: number,
  to?: { readonly invoker: number; readonly free: number },
): DispatchPlan {
  // Only functions with due work (attention.ts): thousands of idle ones cost nothing here, and a pass with none (the
  // answer to a report once the backlog is gone) reads nothing at all, not even the calls in flight.
  const { functions: visited, sweep } = functionsToVisit(ctx, now);
  if (visited.length === 0) {
    return { byInvoker: new Map(), dispatched: 0, expired: 0, more: false, exhausted: false, leaseBy: null };
  }
  // A pass for one invoker needs only that invoker's load (it starts nothing elsewhere).
  const { running, accountRunning, load } = runningCalls(ctx, to?.invoker);
  const perInvoker = ctx.settings.callsPerInvoker;
  const freeSlots =
    to === undefined
      ? ctx.settings.invokers * perInvoker - load.reduce((a, b) => a + b, 0)
      : to.invoker >= 0 && to.invoker < load.length
        ? Math.min(to.free, perInvoker - (load[to.invoker] ?? 0))
        : 0;
  const budget = Math.max(0, Math.min(DISPATCH_BUDGET, freeSlots));

  let expired = 0;
  const demands: Demand[] = [];
  /** Room of every visited, unpaused function, also those with none (the FIFO contrast blocks on them). */
  const rooms = new Map<string, number>();
  /** Whether a function's ready count stopped at the pass budget below its room: it may have more to start. */
  let cappedByBudget = false;
  /**
   * Functions whose attention (attention.ts) the pass must re-derive: those it may have taken the last ready task of,
   * those whose age limit it looked at, paused ones, and those it found nothing to start for (their attention may be
   * out of date). One with ready tasks left (a full window, or a busy function that started its next call) keeps its
   * attention: two index reads fewer on every report's pass.
   */
  const refresh = new Set<FunctionRecord>(sweep ? visited : []);
  /** Ready tasks counted per function, up to one more than it could start. */
  const readyCounted = new Map<string, number>();
  for (const fn of visited) {
    const key = functionKey(fn.account, fn.name);
    // A look at its age limit (whatever it finds) re-derives the attention, so an expiry left early is not looked at
    // on every pass.
    if (mayExpire(ctx, fn, now, sweep)) {
      expired += expireStale(ctx, fn, now);
      refresh.add(fn);
    }
    if (fn.paused) {
      refresh.add(fn);
      continue;
    }
    const room = governorRoom(ctx, fn, running.get(key) ?? 0, now);
    rooms.set(key, room);
    if (room <= 0) continue;
    // Bounded: a pass makes ready and counts at most what the function could start now (its room), so a deep backlog
    // costs a pass a few index reads.
    const wanted = Math.min(room, budget);
    // With a cap per fairness key, tasks of a capped key do not count towards what can start: make ready up to the
    // pass budget, or a due task of another key could wait behind them for the next pass. One more than that, and
    // one more than wanted counted, tell whether any would be left after the pass.
    promoteDue(ctx, fn, now, (fn.spec.fairness?.maxConcurrencyPerKey !== undefined ? budget : wanted) + 1);
    const counted = readyCount(ctx, fn, wanted + 1);
    readyCounted.set(key, counted);
    const ready = Math.min(counted, wanted);
    if (counted > wanted && wanted < room) cappedByBudget = true;
    if (ready === 0) refresh.add(fn);
    if (ready > 0) demands.push({ account: fn.account, key, ready, room, cost: callCost(ctx.executionMs.get(key)) });
  }

  const fifo = ctx.settings.dispatchOrder === "fifo";
  const allocation = fifo
    ? allocateInArrivalOrder(ctx, rooms, budget, now)
    : allocateFairly(ctx.fairShare, demands, budget, (account) =>
        accountRoom(ctx, account, accountRunning.get(account) ?? 0, now),
      );
  const byInvoker = new Map<number, InvocationJob[]>();
  let dispatched = 0;
  /** Calls started per function by this pass. */
  const started = new Map<string, number>();
  let leaseBy: number | null = null;
  for (const [key, count] of allocation.calls) {
    const fn = ctx.functions.get(key);
    if (!fn || count <= 0) continue;
    let calls = 0;
    for (const row of takeReady(ctx, fn, count, fifo)) {
      const { invoker, job } = dispatchRow(ctx, shard, row, fn, now, load, to?.invoker);
      const list = byInvoker.get(invoker) ?? [];
      list.push(job);
      byInvoker.set(invoker, list);
      calls++;
    }
    dispatched += calls;
    started.set(key, calls);
    if (calls > 0) {
      // Ready tasks left: the function is still due now, and its attention stays right (an age limit it keeps may be
      // earlier than its oldest task's now, which only makes a pass look sooner).
      if (calls >= (readyCounted.get(key) ?? 0)) refresh.add(fn);
      leaseBy = Math.min(leaseBy ?? Number.POSITIVE_INFINITY, leaseUntil(ctx, fn, now));
      // The pass knows the function's calls in flight: the history sample need not count them again.
      noteActivity(ctx, fn, now, 0, (running.get(key) ?? 0) + calls);
    }
  }
  for (const fn of refresh) refreshAttention(ctx, fn);
  for (const fn of visited) {
    const key = functionKey(fn.account, fn.name);
    if (rooms.has(key)) noteDispatched(ctx, fn, (running.get(key) ?? 0) + (started.get(key) ?? 0), now);
  }
  // Look again soon only when the pass budget was the limit: full slots or windows free up with the calls' reports.
  return {
    byInvoker,
    dispatched,
    expired,
    more: allocation.more && budget === DISPATCH_BUDGET,
    // Counts are capped at the budget (a pass never reads more than it can start): work may be left where a count
    // stopped at the budget and the function got less than its room. A function whose window the pass filled has
    // nothing for another invoker (the usual answer to a report of a busy function: one slot freed, one call started),
    // so the shard runs no pass for the pool then.
    exhausted: allocation.more || budget === 0 || (fifo ? dispatched >= budget : cappedByBudget),
    leaseBy,
  };
}

/** When a call of `fn` started at `now` counts as vanished: its timeout, plus the grace for its report to arrive. */
function leaseUntil(ctx: ShardContext, fn: FunctionRecord, now: number): number {
  return now + fn.spec.timeoutMs + ctx.settings.leaseGraceMs;
}

/**
 * The contrast of benchmark B3: one queue for the whole shard in arrival order. The oldest ready task goes first; when
 * its function has no room, nothing behind it moves (head-of-line blocking, as in a single shared queue).
 */
function allocateInArrivalOrder(
  ctx: ShardContext,
  rooms: ReadonlyMap<string, number>,
  budget: number,
  now: number,
): { calls: Map<string, number>; more: boolean } {
  const room = new Map(rooms);
  const calls = new Map<string, number>();
  let given = 0;
  for (const row of ctx.sql
    .exec<{ account: string; function: string }>(
      `SELECT account, function FROM tasks WHERE state = 'queued' AND not_before <= ? ORDER BY not_before, seq LIMIT ${INT_PARAM}`,
      now,
      budget,
    )
    .toArray()) {
    const key = functionKey(row.account, row.function);
    const left = room.get(key);
    // Paused or not visited this pass: not in the line. Visited but full: the line stops here.
    if (left === undefined) continue;
    if (left <= 0) return { calls, more: false };
    room.set(key, left - 1);
    calls.set(key, (calls.get(key) ?? 0) + 1);
    given++;
  }
  return { calls, more: given === budget && budget > 0 };
}

export function dispatchRow(
  ctx: ShardContext,
  shard: string,
  row: ReadyRow,
  fn: FunctionRecord,
  now: number,
  invokerLoad: number[],
  onInvoker?: number,
): { invoker: number; job: InvocationJob } {
  const to = mustTransition(row.state, "dispatch");
  const attempt = row.attempts + 1;
  noteTransition(ctx, row, to, now, "dispatch", { attempt });
  const invoker = onInvoker ?? pickInvoker(invokerLoad, ctx.settings.callsPerInvoker);
  invokerLoad[invoker] = (invokerLoad[invoker] ?? 0) + 1;
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
    leaseUntil(ctx, fn, now),
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
      ...(row.schedule !== null ? { scheduleId: (JSON.parse(row.schedule) as TaskSchedule).id } : {}),
      ...(row.traceparent !== null ? { traceparent: row.traceparent } : {}),
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
    .exec<Pick<TaskRow, "id" | "run" | "attempts" | "traceparent" | "accepted_at">>(
      `UPDATE tasks SET state = ?, finished_at = ?, updated_at = ?, error = ?, lease_until = NULL, purge_at = ?
       WHERE id IN (SELECT id FROM tasks WHERE account = ? AND function = ? AND state = 'queued' AND age_from <= ?
                    ORDER BY age_from LIMIT ${INT_PARAM})
       RETURNING id, run, attempts, traceparent, accepted_at`,
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
  for (const row of expired) {
    noteTransition(ctx, { ...row, account: fn.account, function: fn.name, state: "queued" }, to, now, "expire", {
      errorKind: "expired",
    });
  }
  if (fn.spec.destinations.onFailure) {
    for (const row of expired)
      scheduleDelivery(ctx, { ...row, account: fn.account, function: fn.name }, "expired", now);
  }
  recordEnding(ctx.sql, fn.account, fn.name, "expired", expired.length);
  return expired.length;
}
