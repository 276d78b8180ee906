/**
 * @module
 * zod schemas of the main response bodies, for the OpenAPI document only (the gateway builds its answers from the
 * store's types; test/workers/openapi.test.ts checks real answers against these). Objects are loose: a client must
 * ignore members it does not know, and new ones may appear.
 */

import { z } from "zod";
import { accountLimitsSchema, functionSpecSchema } from "../schemas";
import { TASK_STATES } from "../task-states";

const timestamp = z.iso.datetime({ offset: true });
const state = z.enum(TASK_STATES);

export const serviceInfoSchema = z.looseObject({ name: z.string(), description: z.string() });

export const createdAccountSchema = z.looseObject({
  id: z.string(),
  apiKey: z.string().describe("Shown once; stored only as a SHA-256 hash."),
  keyPrefix: z.string(),
  webhookSecret: z.string(),
});

const accountSummary = z.looseObject({ id: z.string(), limits: accountLimitsSchema, createdAt: timestamp });

export const accountSchema = accountSummary.extend({
  keys: z.array(z.looseObject({ keyPrefix: z.string(), createdAt: timestamp, revokedAt: timestamp.nullable() })),
});

export const accountPageSchema = z.looseObject({
  accounts: z.array(accountSummary),
  nextCursor: z.string().nullable(),
});

export const issuedKeySchema = z.looseObject({ apiKey: z.string(), keyPrefix: z.string() });

export const rotatedSecretSchema = z.looseObject({ webhookSecret: z.string(), previousSecretValidUntil: timestamp });

export const functionSchema = functionSpecSchema.extend({
  name: z.string(),
  paused: z.boolean(),
  submitUrl: z.string(),
  createdAt: timestamp,
  updatedAt: timestamp,
});

export const functionPageSchema = z.looseObject({
  functions: z.array(functionSchema),
  nextCursor: z.string().nullable(),
});

export const deletedFunctionSchema = z.looseObject({ deleted: z.string(), cancelledTasks: z.number().int() });

const timelineSchema = z.looseObject({
  acceptedAt: timestamp.nullable(),
  queuedAt: timestamp.nullable(),
  firstDispatchedAt: timestamp.nullable(),
  lastDispatchedAt: timestamp.nullable(),
  finishedAt: timestamp.nullable(),
  deliveredAt: timestamp.nullable(),
});

const taskErrorSchema = z.looseObject({ kind: z.string(), message: z.string() });

export const taskSummarySchema = z.looseObject({
  id: z.string(),
  function: z.string(),
  state,
  attempts: z.number().int(),
  createdAt: timestamp,
  updatedAt: timestamp,
  timeline: timelineSchema,
  error: taskErrorSchema.optional(),
  scheduleId: z.string().optional(),
  scheduledFor: timestamp.optional(),
  late: z.literal(true).optional(),
});

export const taskSchema = taskSummarySchema.extend({
  function: z.string().optional().describe("Absent while the task is still in the ingest queue."),
  run: z.number().int(),
  attemptLog: z.array(
    z.looseObject({
      run: z.number().int(),
      attempt: z.number().int(),
      startedAt: timestamp,
      durationMs: z.number(),
      status: z.number().int().optional(),
      error: taskErrorSchema.optional(),
      throttled: z.boolean().optional(),
      count: z.number().int().optional(),
    }),
  ),
  attemptLogDropped: z.number().int().optional(),
  fairnessKey: z.string().optional(),
  traceparent: z.string().optional(),
  delivery: z
    .looseObject({
      state: z.enum(["pending", "delivered", "failed"]),
      attempts: z.number().int(),
      lastError: z.string().optional(),
    })
    .optional(),
  result: z.unknown().optional().describe("An inline result, decoded per its content type."),
  resultEncoding: z.enum(["text", "base64"]).optional().describe("How a result that is not JSON is shown."),
  resultUrl: z.string().optional().describe("Where a large result is read (GET /v1/tasks/{id}/result)."),
  resultContentType: z.string().optional(),
});

export const acceptedTaskSchema = z.looseObject({
  id: z.string(),
  state: state.optional(),
  deduplicated: z.literal(true).optional(),
  statusUrl: z.string(),
});

export const acceptedBatchSchema = z.looseObject({
  tasks: z.array(z.looseObject({ id: z.string(), deduplicated: z.literal(true).optional() })),
});

export const taskPageSchema = z.looseObject({ tasks: z.array(taskSummarySchema), nextCursor: z.string().nullable() });

export const bulkResultSchema = z.looseObject({
  affected: z.number().int(),
  completed: z.number().int(),
  inProgress: z.boolean(),
});

export const callbackAnswerSchema = z.looseObject({ state });

const percentiles = z.looseObject({
  p50: z.number().nullable(),
  p95: z.number().nullable(),
  p99: z.number().nullable(),
});

const statsCommon = {
  counts: z.record(z.string(), z.number().int()).describe("Tasks per state, purged tasks included."),
  inFlight: z.number().int(),
  queued: z.number().int(),
  concurrencyLimit: z.number().describe("The AIMD window now."),
  maxConcurrency: z.number().int(),
  latencyMs: z.looseObject({ queueWait: percentiles, execution: percentiles, endToEnd: percentiles }),
  latencyWindow: z.looseObject({ from: timestamp, to: timestamp }),
  throughputPerMinute: z.number(),
  history: z
    .array(
      z.looseObject({
        t: timestamp,
        concurrencyLimit: z.number().nullable(),
        inFlight: z.number(),
        queued: z.number(),
        throttled: z.number(),
      }),
    )
    .describe("A point per 10 s for the last hour."),
};

export const functionStatsSchema = z.looseObject({
  ...statsCommon,
  placement: z
    .looseObject({
      tier: z.enum(["shared", "account", "dedicated"]),
      shard: z.string(),
      partitions: z.number().int(),
      since: z.string(),
      reason: z.string(),
      moves: z.number().int(),
      draining: z.boolean(),
      recentMoves: z.array(
        z.looseObject({
          at: z.string(),
          from: z.string(),
          to: z.string(),
          partitions: z.number().int(),
          reason: z.string(),
        }),
      ),
    })
    .describe("Where the function runs: its tier, partitions, and the last automatic moves (docs/scaling.md)."),
  fairnessLanes: z.number().int(),
  account: z.looseObject({
    inFlight: z.number().int(),
    maxConcurrency: z.number().int().nullable(),
    submitPerSecond: z.number().int().nullable(),
  }),
});

export const accountStatsSchema = z.looseObject({
  ...statsCommon,
  functions: z.number().int(),
  truncated: z.boolean(),
  limits: z.looseObject({ maxConcurrency: z.number().int().nullable(), submitPerSecond: z.number().int().nullable() }),
});

export const scheduleSchema = z.looseObject({
  id: z.string(),
  cron: z.string(),
  timezone: z.string(),
  contentType: z.string(),
  paused: z.boolean(),
  payload: z.unknown().optional(),
  nextRunAt: timestamp.nullable(),
  lastRunAt: timestamp.nullable(),
  lastScheduledFor: timestamp.nullable(),
  lastTaskId: z.string().nullable(),
  createdAt: timestamp,
  updatedAt: timestamp,
});

export const scheduleListSchema = z.looseObject({ schedules: z.array(scheduleSchema) });

export const deletedSchema = z.looseObject({ deleted: z.string() });
