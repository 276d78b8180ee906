/**
 * @module
 * Delivery lanes, pure parts: which lane a delivery travels in, and the bounds of one lane. A lane is one account's
 * deliveries to one destination (a webhook host, a queue binding, R2, chained functions), run by its own Durable
 * Object (`DELIVERY_LANES`), so a receiver that hangs or fails costs its own lane and never another account's.
 *
 * @example
 * laneOf({ account: "acme", destination: { type: "webhook", url: "https://Hooks.Example.com/x" } });
 * // "acme|webhook|hooks.example.com:443"
 */

import type { DeliveryMessage } from "./delivery";
import { utf8 } from "./encoding";

/** Deliveries one lane holds at most (waiting, running, or finished but not yet reported); the rest are refused. */
export const LANE_MAX_DELIVERIES = 5_000;
/** Stored bytes (envelopes) one lane holds at most; a delivery that would exceed it is refused. */
export const LANE_MAX_BYTES = 64 * 1024 * 1024;
/** Queue delay before a delivery a full lane refused is offered again, growing with each refusal up to a cap. */
export const LANE_REFUSED_RETRY_SECONDS = 30;
export const LANE_REFUSED_RETRY_MAX_SECONDS = 600;

/** Default ports, so `https://h/` and `https://h:443/` are one lane. */
const DEFAULT_PORTS: Readonly<Record<string, string>> = { "https:": "443", "http:": "80" };

/**
 * The lane of a delivery: `<account>|webhook|<host:port>` (lowercased), `<account>|queue|<binding>`, `<account>|r2`
 * or `<account>|function`. Account ids cannot contain `|` (schemas.ts), so lanes of two accounts never collide.
 */
export function laneOf(message: Pick<DeliveryMessage, "account" | "destination">): string {
  const destination = message.destination;
  switch (destination.type) {
    case "webhook":
      return `${message.account}|webhook|${webhookHost(destination.url)}`;
    case "queue":
      return `${message.account}|queue|${destination.queue}`;
    case "r2":
      return `${message.account}|r2`;
    case "function":
      return `${message.account}|function`;
  }
}

/** `host:port` of a webhook URL, lowercased; an unparsable URL gets a lane of its own (its delivery fails there). */
function webhookHost(url: string): string {
  try {
    const parsed = new URL(url);
    const port = parsed.port || DEFAULT_PORTS[parsed.protocol] || "0";
    return `${parsed.hostname.toLowerCase()}:${port}`;
  } catch {
    return "invalid";
  }
}

/** Queue delay for a delivery refused by a full lane for the `refusals`-th time (1-based). */
export function refusedRetryDelay(refusals: number): number {
  return Math.min(LANE_REFUSED_RETRY_MAX_SECONDS, LANE_REFUSED_RETRY_SECONDS * Math.max(1, refusals));
}

/** Bytes a delivery takes in a lane's storage and in an RPC: the message as UTF-8 JSON, as the lane stores it. */
export function laneMessageBytes(message: DeliveryMessage): number {
  return utf8(JSON.stringify(message)).byteLength;
}

/**
 * How far ahead a lane promises the shard its next report on a waiting delivery: long enough that renewing promises
 * costs little (a full lane of 5,000 renews about 33 a second at the default 10 s timeout), and never shorter than a
 * minute. A shard that hears nothing by then (plus its grace) hands the delivery off again; the lane dedups it.
 */
export function laneCheckInMs(deliveryTimeoutMs: number): number {
  return Math.max(60_000, 30 * deliveryTimeoutMs);
}
