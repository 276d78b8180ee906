/**
 * @module
 * How a tenant function's answer is classified (the table "Calling a tenant function" of API.md). A small closed
 * vocabulary: the shard switches over `kind` exhaustively, so a new kind breaks the build until it is handled.
 */

import { parseRetryAfterMs } from "./backoff";
import type { BodyRef } from "./records";

export type ErrorKind =
  | "http"
  | "timeout"
  | "network"
  | "lease_expired"
  | "heartbeat_timeout"
  | "redirect"
  | "expired"
  | "function_deleted"
  | "callback"
  | "cancelled"
  | "internal";

export interface TaskError {
  readonly kind: ErrorKind;
  readonly message: string;
  readonly status?: number;
}

export type InvocationOutcome =
  | { readonly kind: "succeeded"; readonly status: number; readonly body: BodyRef }
  /** 202 with `Sluice-Async: 1`: the function finishes later through the callback API. */
  | { readonly kind: "async"; readonly status: 202 }
  | { readonly kind: "throttled"; readonly status: number; readonly retryAfterMs?: number }
  | { readonly kind: "transient"; readonly error: TaskError }
  | { readonly kind: "permanent"; readonly error: TaskError };

/** Longest `Retry-After` we honour; beyond it the normal backoff ceiling applies. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

export type StatusClass = "succeeded" | "throttled" | "transient" | "permanent";

export function classifyStatus(status: number): StatusClass {
  if (status >= 200 && status < 300) return "succeeded";
  if (status === 429 || status === 503) return "throttled";
  if (status === 408 || status >= 500) return "transient";
  return "permanent";
}

/**
 * The one message every network failure gets. Refused, reset, DNS and runtime errors all read alike, so a target URL
 * cannot be used to tell an open port from a closed one, and no runtime internals reach a tenant.
 */
export const NETWORK_ERROR_MESSAGE = "the function could not be reached (no HTTP response)";

/** Outcome of a call that produced no response. The error itself is for the server log only. */
export function outcomeOfError(_error: unknown, timedOut: boolean): InvocationOutcome {
  if (timedOut)
    return { kind: "transient", error: { kind: "timeout", message: "the function did not answer within timeoutMs" } };
  return { kind: "transient", error: { kind: "network", message: NETWORK_ERROR_MESSAGE } };
}

/** Outcome of a call that produced a status (body already captured for successes, an excerpt for failures). */
export function outcomeOfStatus(
  status: number,
  retryAfter: string | null,
  body: BodyRef,
  errorExcerpt: string,
  now: number,
  asyncRequested = false,
): InvocationOutcome {
  switch (classifyStatus(status)) {
    case "succeeded":
      if (status === 202 && asyncRequested) return { kind: "async", status: 202 };
      return { kind: "succeeded", status, body };
    case "throttled": {
      const retryAfterMs = parseRetryAfterMs(retryAfter, now, MAX_RETRY_AFTER_MS);
      return retryAfterMs === undefined ? { kind: "throttled", status } : { kind: "throttled", status, retryAfterMs };
    }
    case "transient":
      return { kind: "transient", error: { kind: "http", status, message: errorExcerpt || `HTTP ${status}` } };
    case "permanent":
      if (status >= 300 && status < 400) {
        return { kind: "permanent", error: { kind: "redirect", status, message: "redirects are not followed" } };
      }
      return { kind: "permanent", error: { kind: "http", status, message: errorExcerpt || `HTTP ${status}` } };
  }
}
