/**
 * @module
 * Result delivery, pure parts: the envelope of API.md ("Delivering results"), the retry schedule, and how a webhook
 * receiver's answer is classified.
 */

import type { TaskError } from "./outcome";
import type { TaskTimeline } from "./records";
import type { ResultView } from "./result-view";
import type { Destination } from "./schemas";
import type { TaskState } from "./task-states";

export type DeliveryState = "pending" | "delivered" | "failed";

export interface Envelope {
  type: "task.succeeded" | "task.failed" | "task.expired";
  timestamp: string;
  data: {
    id: string;
    account: string;
    function: string;
    state: TaskState;
    attempts: number;
    result?: unknown;
    resultEncoding?: "text" | "base64";
    resultContentType?: string;
    resultUrl?: string;
    error?: TaskError;
    timeline: TaskTimeline;
  };
}

/** What a shard hands the delivery queue: one destination, one envelope, a delivery id stable across retries. */
export interface DeliveryMessage {
  readonly v: 1;
  readonly shard: string;
  readonly deliveryId: string;
  readonly account: string;
  readonly functionName: string;
  readonly taskId: string;
  readonly destination: Destination;
  readonly envelope: Envelope;
  /** How many function destinations led to this task; a chain stops at MAX_CHAIN_DEPTH. */
  readonly chainDepth: number;
  readonly origin: string;
  /** Attempts made before this message (a delivery handed off again after it went silent continues its count). */
  readonly priorAttempts?: number;
  /** The task's trace context: a webhook carries a child span of it, a chained task continues it. */
  readonly traceparent?: string;
}

export interface DeliveryReport {
  readonly taskId: string;
  readonly deliveryId: string;
  readonly state: DeliveryState;
  readonly attempts: number;
  readonly error?: string;
  readonly at: number;
  /**
   * Set by a delivery lane on a `pending` report: the lane holds the delivery and will report again by then (after
   * its next attempt, or with a fresh promise), so the shard does not take it for lost while it waits in a backlog.
   */
  readonly reportBy?: number;
}

/** Default schedule (seconds before each attempt): 9 attempts spanning about 10.6 hours. */
export const DEFAULT_DELIVERY_SCHEDULE: readonly number[] = [0, 5, 30, 120, 600, 1800, 3600, 10800, 21600];

/** Parse `DELIVERY_SCHEDULE_SECONDS` ("0,5,30,..."); falls back to the default on anything malformed. */
/** How long a webhook receiver has to answer unless DELIVERY_TIMEOUT_MS says otherwise. */
export const DEFAULT_DELIVERY_TIMEOUT_MS = 10_000;

export function parseSchedule(text: string | undefined): readonly number[] {
  if (!text) return DEFAULT_DELIVERY_SCHEDULE;
  const parts = text.split(",").map((p) => Number(p.trim()));
  const valid = parts.length > 0 && parts.every((n) => Number.isInteger(n) && n >= 0 && n <= 43_200);
  return valid ? parts : DEFAULT_DELIVERY_SCHEDULE;
}

/**
 * Delay in seconds before the attempt after failed attempt `attempt` (1-based), with up to 10 % jitter so many
 * deliveries to one recovering receiver do not arrive together; undefined when the schedule is used up.
 */
export function nextDeliveryDelay(
  schedule: readonly number[],
  attempt: number,
  random: () => number = Math.random,
): number | undefined {
  const base = schedule[attempt];
  if (base === undefined) return undefined;
  return Math.round(base + base * 0.1 * random());
}

export type ReceiverVerdict = "delivered" | "gone" | "retry";

/** How one delivery attempt went: delivered; or gone (410), retry (on the schedule) or stop (for good), with why. */
export type DeliveryAttempt = { verdict: "delivered" } | { verdict: "gone" | "retry" | "stop"; error: string };

/** 2xx delivered; 410 Gone stops for good; anything else (other statuses, timeouts, network) is retried. */
export function classifyReceiver(status: number): ReceiverVerdict {
  if (status >= 200 && status < 300) return "delivered";
  if (status === 410) return "gone";
  return "retry";
}

export function envelopeType(state: TaskState): Envelope["type"] | undefined {
  if (state === "succeeded") return "task.succeeded";
  if (state === "failed") return "task.failed";
  if (state === "expired") return "task.expired";
  return undefined;
}

/** Which destination a task that ended in `state` goes to, if any. */
export function destinationFor(
  state: TaskState,
  destinations: { onSuccess?: Destination | undefined; onFailure?: Destination | undefined },
): Destination | undefined {
  if (state === "succeeded") return destinations.onSuccess;
  if (state === "failed" || state === "expired") return destinations.onFailure;
  return undefined;
}

export function buildEnvelope(
  task: {
    id: string;
    account: string;
    function: string;
    state: TaskState;
    attempts: number;
    error?: TaskError;
    timeline: TaskTimeline;
  },
  result: ResultView | { resultUrl: string; resultContentType: string } | undefined,
  now: number,
): Envelope | undefined {
  const type = envelopeType(task.state);
  if (!type) return undefined;
  return {
    type,
    timestamp: new Date(now).toISOString(),
    data: {
      id: task.id,
      account: task.account,
      function: task.function,
      state: task.state,
      attempts: task.attempts,
      ...(result ?? {}),
      ...(task.error ? { error: task.error } : {}),
      timeline: task.timeline,
    },
  };
}

/** R2 key of a result written by an `r2` destination: `<prefix>/<account>/<function>/<id>.json`. */
export function r2DestinationKey(prefix: string | undefined, account: string, fn: string, id: string): string {
  // A prefix stored before prefixes were one segment is flattened, so the account is always the second segment.
  const clean = (prefix ?? "").replace(/[^A-Za-z0-9_.-]+/g, "-").replace(/^[-.]+|-+$/g, "") || "sluice";
  return `${clean}/${account}/${fn}/${id}.json`;
}
