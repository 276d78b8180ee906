/**
 * @module
 * Every outcome a store hands back across an RPC, in one vocabulary: success arms carry `ok: true`, refusals carry a
 * `reason` from {@link Refusal}. The gateway maps a refusal to HTTP in one exhaustive `switch`
 * (workers/gateway/problems.ts), so a new reason breaks the build until it is mapped.
 */

import type { TaskError } from "./outcome";
import type { AbortOrder, BodyRef, StoredTaskView } from "./records";
import type { TaskState } from "./task-states";

/** No such task for this caller (or, for callbacks, no running task with this token: the same answer). */
export type NotFound = { readonly ok: false; readonly reason: "not_found" };
/** The task exists but the state machine refuses the operation in its current state. */
export type Conflict = { readonly ok: false; readonly reason: "conflict"; readonly state: TaskState };
/** Only a failed delivery can be re-driven; this one is in another state (or there is none). */
export type DeliveryConflict = {
  readonly ok: false;
  readonly reason: "delivery_conflict";
  readonly deliveryState: "none" | "pending" | "delivered";
};

export type Refusal = NotFound | Conflict | DeliveryConflict;

/** cancel / pause / resume / retry of one task. */
export type OperationResult =
  | { readonly ok: true; readonly task: StoredTaskView; readonly abort?: AbortOrder }
  | NotFound
  | Conflict;

/** `DELETE /v1/tasks/:id` inside the store: the R2 keys the caller deletes. */
export type PurgeResult = { readonly ok: true; readonly r2Keys: string[] } | NotFound | Conflict;

/** `POST /v1/tasks/:id/redeliver`. */
export type RedeliverResult = { readonly ok: true; readonly task: StoredTaskView } | NotFound | DeliveryConflict;

/** A callback applies to a running task with its current token; anything else is one indistinguishable refusal. */
export type CallbackResult = { readonly ok: true; readonly state: TaskState } | NotFound;

/** What a long-running function's `/complete` says. */
export type Completion =
  | { readonly ok: true; readonly result?: BodyRef }
  | { readonly ok: false; readonly error: TaskError; readonly retryable: boolean };

export const NOT_FOUND: NotFound = { ok: false, reason: "not_found" };
