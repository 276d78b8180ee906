/**
 * @module
 * The documented task routes: submitting, a function's tasks (listing and bulk operations), one task, and the
 * callbacks of long-running invocations.
 */

import { MAX_BATCH_BODY_BYTES, MAX_CALLBACK_BODY_BYTES } from "../limits";
import {
  batchSubmitSchema,
  bulkFilterSchema,
  completionSchema,
  listQuerySchema,
  submitHeadersSchema,
} from "../schemas";
import * as res from "./responses";
import { NAME, type RouteDoc, str, TASK_ID } from "./types";

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

export const TASK_ROUTES: readonly RouteDoc[] = [
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
    headerSchema: submitHeadersSchema,
    headers: {
      "idempotency-key": {
        description: "A repeat within the function's dedupWindowSeconds names the first task.",
      },
      "sluice-delay": {
        description: "Seconds to wait before the first attempt (at most 604800).",
      },
      "sluice-fairness-key": {
        description: "The task's fairness lane within the function.",
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
];
