/**
 * @module
 * Schedules (API.md "Schedules"), the pure part: the schema of `PUT /v1/functions/:name/schedules/:id`, the next tick
 * of a cron timetable in an IANA time zone (computed by `croner`, never by hand), which tick is due after an outage,
 * what a tick's task id derives from, and the body a tick's task carries. Firing lives in src/shard/schedules.ts (one
 * alarm per shard), the routes in workers/gateway/schedules.ts.
 *
 * Daylight-saving rule (what croner does, pinned by tests): a wall-clock time that does not exist on a spring-forward
 * day (02:30 in Europe/Berlin on 2026-03-29) fires once, at the first instant after the gap (03:00 local); a wall-clock
 * time that happens twice on a fall-back day fires once, at its first occurrence (summer time).
 */

import { Cron } from "croner";
import { z } from "zod";
import { utf8 } from "./encoding";
import { isJsonType } from "./result-view";

/** At most this many schedules per function. */
export const MAX_SCHEDULES_PER_FUNCTION = 1_000;
/** The shortest period a timetable can have: cron's resolution is one second (6 fields, seconds first). */
export const MIN_PERIOD_MS = 1_000;
/** A schedule's payload, as the task body it becomes: kept inline in the shard, so bounded like an inline task body. */
export const MAX_SCHEDULE_PAYLOAD_BYTES = 65_536;
/** A `PUT …/schedules/:id` body: the payload's cap plus room for the other fields. */
export const MAX_SCHEDULE_BODY_BYTES = MAX_SCHEDULE_PAYLOAD_BYTES + 4_096;
/** A tick fired more than this after its time is reported `late` (an outage, or a shard that could not keep up). */
export const LATE_AFTER_MS = 30_000;

/** Whether `zone` is an IANA time zone this runtime knows. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Why `cron` is not a timetable (undefined when it is one): 5 fields, or 6 with seconds first. */
export function cronProblem(cron: string): string | undefined {
  const fields = cron.trim().split(/\s+/).filter(Boolean);
  if (fields.length !== 5 && fields.length !== 6) {
    return `must have 5 fields (minute hour day month weekday) or 6 with seconds first, not ${fields.length}`;
  }
  try {
    const job = new Cron(fields.join(" "), { timezone: "UTC" });
    if (job.nextRun(new Date(0)) === null) return "never fires";
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message.replace(/^CronPattern: /, "") : "not a cron expression";
  }
}

export const scheduleSpecSchema = z.strictObject({
  cron: z
    .string()
    .max(200)
    .superRefine((cron, ctx) => {
      const problem = cronProblem(cron);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    }),
  timezone: z
    .string()
    .max(64)
    .refine(isTimeZone, "must be an IANA time zone such as Asia/Shanghai or UTC")
    .default("UTC"),
  payload: z.json().optional(),
  contentType: z.string().min(1).max(255).default("application/json"),
  paused: z.boolean().default(false),
});
export type ScheduleSpec = z.infer<typeof scheduleSpecSchema>;

/** The first tick strictly after `after` (ms), or null when the timetable never fires again. */
export function nextTick(spec: Pick<ScheduleSpec, "cron" | "timezone">, after: number): number | null {
  const next = jobOf(spec).nextRun(new Date(after));
  return next ? next.getTime() : null;
}

/**
 * What to fire at `now` for a schedule whose last fired tick was `lastTick` (or, never fired, which was created at
 * `lastTick`): at most one task, for the latest tick that is due, so ticks missed while the platform was down fire
 * once on return, not once each. `late` says a tick was missed or fired late (more than `graceMs` after it).
 * @example dueTick({ cron: "* * * * *", timezone: "UTC" }, 0, 185_000, 1_000) // { tick: 180000, next: 240000, late: true }
 */
export function dueTick(
  spec: Pick<ScheduleSpec, "cron" | "timezone">,
  lastTick: number,
  now: number,
  graceMs: number,
): { tick: number | null; next: number | null; late: boolean } {
  const first = nextTick(spec, lastTick);
  if (first === null || first > now) return { tick: null, next: first, late: false };
  // The latest tick at or before now, found by croner's own backward search (no walk over missed ticks).
  const [latest] = jobOf(spec).previousRuns(1, new Date(now + 1));
  const tick = latest && latest.getTime() > lastTick ? latest.getTime() : first;
  return { tick, next: nextTick(spec, tick), late: tick !== first || now - tick > graceMs };
}

function jobOf(spec: Pick<ScheduleSpec, "cron" | "timezone">): Cron {
  return new Cron(spec.cron.trim().split(/\s+/).join(" "), { timezone: spec.timezone });
}

/** What a tick's task id derives from (with src/ids.ts mintDerivedTaskId): the same tick never makes two tasks. */
export function tickSeed(scheduleId: string, tick: number): string {
  return `schedule\n${scheduleId}\n${tick}`;
}

/**
 * The body a tick's task carries: the payload as JSON for a JSON content type; a string payload as its own text for
 * any other type (so `"contentType": "text/csv"` with a string sends that text); no payload, an empty body.
 * @example schedulePayload("a,b", "text/csv") // the bytes of a,b
 */
export function schedulePayload(payload: unknown, contentType: string): Uint8Array {
  if (payload === undefined) return new Uint8Array(0);
  if (typeof payload === "string" && !isJsonType(contentType)) return utf8(payload);
  return utf8(JSON.stringify(payload));
}
