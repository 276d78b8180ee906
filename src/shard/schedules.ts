/**
 * @module
 * Schedules (API.md "Schedules") in the shard that owns their function: the `schedules` table, the tick plan of an
 * alarm, firing a tick into the function's ordinary task path, and moving a function's schedules when its isolation
 * sends it to another shard.
 *
 * One alarm per shard covers every schedule: `next_run_at` is indexed (partial, live rows only) and wake.ts asks for
 * its minimum, so a thousand timetables cost one alarm and a pass reads only the due rows, at most
 * {@link SCHEDULE_BUDGET} of them.
 *
 * Exactly once per tick: a tick's task id derives from the schedule and the tick time (src/schedules.ts tickSeed,
 * src/ids.ts mintDerivedTaskId), and the task is stored in the same transaction that moves the schedule's `anchor`
 * past the tick. A re-run alarm finds nothing due; a plan that raced another pass finds the row changed and is dropped;
 * and were the same tick fired twice anyway, intake is idempotent by task id.
 *
 * Moving: a schedule row names the shard it fires on (`home`). Once this shard hears (an upserted function record,
 * or a firing pass) that the function lives elsewhere, the row is marked `moved_to` and never fires here again; the
 * hand-off itself is schedule-moves.ts.
 */

import type { FunctionRecord, IngestMessage, ScheduleView } from "../records";
import {
  dueTick,
  LATE_AFTER_MS,
  MAX_SCHEDULES_PER_FUNCTION,
  nextTick,
  type ScheduleSpec,
  schedulePayload,
  tickSeed,
} from "../schedules";
import type { SqlValue } from "../sql";
import { INT_PARAM } from "../sql";
import { functionKey, type ShardContext } from "./context";
import { upsertFunction } from "./functions";
import { accept } from "./intake";

/** Tables this part owns; applied by schema.ts (docs/storage-schema.md). */
export const SCHEDULES_SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS schedules (
     account TEXT NOT NULL, function TEXT NOT NULL, id TEXT NOT NULL,
     cron TEXT NOT NULL, timezone TEXT NOT NULL, payload TEXT, content_type TEXT NOT NULL,
     paused INTEGER NOT NULL DEFAULT 0, origin TEXT,
     home TEXT NOT NULL, moved_to TEXT,
     anchor INTEGER NOT NULL, next_run_at INTEGER,
     last_tick INTEGER, last_run_at INTEGER, last_task_id TEXT,
     created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
     PRIMARY KEY (account, function, id))`,
  // The one alarm's schedule term and a pass's due rows: only rows that fire here (not paused, not moving away).
  `CREATE INDEX IF NOT EXISTS schedules_due ON schedules (next_run_at)
     WHERE next_run_at IS NOT NULL AND moved_to IS NULL`,
  `CREATE INDEX IF NOT EXISTS schedules_moving ON schedules (moved_to) WHERE moved_to IS NOT NULL`,
];

/** Due schedules one pass fires at most; the rest wait {@link MORE_SCHEDULES_MS} for the next pass. */
export const SCHEDULE_BUDGET = 100;
export const MORE_SCHEDULES_MS = 50;
/** The delay before rows waiting to move to another shard are tried again (schedule-moves.ts). */
export const MOVE_RETRY_MS = 1_000;

export type ScheduleRow = {
  account: string;
  function: string;
  id: string;
  cron: string;
  timezone: string;
  payload: string | null;
  content_type: string;
  paused: number;
  origin: string | null;
  home: string;
  moved_to: string | null;
  anchor: number;
  next_run_at: number | null;
  last_tick: number | null;
  last_run_at: number | null;
  last_task_id: string | null;
  created_at: number;
  updated_at: number;
} & Record<string, SqlValue>;

/** What a pass decided for one due schedule; the Durable Object mints `label`'s task id before firing it. */
export interface TickPlan {
  readonly account: string;
  readonly function: string;
  readonly id: string;
  /** The row as planned (a change in between drops the plan). */
  readonly updatedAt: number;
  readonly anchor: number;
  /** The tick to fire, or null: nothing due after all (only `next` is written). */
  readonly tick: number | null;
  readonly next: number | null;
  readonly late: boolean;
  /** What the task id derives from (src/schedules.ts tickSeed). */
  readonly label: string;
}

export type PutScheduleResult =
  | { ok: true; created: boolean; schedule: ScheduleView }
  | { ok: false; reason: "not_found" }
  | { ok: false; reason: "moved"; shard: string }
  | { ok: false; reason: "limit"; limit: number };

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function view(row: ScheduleRow, withPayload: boolean): ScheduleView {
  return {
    id: row.id,
    function: row.function,
    cron: row.cron,
    timezone: row.timezone,
    contentType: row.content_type,
    paused: row.paused === 1,
    ...(withPayload && row.payload !== null ? { payloadJson: row.payload } : {}),
    nextRunAt: iso(row.next_run_at),
    lastRunAt: iso(row.last_run_at),
    lastScheduledFor: iso(row.last_tick),
    lastTaskId: row.last_task_id,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

export function readSchedule(ctx: ShardContext, account: string, fnName: string, id: string): ScheduleRow | undefined {
  return ctx.sql
    .exec<ScheduleRow>(`SELECT * FROM schedules WHERE account = ? AND function = ? AND id = ?`, account, fnName, id)
    .toArray()[0];
}

/** The next tick after `anchor`, or null while paused (a paused schedule has no `next_run_at`, so it never wakes). */
export function nextRunAt(row: Pick<ScheduleRow, "cron" | "timezone" | "paused" | "anchor">): number | null {
  return row.paused ? null : nextTick({ cron: row.cron, timezone: row.timezone }, row.anchor);
}

/** How many schedules of a function this shard holds (its own, and any waiting to move elsewhere). */
export function scheduleCount(ctx: ShardContext, account: string, fnName: string): number {
  return ctx.sql
    .exec<{ n: number }>(`SELECT COUNT(*) AS n FROM schedules WHERE account = ? AND function = ?`, account, fnName)
    .one().n;
}

/**
 * Create or replace a schedule of `fn` on this shard (`shard`, its name). The function record the gateway saw is
 * stored first (the newest copy wins), so the answer reflects where the function lives now.
 */
export function putSchedule(
  ctx: ShardContext,
  shard: string,
  fn: FunctionRecord,
  id: string,
  spec: ScheduleSpec,
  origin: string,
  now: number,
  /** Schedules of the function still held by shards it left (on their way here): they count against the limit. */
  elsewhere = 0,
): PutScheduleResult {
  upsertFunction(ctx, fn);
  const known = ctx.functions.get(functionKey(fn.account, fn.name));
  if (!known || known.createdAt !== fn.createdAt) return { ok: false, reason: "not_found" };
  if (known.shard !== shard) return { ok: false, reason: "moved", shard: known.shard };
  const existing = readSchedule(ctx, fn.account, fn.name, id);
  if (existing?.moved_to) return { ok: false, reason: "moved", shard: existing.moved_to };
  if (!existing && scheduleCount(ctx, fn.account, fn.name) + elsewhere >= MAX_SCHEDULES_PER_FUNCTION) {
    return { ok: false, reason: "limit", limit: MAX_SCHEDULES_PER_FUNCTION };
  }
  // Ticks before a change of timetable, and ticks while paused, are not owed: count from now. A replacement that
  // keeps the timetable running (a new payload, say) keeps its anchor, so a tick due right now still fires.
  const sameTimetable =
    existing !== undefined &&
    existing.cron === spec.cron &&
    existing.timezone === spec.timezone &&
    existing.paused === 0 &&
    !spec.paused;
  const anchor = Math.max(sameTimetable ? existing.anchor : now, existing?.last_tick ?? 0);
  const paused = spec.paused ? 1 : 0;
  const next = nextRunAt({ cron: spec.cron, timezone: spec.timezone, paused, anchor });
  ctx.sql.exec(
    `INSERT INTO schedules (account, function, id, cron, timezone, payload, content_type, paused, origin, home,
       anchor, next_run_at, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (account, function, id) DO UPDATE SET cron = excluded.cron, timezone = excluded.timezone,
       payload = excluded.payload, content_type = excluded.content_type, paused = excluded.paused,
       origin = excluded.origin, anchor = excluded.anchor, next_run_at = excluded.next_run_at,
       updated_at = excluded.updated_at`,
    fn.account,
    fn.name,
    id,
    spec.cron,
    spec.timezone,
    spec.payload === undefined ? null : JSON.stringify(spec.payload),
    spec.contentType,
    paused,
    origin,
    shard,
    anchor,
    next,
    now,
    // Strictly increasing, so a plan made before this replacement is always seen as stale.
    Math.max(now, (existing?.updated_at ?? 0) + 1),
  );
  const row = readSchedule(ctx, fn.account, fn.name, id);
  if (!row) throw new Error("schedule not stored");
  return { ok: true, created: !existing, schedule: view(row, true) };
}

/** One schedule (with its payload), or undefined; a row that moved on is the new shard's to show. */
export function getSchedule(ctx: ShardContext, account: string, fnName: string, id: string): ScheduleView | undefined {
  const row = readSchedule(ctx, account, fnName, id);
  return row ? view(row, true) : undefined;
}

/** A function's schedules without payloads (at most MAX_SCHEDULES_PER_FUNCTION rows of small fields), by id. */
export function listSchedules(ctx: ShardContext, account: string, fnName: string): ScheduleView[] {
  return ctx.sql
    .exec<ScheduleRow>(
      `SELECT * FROM schedules WHERE account = ? AND function = ? ORDER BY id LIMIT ${INT_PARAM}`,
      account,
      fnName,
      MAX_SCHEDULES_PER_FUNCTION,
    )
    .toArray()
    .map((row) => view(row, false));
}

export function deleteSchedule(ctx: ShardContext, account: string, fnName: string, id: string): boolean {
  return (
    ctx.sql
      .exec(`DELETE FROM schedules WHERE account = ? AND function = ? AND id = ? RETURNING id`, account, fnName, id)
      .toArray().length > 0
  );
}

/** Deleting a function deletes its schedules (bounded: at most MAX_SCHEDULES_PER_FUNCTION rows, plus moved-in ones). */
export function deleteSchedulesOf(ctx: ShardContext, account: string, fnName: string): number {
  return ctx.sql
    .exec(`DELETE FROM schedules WHERE account = ? AND function = ? RETURNING id`, account, fnName)
    .toArray().length;
}

/**
 * The function's newest record says where it lives: rows homed elsewhere stop firing here and wait to be handed on;
 * rows of a function that came back before they left fire here again.
 */
export function notePlacement(ctx: ShardContext, account: string, fnName: string): void {
  const fn = ctx.functions.get(functionKey(account, fnName));
  if (!fn) return;
  ctx.sql.exec(
    `UPDATE schedules SET moved_to = CASE WHEN home = ? THEN NULL ELSE ? END
     WHERE account = ? AND function = ? AND moved_to IS NOT (CASE WHEN home = ? THEN NULL ELSE ? END)`,
    fn.shard,
    fn.shard,
    account,
    fnName,
    fn.shard,
    fn.shard,
  );
}

/** Plans for the due schedules of this shard (read only): at most SCHEDULE_BUDGET rows, found by the due index. */
export function planTicks(ctx: ShardContext, now: number): TickPlan[] {
  const rows = ctx.sql
    .exec<ScheduleRow>(
      `SELECT * FROM schedules WHERE next_run_at IS NOT NULL AND moved_to IS NULL AND next_run_at <= ?
       ORDER BY next_run_at LIMIT ${INT_PARAM}`,
      now,
      SCHEDULE_BUDGET,
    )
    .toArray();
  return rows.map((row) => {
    const due = dueTick({ cron: row.cron, timezone: row.timezone }, row.anchor, now, LATE_AFTER_MS);
    const fn = ctx.functions.get(functionKey(row.account, row.function));
    return {
      account: row.account,
      function: row.function,
      id: row.id,
      updatedAt: row.updated_at,
      anchor: row.anchor,
      tick: due.tick,
      next: due.next,
      late: due.late,
      // The function's creation time too: a function deleted and made again under the same name starts afresh.
      label: tickSeed(`${row.account}\n${row.function}\n${fn?.createdAt ?? 0}\n${row.id}`, due.tick ?? 0),
    };
  });
}

/**
 * Fire planned ticks, each as one task of its function's ordinary path (stored by intake, so flow control, pause,
 * retries and delivery apply), and move each schedule past its tick, all in the caller's transaction. `taskIds` holds
 * the minted id of every plan with a tick. Returns the ids of the tasks fired.
 */
export function fireTicks(
  ctx: ShardContext,
  shard: string,
  plans: readonly TickPlan[],
  taskIds: ReadonlyMap<TickPlan, string>,
  now: number,
): string[] {
  const fired: string[] = [];
  for (const plan of plans) {
    const row = readSchedule(ctx, plan.account, plan.function, plan.id);
    // Replaced, paused, deleted or fired by another pass since it was planned: the next pass plans it afresh.
    if (!row || row.updated_at !== plan.updatedAt || row.anchor !== plan.anchor || row.moved_to !== null) continue;
    const fn = ctx.functions.get(functionKey(row.account, row.function));
    if (!fn) {
      deleteSchedulesOf(ctx, row.account, row.function);
      continue;
    }
    if (fn.shard !== row.home) {
      notePlacement(ctx, row.account, row.function);
      continue;
    }
    const taskId = taskIds.get(plan);
    if (plan.tick === null || taskId === undefined) {
      ctx.sql.exec(
        `UPDATE schedules SET next_run_at = ? WHERE account = ? AND function = ? AND id = ?`,
        plan.next,
        row.account,
        row.function,
        row.id,
      );
      continue;
    }
    const bytes = schedulePayload(row.payload === null ? undefined : JSON.parse(row.payload), row.content_type);
    const message: IngestMessage = {
      v: 1,
      fn,
      task: {
        id: taskId,
        account: fn.account,
        functionName: fn.name,
        shard,
        // Kept inline whatever INLINE_LIMIT_BYTES says: it never rides a queue message, and is at most 64 KiB.
        payload: { contentType: row.content_type, size: bytes.byteLength, inline: bytes },
        acceptedAt: now,
        ...(row.origin !== null ? { origin: row.origin } : {}),
        schedule: { id: row.id, scheduledFor: plan.tick, late: plan.late },
      },
    };
    accept(ctx, [message], now);
    ctx.sql.exec(
      `UPDATE schedules SET anchor = ?, last_tick = ?, last_run_at = ?, last_task_id = ?, next_run_at = ?
       WHERE account = ? AND function = ? AND id = ?`,
      plan.tick,
      plan.tick,
      now,
      taskId,
      row.paused ? null : plan.next,
      row.account,
      row.function,
      row.id,
    );
    fired.push(taskId);
  }
  return fired;
}

/** When the schedules need the shard next: the earliest tick, soon when more are due or rows wait to move. */
export function nextScheduleWake(ctx: ShardContext, now: number): number | null {
  const moving = ctx.sql.exec(`SELECT 1 FROM schedules WHERE moved_to IS NOT NULL LIMIT 1`).toArray().length > 0;
  const { t } = ctx.sql
    .exec<{ t: number | null }>(
      `SELECT MIN(next_run_at) AS t FROM schedules WHERE next_run_at IS NOT NULL AND moved_to IS NULL`,
    )
    .one();
  // Due already: the pass stopped at its budget (or a plan was dropped); the next one follows shortly, never at once.
  const tick = t === null ? null : t <= now ? now + MORE_SCHEDULES_MS : t;
  const times = [tick, moving ? now + MOVE_RETRY_MS : null].filter((x): x is number => x !== null);
  return times.length === 0 ? null : Math.min(...times);
}
