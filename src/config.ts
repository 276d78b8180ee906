/**
 * @module
 * Platform settings from `[vars]` (strings, because Workers vars are strings), with the documented defaults.
 */

export interface PlatformConfig {
  readonly allowPrivateTargets: boolean;
  readonly serviceTargets: readonly string[];
  readonly sharedShards: number;
  readonly invokersPerShard: number;
  readonly leaseGraceMs: number;
  readonly cacheTtlMs: number;
  readonly maxPayloadBytes: number;
  readonly inlineLimitBytes: number;
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
} as const;

function positiveInt(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

export function readConfig(vars: Vars): PlatformConfig {
  return {
    allowPrivateTargets: vars.ALLOW_PRIVATE_TARGETS === "true",
    serviceTargets: (vars.SERVICE_TARGETS ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    sharedShards: positiveInt(vars.SHARED_SHARDS, 16),
    invokersPerShard: positiveInt(vars.INVOKERS_PER_SHARD, 64),
    leaseGraceMs: positiveInt(vars.LEASE_GRACE_MS, 15_000),
    cacheTtlMs: positiveInt(vars.CACHE_TTL_MS, 10_000),
    maxPayloadBytes: positiveInt(vars.MAX_PAYLOAD_BYTES, 1_048_576),
    inlineLimitBytes: positiveInt(vars.INLINE_LIMIT_BYTES, 65_536),
  };
}

/** Cloudflare caps each invocation at 6 simultaneously open outgoing connections; the 7th waits. */
export const CALLS_PER_INVOKER = 6;
