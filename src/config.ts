/**
 * @module
 * Platform settings from `[vars]` (strings, because Workers vars are strings), with the documented defaults.
 */

import { DEFAULT_DELIVERY_TIMEOUT_MS, parseSchedule } from "./delivery";
import { CONNECTIONS_PER_INVOCATION } from "./limits";

export interface PlatformConfig {
  readonly allowPrivateTargets: boolean;
  readonly serviceTargets: readonly string[];
  readonly sharedShards: number;
  readonly invokersPerShard: number;
  readonly leaseGraceMs: number;
  readonly cacheTtlMs: number;
  readonly maxPayloadBytes: number;
  readonly inlineLimitBytes: number;
  /** Producer bindings a `queue` destination may name. */
  readonly resultQueues: readonly string[];
  /** Seconds before each delivery attempt. */
  readonly deliverySchedule: readonly number[];
  readonly deliveryTimeoutMs: number;
  readonly webhookSecretGraceMs: number;
  readonly maxChainDepth: number;
  /**
   * AIMD: multiplier applied to a function's window when it pushes back (1: never cut, a fixed window, only as the
   * benchmarks' contrast), the least time between two cuts, the window a new or idle function starts slow from, and
   * the idle time after which it starts slow again.
   */
  readonly aimdDecreaseFactor: number;
  readonly aimdCooldownMs: number;
  readonly aimdInitialWindow: number;
  readonly aimdIdleRestartMs: number;
  /** `fair` (default) or `fifo`: one queue in arrival order per shard, only as the benchmarks' contrast. */
  readonly dispatchOrder: "fair" | "fifo";
  /** `transitions` (default): a JSON log line per task transition and delivery attempt; `off`: none (log volume). */
  readonly taskLogs: "transitions" | "off";
  /** Least time between two placement reviews of a busy shard (durable-objects/shard-placement.ts). */
  readonly placementReviewMs: number;
  /** Queues that feed functions: queue name -> { account, function }. */
  readonly eventSources: Readonly<Record<string, { account: string; function: string }>>;
}

type Vars = Partial<Record<keyof typeof VAR_NAMES, string | undefined>>;

const VAR_NAMES = {
  ALLOW_PRIVATE_TARGETS: true,
  SERVICE_TARGETS: true,
  SHARED_SHARDS: true,
  INVOKERS_PER_SHARD: true,
  LEASE_GRACE_MS: true,
  CACHE_TTL_MS: true,
  MAX_PAYLOAD_BYTES: true,
  INLINE_LIMIT_BYTES: true,
  RESULT_QUEUES: true,
  DELIVERY_SCHEDULE_SECONDS: true,
  DELIVERY_TIMEOUT_MS: true,
  WEBHOOK_SECRET_GRACE_SECONDS: true,
  MAX_CHAIN_DEPTH: true,
  EVENT_SOURCES: true,
  AIMD_DECREASE_FACTOR: true,
  AIMD_COOLDOWN_MS: true,
  AIMD_INITIAL_WINDOW: true,
  AIMD_IDLE_RESTART_MS: true,
  DISPATCH_ORDER: true,
  TASK_LOGS: true,
  PLACEMENT_REVIEW_MS: true,
} as const;

/** A number strictly between 0 and 1. */
function fraction(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return value !== undefined && value.trim() !== "" && n > 0 && n < 1 ? n : fallback;
}

function list(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/** `EVENT_SOURCES` is JSON; anything malformed means no event sources (and says so in the log). */
function parseEventSources(text: string | undefined): Record<string, { account: string; function: string }> {
  if (!text) return {};
  try {
    const value = JSON.parse(text) as unknown;
    if (value === null || typeof value !== "object") return {};
    const sources: Record<string, { account: string; function: string }> = {};
    for (const [queue, target] of Object.entries(value as Record<string, unknown>)) {
      const t = target as { account?: unknown; function?: unknown } | null;
      if (typeof t?.account === "string" && typeof t.function === "string") {
        sources[queue] = { account: t.account, function: t.function };
      }
    }
    return sources;
  } catch {
    console.error("EVENT_SOURCES is not valid JSON; no event sources are active");
    return {};
  }
}

function positiveInt(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

/** One parse per environment object: the invoker and gateway read settings on hot paths, and EVENT_SOURCES is JSON. */
const parsed = new WeakMap<object, PlatformConfig>();

export function readConfig(vars: Vars): PlatformConfig {
  let config = parsed.get(vars);
  if (!config) {
    config = parseConfig(vars);
    parsed.set(vars, config);
  }
  return config;
}

function parseConfig(vars: Vars): PlatformConfig {
  return {
    allowPrivateTargets: vars.ALLOW_PRIVATE_TARGETS === "true",
    serviceTargets: list(vars.SERVICE_TARGETS),
    sharedShards: positiveInt(vars.SHARED_SHARDS, 16),
    invokersPerShard: positiveInt(vars.INVOKERS_PER_SHARD, 64),
    leaseGraceMs: positiveInt(vars.LEASE_GRACE_MS, 15_000),
    cacheTtlMs: positiveInt(vars.CACHE_TTL_MS, 10_000),
    maxPayloadBytes: positiveInt(vars.MAX_PAYLOAD_BYTES, 1_048_576),
    inlineLimitBytes: positiveInt(vars.INLINE_LIMIT_BYTES, 65_536),
    resultQueues: list(vars.RESULT_QUEUES),
    deliverySchedule: parseSchedule(vars.DELIVERY_SCHEDULE_SECONDS),
    deliveryTimeoutMs: positiveInt(vars.DELIVERY_TIMEOUT_MS, DEFAULT_DELIVERY_TIMEOUT_MS),
    webhookSecretGraceMs: positiveInt(vars.WEBHOOK_SECRET_GRACE_SECONDS, 86_400) * 1000,
    maxChainDepth: positiveInt(vars.MAX_CHAIN_DEPTH, 8),
    eventSources: parseEventSources(vars.EVENT_SOURCES),
    aimdDecreaseFactor: vars.AIMD_DECREASE_FACTOR?.trim() === "1" ? 1 : fraction(vars.AIMD_DECREASE_FACTOR, 0.9),
    aimdCooldownMs: positiveInt(vars.AIMD_COOLDOWN_MS, 100),
    aimdInitialWindow: positiveInt(vars.AIMD_INITIAL_WINDOW, 4),
    aimdIdleRestartMs: positiveInt(vars.AIMD_IDLE_RESTART_MS, 60_000),
    dispatchOrder: vars.DISPATCH_ORDER === "fifo" ? "fifo" : "fair",
    taskLogs: vars.TASK_LOGS === "off" ? "off" : "transitions",
    placementReviewMs: positiveInt(vars.PLACEMENT_REVIEW_MS, 5_000),
  };
}

/** Tenant calls one invoker runs at once: all the open connections one invocation may hold. */
export const CALLS_PER_INVOKER = CONNECTIONS_PER_INVOCATION;
