/**
 * @module
 * Finished tasks' stage timings, gathered in memory and written to the minute and totals rows of observations.ts at
 * most once a second per function (and whenever stats or metrics are read, the minute changes, the alarm runs or the
 * function is deleted). Recording a finish this way costs a few map updates instead of two read-modify-writes of JSON
 * rows, which on a busy function was most of an outcome's cost. A shard object that is evicted or crashes loses at
 * most the last second of these figures (never a task, a state count or anything else).
 */

import { type LatencySketch, recordValue } from "../latency-sketch";
import { emptyStageSketches, STAGES, type Stage } from "../observability";
import { functionKey, type ShardContext } from "./context";

/** How long finishes wait in memory before they are written. */
export const FLUSH_EVERY_MS = 1_000;

export interface PendingFinishes {
  readonly account: string;
  readonly fn: string;
  readonly minute: number;
  /** When the first of them was recorded. */
  readonly since: number;
  finished: number;
  readonly sketches: Record<Stage, LatencySketch>;
  readonly endings: Record<string, number>;
}

/** Per store: pending finishes by function, in the order they began (so the oldest is first). */
const buffers = new WeakMap<ShardContext, Map<string, PendingFinishes>>();

function bufferOf(ctx: ShardContext): Map<string, PendingFinishes> {
  let buffer = buffers.get(ctx);
  if (!buffer) {
    buffer = new Map();
    buffers.set(ctx, buffer);
  }
  return buffer;
}

/**
 * Add one finish; returns the entries that are due for writing (an older minute of this function, and any older than
 * FLUSH_EVERY_MS), removed from the buffer.
 */
export function bufferFinish(
  ctx: ShardContext,
  account: string,
  fn: string,
  minute: number,
  state: string,
  timings: Partial<Record<Stage, number>>,
  now: number,
): PendingFinishes[] {
  const buffer = bufferOf(ctx);
  const key = functionKey(account, fn);
  const due: PendingFinishes[] = [];
  let pending = buffer.get(key);
  if (pending && pending.minute !== minute) {
    due.push(pending);
    // Deleted, not overwritten: a new entry goes to the end, keeping the map in order of `since`.
    buffer.delete(key);
    pending = undefined;
  }
  if (!pending) {
    pending = {
      account,
      fn,
      minute,
      since: now,
      finished: 0,
      sketches: emptyStageSketches(),
      endings: {},
    };
    buffer.set(key, pending);
  }
  pending.finished++;
  pending.endings[state] = (pending.endings[state] ?? 0) + 1;
  for (const stage of STAGES) {
    const value = timings[stage];
    if (value !== undefined) recordValue(pending.sketches[stage], value);
  }
  return [...due, ...takeDue(ctx, now, false)];
}

/** Entries older than FLUSH_EVERY_MS (all of them with `all`), removed from the buffer. */
export function takeDue(
  ctx: ShardContext,
  now: number,
  all: boolean,
  only?: { account: string; fn?: string },
): PendingFinishes[] {
  const buffer = bufferOf(ctx);
  const due: PendingFinishes[] = [];
  for (const [key, pending] of buffer) {
    if (only && (pending.account !== only.account || (only.fn !== undefined && pending.fn !== only.fn))) continue;
    if (all || now - pending.since >= FLUSH_EVERY_MS) {
      due.push(pending);
      buffer.delete(key);
    } else if (!only) {
      // Oldest first: the rest began later and are not due either (a finish costs no walk over every function).
      break;
    }
  }
  return due;
}

/** When the oldest buffered finish is due to be written (the shard's alarm covers it), or null when none is. */
export function nextFlushAt(ctx: ShardContext): number | null {
  const oldest = bufferOf(ctx).values().next();
  return oldest.done ? null : oldest.value.since + FLUSH_EVERY_MS;
}
