import { describe, expect, it } from "vitest";
import { CALLS_PER_INVOKER, readConfig } from "../../src/config";

const DEFAULTS = {
  allowPrivateTargets: false,
  serviceTargets: [],
  sharedShards: 16,
  invokersPerShard: 64,
  leaseGraceMs: 15_000,
  cacheTtlMs: 10_000,
  maxPayloadBytes: 1_048_576,
  inlineLimitBytes: 65_536,
  resultQueues: [],
  deliverySchedule: [0, 5, 30, 120, 600, 1800, 3600, 10800, 21600],
  deliveryTimeoutMs: 10_000,
  webhookSecretGraceMs: 86_400_000,
  maxChainDepth: 8,
  eventSources: {},
  aimdDecreaseFactor: 0.9,
  aimdCooldownMs: 100,
  aimdInitialWindow: 4,
  aimdIdleRestartMs: 60_000,
  dispatchOrder: "fair",
  taskLogs: "transitions",
  placementReviewMs: 5_000,
};

describe("readConfig", () => {
  it("uses the documented defaults when nothing is set", () => {
    expect(readConfig({})).toEqual(DEFAULTS);
  });

  it("payload limit defaults to 1 MiB and the inline limit to 64 KiB (API.md 413 row)", () => {
    expect(readConfig({}).maxPayloadBytes).toBe(1024 * 1024);
    expect(readConfig({}).inlineLimitBytes).toBe(64 * 1024);
  });

  it("reads every variable", () => {
    expect(
      readConfig({
        ALLOW_PRIVATE_TARGETS: "true",
        SERVICE_TARGETS: "DEMO_FN,OTHER_FN",
        SHARED_SHARDS: "4",
        INVOKERS_PER_SHARD: "2",
        LEASE_GRACE_MS: "1000",
        CACHE_TTL_MS: "1000",
        MAX_PAYLOAD_BYTES: "2048",
        INLINE_LIMIT_BYTES: "512",
        RESULT_QUEUES: "RESULTS, OTHER",
        DELIVERY_SCHEDULE_SECONDS: "0,1,2",
        DELIVERY_TIMEOUT_MS: "500",
        WEBHOOK_SECRET_GRACE_SECONDS: "60",
        MAX_CHAIN_DEPTH: "2",
        EVENT_SOURCES: '{"q1": {"account": "acme", "function": "f"}, "bad": {"account": 1}}',
        AIMD_DECREASE_FACTOR: "0.7",
        AIMD_COOLDOWN_MS: "250",
        AIMD_INITIAL_WINDOW: "10",
        AIMD_IDLE_RESTART_MS: "5000",
        DISPATCH_ORDER: "fifo",
        TASK_LOGS: "off",
        PLACEMENT_REVIEW_MS: "250",
      }),
    ).toEqual({
      allowPrivateTargets: true,
      serviceTargets: ["DEMO_FN", "OTHER_FN"],
      sharedShards: 4,
      invokersPerShard: 2,
      leaseGraceMs: 1000,
      cacheTtlMs: 1000,
      maxPayloadBytes: 2048,
      inlineLimitBytes: 512,
      resultQueues: ["RESULTS", "OTHER"],
      deliverySchedule: [0, 1, 2],
      deliveryTimeoutMs: 500,
      webhookSecretGraceMs: 60_000,
      maxChainDepth: 2,
      eventSources: { q1: { account: "acme", function: "f" } },
      aimdDecreaseFactor: 0.7,
      aimdCooldownMs: 250,
      aimdInitialWindow: 10,
      aimdIdleRestartMs: 5000,
      dispatchOrder: "fifo",
      taskLogs: "off",
      placementReviewMs: 250,
    });
  });

  it.each(["false", "", "TRUE", "True", "1", "yes", " true"])(
    'ALLOW_PRIVATE_TARGETS=%j is false (only "true" opts in)',
    (value) => {
      expect(readConfig({ ALLOW_PRIVATE_TARGETS: value }).allowPrivateTargets).toBe(false);
    },
  );

  it("trims service targets and drops empty entries", () => {
    expect(readConfig({ SERVICE_TARGETS: " DEMO_FN , ,OTHER ,," }).serviceTargets).toEqual(["DEMO_FN", "OTHER"]);
    expect(readConfig({ SERVICE_TARGETS: "" }).serviceTargets).toEqual([]);
    expect(readConfig({ SERVICE_TARGETS: " , " }).serviceTargets).toEqual([]);
  });

  it.each(["", "abc", "0", "-4", "1.5", "NaN", "Infinity", "4 shards"])(
    "falls back to the default for the invalid number %j",
    (value) => {
      expect(
        readConfig({
          SHARED_SHARDS: value,
          INVOKERS_PER_SHARD: value,
          LEASE_GRACE_MS: value,
          CACHE_TTL_MS: value,
          MAX_PAYLOAD_BYTES: value,
          INLINE_LIMIT_BYTES: value,
        }),
      ).toEqual(DEFAULTS);
    },
  );

  it("treats explicitly undefined vars as unset", () => {
    expect(readConfig({ SHARED_SHARDS: undefined, ALLOW_PRIVATE_TARGETS: undefined })).toEqual(DEFAULTS);
  });

  it("accepts large positive integers", () => {
    expect(readConfig({ MAX_PAYLOAD_BYTES: "10485760" }).maxPayloadBytes).toBe(10_485_760);
  });
});

describe("CALLS_PER_INVOKER", () => {
  it("is the Workers limit of 6 simultaneous outgoing connections", () => {
    expect(CALLS_PER_INVOKER).toBe(6);
  });
});

describe("delivery settings", () => {
  it("falls back to the default schedule when DELIVERY_SCHEDULE_SECONDS is malformed", () => {
    for (const bad of ["", "a,b", "1,-1", "1.5", "99999999"]) {
      expect(readConfig({ DELIVERY_SCHEDULE_SECONDS: bad }).deliverySchedule).toEqual(DEFAULTS.deliverySchedule);
    }
  });

  it("ignores EVENT_SOURCES that is not JSON", () => {
    expect(readConfig({ EVENT_SOURCES: "{nope" }).eventSources).toEqual({});
  });
});

describe("AIMD settings", () => {
  it.each(["0", "1.5", "-0.2", "abc", "", "1.0"])("AIMD_DECREASE_FACTOR=%j falls back to 0.9", (value) => {
    expect(readConfig({ AIMD_DECREASE_FACTOR: value }).aimdDecreaseFactor).toBe(0.9);
  });

  it('AIMD_DECREASE_FACTOR="1" is a fixed window (the benchmarks\' contrast)', () => {
    expect(readConfig({ AIMD_DECREASE_FACTOR: "1" }).aimdDecreaseFactor).toBe(1);
  });
});
