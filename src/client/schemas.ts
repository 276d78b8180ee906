/**
 * @module
 * zod schemas of what the tenant API answers (docs/api.md), for the client to validate responses with. Request
 * shapes reuse the gateway's own schemas (src/schemas.ts). Response objects are loose: a field the server adds later
 * passes through untouched instead of breaking every client already installed.
 */

import { z } from "zod";
import { FUNCTION_NAME, functionSpecSchema } from "../schemas";
import { TASK_STATES } from "../task-states";

export const taskStateSchema = z.enum(TASK_STATES);

const instant = z.string().nullable();

export const taskErrorSchema = z.looseObject({
  kind: z.string(),
  message: z.string(),
  status: z.number().optional(),
});

export const timelineSchema = z.looseObject({
  acceptedAt: instant,
  queuedAt: instant,
  firstDispatchedAt: instant,
  lastDispatchedAt: instant,
  finishedAt: instant,
  deliveredAt: instant,
});

export const attemptSchema = z.looseObject({
  run: z.number().optional(),
  attempt: z.number(),
  startedAt: z.string(),
  durationMs: z.number(),
  status: z.number().optional(),
  error: taskErrorSchema.optional(),
  throttled: z.boolean().optional(),
  count: z.number().optional(),
});

/** A listed task: no payload, result, attempt log or delivery. */
export const taskSummarySchema = z.looseObject({
  id: z.string(),
  function: z.string(),
  state: taskStateSchema,
  attempts: z.number(),
  createdAt: z.string(),
  updatedAt: z.string(),
  timeline: timelineSchema,
  error: taskErrorSchema.optional(),
});

/** `GET /v1/tasks/:id`. `function` is absent while the task is still on its way to its shard (`accepted`). */
export const taskSchema = taskSummarySchema.extend({
  function: z.string().optional(),
  run: z.number().optional(),
  attemptLog: z.array(attemptSchema),
  attemptLogDropped: z.number().optional(),
  fairnessKey: z.string().optional(),
  scheduleId: z.string().optional(),
  result: z.unknown().optional(),
  resultEncoding: z.enum(["text", "base64"]).optional(),
  resultContentType: z.string().optional(),
  resultUrl: z.string().optional(),
  delivery: z
    .looseObject({
      state: z.enum(["pending", "delivered", "failed"]),
      attempts: z.number(),
      lastError: z.string().optional(),
    })
    .optional(),
});

export const taskPageSchema = z.looseObject({
  tasks: z.array(taskSummarySchema),
  nextCursor: z.string().nullable(),
});

/** `POST /v1/functions/:name/tasks` without a wait, or one that ran out (202), or a repeated key (200). */
export const acceptedSchema = z.looseObject({
  id: z.string(),
  state: taskStateSchema.optional(),
  statusUrl: z.string().optional(),
  deduplicated: z.boolean().optional(),
});

export const batchResultSchema = z.looseObject({
  tasks: z.array(z.looseObject({ id: z.string(), deduplicated: z.boolean().optional() })),
});

/** A function as the API shows it: its spec with the defaults filled in, and a few fields of its own. */
export const functionViewSchema = functionSpecSchema.extend({
  name: z.string().regex(FUNCTION_NAME),
  paused: z.boolean(),
  submitUrl: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const functionPageSchema = z.looseObject({
  functions: z.array(functionViewSchema),
  nextCursor: z.string().nullable(),
});

const percentilesSchema = z.looseObject({
  p50: z.number().nullable().optional(),
  p95: z.number().nullable().optional(),
  p99: z.number().nullable().optional(),
});

/** `GET /v1/functions/:name/stats` and `GET /v1/account/stats`. Figures a server does not report yet are optional. */
export const statsSchema = z.looseObject({
  counts: z.record(z.string(), z.number()),
  inFlight: z.number(),
  concurrencyLimit: z.number().nullable().optional(),
  maxConcurrency: z.number().nullable().optional(),
  placement: z
    .looseObject({
      tier: z.string(),
      partitions: z.number().optional(),
      reason: z.string().optional(),
      since: z.string().optional(),
      moves: z.number().optional(),
    })
    .optional(),
  latencyMs: z
    .looseObject({
      queueWait: percentilesSchema.optional(),
      execution: percentilesSchema.optional(),
      endToEnd: percentilesSchema.optional(),
    })
    .optional(),
  throughputPerMinute: z.number().nullable().optional(),
  history: z.array(z.looseObject({})).optional(),
});

/** A schedule (`GET /v1/functions/:name/schedules`). */
export const scheduleSchema = z.looseObject({
  id: z.string(),
  cron: z.string(),
  timezone: z.string(),
  nextRunAt: z.string().nullable().optional(),
  lastRunAt: z.string().nullable().optional(),
  paused: z.boolean().optional(),
  /** One schedule (GET or PUT of `…/schedules/:id`) also carries its task body and its last run. */
  contentType: z.string().optional(),
  payload: z.unknown().optional(),
  lastScheduledFor: z.string().nullable().optional(),
  lastTaskId: z.string().nullable().optional(),
});

export const scheduleDeletedSchema = z.looseObject({ deleted: z.string() });

export const scheduleListSchema = z.looseObject({ schedules: z.array(scheduleSchema) });

/** RFC 9457 problem details as every Sluice error answers. */
export const problemSchema = z.looseObject({
  type: z.string(),
  title: z.string(),
  status: z.number(),
  detail: z.string().optional(),
  errors: z.array(z.looseObject({ path: z.string(), message: z.string() })).optional(),
});

export type TaskState = z.infer<typeof taskStateSchema>;
export type TaskError = z.infer<typeof taskErrorSchema>;
export type Task = z.infer<typeof taskSchema>;
export type TaskSummary = z.infer<typeof taskSummarySchema>;
export type TaskPage = z.infer<typeof taskPageSchema>;
export type FunctionView = z.infer<typeof functionViewSchema>;
export type FunctionPage = z.infer<typeof functionPageSchema>;
export type Stats = z.infer<typeof statsSchema>;
export type Schedule = z.infer<typeof scheduleSchema>;
