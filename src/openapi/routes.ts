/**
 * @module
 * Every route of the gateway, as the OpenAPI document describes it: method, path in OpenAPI form, who may call it,
 * the zod schemas it parses (the same ones the gateway parses with) and its main answers. The workers test
 * test/workers/openapi.test.ts checks this table against the Hono app's routes both ways.
 */

import type { z } from "zod";
import { MAX_BATCH_BODY_BYTES, MAX_CALLBACK_BODY_BYTES } from "../limits";
import type { ProblemKind } from "../problem";
import { MAX_SCHEDULE_BODY_BYTES, scheduleSpecSchema } from "../schedules";
import {
  batchSubmitSchema,
  bulkFilterSchema,
  completionSchema,
  createAccountSchema,
  functionSpecSchema,
  listQuerySchema,
  pageQuerySchema,
  updateAccountSchema,
} from "../schemas";
import * as res from "./responses";

export type HttpMethod = "get" | "put" | "post" | "delete" | "patch";

/** Who may call: the admin token, a tenant's API key, an invocation's callback token, or anyone. */
export type Auth = "admin" | "apiKey" | "callbackToken" | "none";

export type Tag = "Service" | "Accounts" | "Functions" | "Submitting" | "Tasks" | "Schedules" | "Observability";

export interface RouteResponse {
  readonly description: string;
  /** A zod schema of a JSON body, a media type with a plain schema, or no body. */
  readonly json?: z.ZodType;
  readonly content?: Readonly<Record<string, { schema: Record<string, unknown> }>>;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface RouteDoc {
  readonly method: HttpMethod;
  /** OpenAPI form: `/v1/functions/{name}/tasks`. */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: Tag;
  readonly auth: Auth;
  /** Path parameters, by name, with a description each (all are strings). */
  readonly pathParams?: Readonly<Record<string, string>>;
  /** A zod object whose keys are the query parameters. */
  readonly query?: z.ZodObject;
  /** Request headers the route reads, with a description each. */
  readonly headers?: Readonly<Record<string, { description: string; schema: Record<string, unknown> }>>;
  /** A JSON body parsed with this schema (`io: "input"`), or any bytes (`raw`). */
  readonly body?: { readonly json: z.ZodType; readonly maxBytes?: number } | { readonly raw: string };
  /** Success answers by status. */
  readonly responses: Readonly<Record<number, RouteResponse>>;
  /** Problems the route itself raises (auth, content-type and internal problems are added for every route). */
  readonly problems: readonly ProblemKind[];
}

const NAME = "The function's name (`^[a-z0-9][a-z0-9-]{0,62}$`).";
const TASK_ID = "A task id as returned on submit (`tsk_…`); another account's id is not found.";
const ACCOUNT = "The account id.";

const str = { type: "string" } as const;

function task(op: string): RouteDoc {
  return {
    method: "post",
    path: `/v1/tasks/{id}/${op}`,
    operationId: `${op}Task`,
    summary: `${op[0]?.toUpperCase()}${op.slice(1)} a task`,
    tag: "Tasks",
    auth: "apiKey",
    pathParams: { id: TASK_ID },
    responses: { 200: { description: "The task after the operation.", json: res.taskSchema } },
    problems: ["not-found", "invalid-transition"],
  };
}

function bulk(op: string): RouteDoc {
  return {
    method: "post",
    path: `/v1/functions/{name}/tasks:${op}`,
    operationId: `${op}Tasks`,
    summary: `${op[0]?.toUpperCase()}${op.slice(1)} many tasks`,
    description:
      "Tasks named by ids (at most 1000) or by state; an empty filter is refused. Large sets finish in the background.",
    tag: "Tasks",
    auth: "apiKey",
    pathParams: { name: NAME },
    body: { json: bulkFilterSchema },
    responses: { 200: { description: "How many tasks were and are being changed.", json: res.bulkResultSchema } },
    problems: ["not-found", "validation", "malformed-json", "payload-too-large"],
  };
}

function functionState(action: "pause" | "resume"): RouteDoc {
  return {
    method: "post",
    path: `/v1/functions/{name}/${action}`,
    operationId: `${action}Function`,
    summary: action === "pause" ? "Pause a function (queued tasks wait)" : "Resume a paused function",
    tag: "Functions",
    auth: "apiKey",
    pathParams: { name: NAME },
    responses: { 200: { description: "The function.", json: res.functionSchema } },
    problems: ["not-found"],
  };
}

export const ROUTES: readonly RouteDoc[] = [
  {
    method: "get",
    path: "/",
    operationId: "serviceInfo",
    summary: "Service name and description",
    tag: "Service",
    auth: "none",
    responses: { 200: { description: "What this is.", json: res.serviceInfoSchema } },
    problems: [],
  },
  {
    method: "get",
    path: "/openapi.json",
    operationId: "openApiDocument",
    summary: "This OpenAPI 3.1 document",
    tag: "Service",
    auth: "none",
    responses: {
      200: { description: "The document.", content: { "application/json": { schema: { type: "object" } } } },
    },
    problems: [],
  },
  {
    method: "get",
    path: "/docs",
    operationId: "apiReference",
    summary: "The rendered API reference (HTML)",
    tag: "Service",
    auth: "none",
    responses: { 200: { description: "An HTML page.", content: { "text/html": { schema: str } } } },
    problems: [],
  },
  // Admin
  {
    method: "post",
    path: "/v1/accounts",
    operationId: "createAccount",
    summary: "Create an account and its first API key",
    tag: "Accounts",
    auth: "admin",
    body: { json: createAccountSchema },
    responses: {
      201: {
        description: "The account, its API key (shown once) and webhook secret.",
        json: res.createdAccountSchema,
        headers: { location: "The account's URL." },
      },
    },
    problems: ["validation", "malformed-json", "payload-too-large", "conflict"],
  },
  {
    method: "get",
    path: "/v1/accounts",
    operationId: "listAccounts",
    summary: "List accounts by id",
    tag: "Accounts",
    auth: "admin",
    query: pageQuerySchema,
    responses: { 200: { description: "A page of accounts.", json: res.accountPageSchema } },
    problems: ["validation"],
  },
  {
    method: "get",
    path: "/v1/accounts/{id}",
    operationId: "getAccount",
    summary: "Read an account, its limits and keys",
    tag: "Accounts",
    auth: "admin",
    pathParams: { id: ACCOUNT },
    responses: { 200: { description: "The account.", json: res.accountSchema } },
    problems: ["not-found"],
  },
  {
    method: "patch",
    path: "/v1/accounts/{id}",
    operationId: "updateAccount",
    summary: "Replace an account's limits",
    tag: "Accounts",
    auth: "admin",
    pathParams: { id: ACCOUNT },
    body: { json: updateAccountSchema },
    responses: { 200: { description: "The account.", json: res.accountSchema } },
    problems: ["not-found", "validation", "malformed-json", "payload-too-large"],
  },
  {
    method: "post",
    path: "/v1/accounts/{id}/keys",
    operationId: "addKey",
    summary: "Issue another API key",
    tag: "Accounts",
    auth: "admin",
    pathParams: { id: ACCOUNT },
    responses: { 201: { description: "The new key (shown once).", json: res.issuedKeySchema } },
    problems: ["not-found"],
  },
  {
    method: "delete",
    path: "/v1/accounts/{id}/keys/{keyPrefix}",
    operationId: "revokeKey",
    summary: "Revoke an API key",
    tag: "Accounts",
    auth: "admin",
    pathParams: { id: ACCOUNT, keyPrefix: "The key's prefix (`sk_` and 8 hex digits)." },
    responses: { 204: { description: "Revoked." } },
    problems: ["not-found"],
  },
  {
    method: "post",
    path: "/v1/account/webhook-secret:rotate",
    operationId: "rotateWebhookSecret",
    summary: "Rotate the account's webhook signing secret",
    description: "For WEBHOOK_SECRET_GRACE_SECONDS both the old and the new secret sign deliveries.",
    tag: "Accounts",
    auth: "apiKey",
    responses: { 200: { description: "The new secret.", json: res.rotatedSecretSchema } },
    problems: ["not-found"],
  },
  // Functions
  {
    method: "get",
    path: "/v1/functions",
    operationId: "listFunctions",
    summary: "List the account's functions by name",
    tag: "Functions",
    auth: "apiKey",
    query: pageQuerySchema,
    responses: { 200: { description: "A page of functions.", json: res.functionPageSchema } },
    problems: ["validation"],
  },
  {
    method: "put",
    path: "/v1/functions/{name}",
    operationId: "putFunction",
    summary: "Create or replace a function",
    tag: "Functions",
    auth: "apiKey",
    pathParams: { name: NAME },
    body: { json: functionSpecSchema },
    responses: {
      200: { description: "Replaced.", json: res.functionSchema },
      201: { description: "Created.", json: res.functionSchema },
    },
    problems: ["validation", "malformed-json", "payload-too-large"],
  },
  {
    method: "get",
    path: "/v1/functions/{name}",
    operationId: "getFunction",
    summary: "Read a function",
    tag: "Functions",
    auth: "apiKey",
    pathParams: { name: NAME },
    responses: { 200: { description: "The function.", json: res.functionSchema } },
    problems: ["not-found"],
  },
  {
    method: "delete",
    path: "/v1/functions/{name}",
    operationId: "deleteFunction",
    summary: "Delete a function and cancel its unfinished tasks",
    tag: "Functions",
    auth: "apiKey",
    pathParams: { name: NAME },
    responses: { 200: { description: "Deleted.", json: res.deletedFunctionSchema } },
    problems: ["not-found"],
  },
  functionState("pause"),
  functionState("resume"),
  // Submitting
  {
    method: "post",
    path: "/v1/functions/{name}/tasks",
    operationId: "submitTask",
    summary: "Submit a task (the function URL)",
    description:
      "The body is the payload, any content type, kept byte for byte (at most MAX_PAYLOAD_BYTES). Without " +
      "`Prefer: wait=N` the answer is 202 at once; with it, the answer waits up to N (≤ 60) seconds for the end.",
    tag: "Submitting",
    auth: "apiKey",
    pathParams: { name: NAME },
    headers: {
      "idempotency-key": {
        description: "A repeat within the function's dedupWindowSeconds names the first task.",
        schema: { type: "string", minLength: 1, maxLength: 256 },
      },
      "sluice-delay": {
        description: "Seconds to wait before the first attempt (at most 604800).",
        schema: { type: "string", pattern: "^\\d{1,7}$" },
      },
      "sluice-fairness-key": {
        description: "The task's fairness lane within the function.",
        schema: { type: "string", minLength: 1, maxLength: 256 },
      },
      prefer: { description: "`wait=N`: hold the answer until the task ends, up to N ≤ 60 seconds.", schema: str },
      traceparent: { description: "W3C trace context the task travels with.", schema: str },
    },
    body: { raw: "*/*" },
    responses: {
      200: {
        description: "A repeated idempotency key (`deduplicated`), or with `Prefer: wait` the ended task.",
        json: res.taskSchema,
      },
      202: {
        description: "Accepted.",
        json: res.acceptedTaskSchema,
        headers: { location: "The task's status URL." },
      },
    },
    problems: ["not-found", "validation", "payload-too-large", "rate-limited"],
  },
  {
    method: "post",
    path: "/v1/functions/{name}/tasks:batch",
    operationId: "submitBatch",
    summary: "Submit up to 100 tasks at once",
    description: "Admitted whole or not at all; ids come back in order.",
    tag: "Submitting",
    auth: "apiKey",
    pathParams: { name: NAME },
    body: { json: batchSubmitSchema, maxBytes: MAX_BATCH_BODY_BYTES },
    responses: { 202: { description: "Accepted.", json: res.acceptedBatchSchema } },
    problems: ["not-found", "validation", "malformed-json", "payload-too-large", "rate-limited"],
  },
  // A function's tasks
  {
    method: "get",
    path: "/v1/functions/{name}/tasks",
    operationId: "listTasks",
    summary: "List a function's tasks, newest first",
    tag: "Tasks",
    auth: "apiKey",
    pathParams: { name: NAME },
    query: listQuerySchema,
    responses: { 200: { description: "A page of task summaries.", json: res.taskPageSchema } },
    problems: ["not-found", "validation"],
  },
  bulk("cancel"),
  bulk("pause"),
  bulk("resume"),
  // One task
  {
    method: "get",
    path: "/v1/tasks/{id}",
    operationId: "getTask",
    summary: "Read a task: state, timeline, attempt log, result",
    tag: "Tasks",
    auth: "apiKey",
    pathParams: { id: TASK_ID },
    responses: { 200: { description: "The task.", json: res.taskSchema } },
    problems: ["not-found"],
  },
  {
    method: "get",
    path: "/v1/tasks/{id}/result",
    operationId: "getTaskResult",
    summary: "Read a task's result, as its function answered it",
    tag: "Tasks",
    auth: "apiKey",
    pathParams: { id: TASK_ID },
    responses: {
      200: {
        description: "The result bytes, with the content type the function answered with.",
        content: { "*/*": { schema: str } },
      },
    },
    problems: ["not-found"],
  },
  task("cancel"),
  task("pause"),
  task("resume"),
  task("retry"),
  {
    method: "post",
    path: "/v1/tasks/{id}/redeliver",
    operationId: "redeliverTask",
    summary: "Re-drive a failed result delivery",
    tag: "Tasks",
    auth: "apiKey",
    pathParams: { id: TASK_ID },
    responses: { 202: { description: "The delivery is pending again.", json: res.taskSchema } },
    problems: ["not-found", "invalid-transition"],
  },
  {
    method: "delete",
    path: "/v1/tasks/{id}",
    operationId: "deleteTask",
    summary: "Delete an ended task, its payload and result",
    tag: "Tasks",
    auth: "apiKey",
    pathParams: { id: TASK_ID },
    responses: { 204: { description: "Deleted." } },
    problems: ["not-found", "invalid-transition"],
  },
  // Long-running tasks
  {
    method: "post",
    path: "/v1/tasks/{id}/complete",
    operationId: "completeTask",
    summary: 'Finish an `{"async":true}` invocation',
    description: "Authenticated by the invocation's `Sluice-Callback-Token`; anything wrong is the same 404.",
    tag: "Tasks",
    auth: "callbackToken",
    pathParams: { id: TASK_ID },
    body: { json: completionSchema, maxBytes: MAX_CALLBACK_BODY_BYTES },
    responses: { 200: { description: "The task's state after the callback.", json: res.callbackAnswerSchema } },
    problems: ["not-found", "validation", "malformed-json", "payload-too-large"],
  },
  {
    method: "post",
    path: "/v1/tasks/{id}/heartbeat",
    operationId: "heartbeatTask",
    summary: "Extend a long-running invocation's lease",
    tag: "Tasks",
    auth: "callbackToken",
    pathParams: { id: TASK_ID },
    responses: { 200: { description: "The task's state.", json: res.callbackAnswerSchema } },
    problems: ["not-found"],
  },
  // Schedules
  {
    method: "get",
    path: "/v1/functions/{name}/schedules",
    operationId: "listSchedules",
    summary: "List a function's schedules",
    tag: "Schedules",
    auth: "apiKey",
    pathParams: { name: NAME },
    responses: { 200: { description: "The schedules, by id.", json: res.scheduleListSchema } },
    problems: ["not-found"],
  },
  {
    method: "put",
    path: "/v1/functions/{name}/schedules/{id}",
    operationId: "putSchedule",
    summary: "Create or replace a schedule (cron, time zone, payload)",
    tag: "Schedules",
    auth: "apiKey",
    pathParams: { name: NAME, id: "The schedule's id (`^[a-z0-9][a-z0-9-]{0,62}$`)." },
    body: { json: scheduleSpecSchema, maxBytes: MAX_SCHEDULE_BODY_BYTES },
    responses: {
      200: { description: "Replaced.", json: res.scheduleSchema },
      201: { description: "Created.", json: res.scheduleSchema },
    },
    problems: ["not-found", "validation", "malformed-json", "payload-too-large", "limit-exceeded", "conflict"],
  },
  {
    method: "get",
    path: "/v1/functions/{name}/schedules/{id}",
    operationId: "getSchedule",
    summary: "Read a schedule",
    tag: "Schedules",
    auth: "apiKey",
    pathParams: { name: NAME, id: "The schedule's id." },
    responses: { 200: { description: "The schedule.", json: res.scheduleSchema } },
    problems: ["not-found"],
  },
  {
    method: "delete",
    path: "/v1/functions/{name}/schedules/{id}",
    operationId: "deleteSchedule",
    summary: "Delete a schedule",
    tag: "Schedules",
    auth: "apiKey",
    pathParams: { name: NAME, id: "The schedule's id." },
    responses: { 200: { description: "Deleted.", json: res.deletedSchema } },
    problems: ["not-found"],
  },
  // Observability
  {
    method: "get",
    path: "/v1/functions/{name}/stats",
    operationId: "functionStats",
    summary: "A function's counts, window, latency percentiles, throughput and history",
    tag: "Observability",
    auth: "apiKey",
    pathParams: { name: NAME },
    responses: { 200: { description: "The figures.", json: res.functionStatsSchema } },
    problems: ["not-found"],
  },
  {
    method: "get",
    path: "/v1/account/stats",
    operationId: "accountStats",
    summary: "The same figures over all the account's functions",
    tag: "Observability",
    auth: "apiKey",
    responses: { 200: { description: "The figures.", json: res.accountStatsSchema } },
    problems: [],
  },
  {
    method: "get",
    path: "/v1/metrics",
    operationId: "metrics",
    summary: "The account's metrics in the Prometheus text format",
    tag: "Observability",
    auth: "apiKey",
    responses: {
      200: {
        description: "Prometheus text exposition format 0.0.4.",
        content: { "text/plain; version=0.0.4": { schema: str } },
      },
    },
    problems: [],
  },
];
