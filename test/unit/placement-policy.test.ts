import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type FunctionLoad,
  type FunctionPlacement,
  MIN_FAILURE_IN_FLIGHT,
  type PlacementMove,
  partitionsFor,
  planPlacement,
  type ShardLoad,
  type Tier,
} from "../../src/placement/policy";
import { DEFAULT_PLACEMENT, type PlacementSettings, placementSettings } from "../../src/placement/settings";

const S = DEFAULT_PLACEMENT;
const NOW = 10_000_000;

function load(
  account: string,
  name: string,
  over: Partial<FunctionLoad> = {},
  placement: Partial<FunctionPlacement> = {},
) {
  return {
    account,
    name,
    queued: 0,
    arrivalsPerSec: 0,
    callsPerSec: 0,
    inFlight: 0,
    failingPerSec: 0,
    lastActiveAt: NOW,
    ...over,
    placement: { tier: "shared", partitions: 1, since: 0, reason: "initial", pinned: false, ...placement },
  } satisfies FunctionLoad;
}

function shard(tier: Tier, functions: FunctionLoad[], over: Partial<ShardLoad> = {}): ShardLoad {
  const inFlight = functions.reduce((a, f) => a + f.inFlight, 0);
  const callsPerSec = functions.reduce((a, f) => a + f.callsPerSec, 0);
  return { tier, inFlight, callsPerSec, functions, ...over };
}

const plan = (s: ShardLoad, settings: PlacementSettings = S, now = NOW) => planPlacement(s, now, settings);
const promote = (account: string, name: string, reason: string, partitions = 1) => ({
  kind: "promote",
  account,
  name,
  partitions,
  reason,
});

describe("promotion from a shared shard", () => {
  it("promotes for backlog when far above every mate", () => {
    const moves = plan(shard("shared", [load("a", "flood", { queued: 5_000 }), load("b", "quiet", { queued: 100 })]));
    expect(moves).toEqual([promote("a", "flood", "backlog")]);
  });

  it("does not promote below the backlog threshold", () => {
    expect(plan(shard("shared", [load("a", "f", { queued: 999 }), load("b", "g")]))).toEqual([]);
  });

  it("does not promote a backlog that is not dominant (mates nearly as deep)", () => {
    const moves = plan(shard("shared", [load("a", "f", { queued: 5_000 }), load("b", "g", { queued: 2_000 })]));
    expect(moves).toEqual([]);
    const dominant = plan(shard("shared", [load("a", "f", { queued: 8_000 }), load("b", "g", { queued: 2_000 })]));
    expect(dominant).toEqual([promote("a", "f", "backlog")]);
  });

  it("promotes a lone function of a shared shard on the absolute threshold alone", () => {
    expect(plan(shard("shared", [load("a", "f", { queued: 1_000 })]))).toEqual([promote("a", "f", "backlog")]);
  });

  it("promotes for arrival rate when far above the mates, not when they are close", () => {
    const mates = (rate: number) => [
      load("a", "hot", { arrivalsPerSec: 60 }),
      load("b", "g", { arrivalsPerSec: rate }),
    ];
    expect(plan(shard("shared", mates(10)))).toEqual([promote("a", "hot", "arrival-rate")]);
    expect(plan(shard("shared", mates(20)))).toEqual([]);
    expect(plan(shard("shared", [load("a", "hot", { arrivalsPerSec: 49 })]))).toEqual([]);
  });

  it("sizes the first partitions from the load", () => {
    const moves = plan(shard("shared", [load("a", "hot", { arrivalsPerSec: 5_000, queued: 30_000 })]));
    expect(moves).toEqual([promote("a", "hot", "backlog", 8)]);
    const rate = plan(shard("shared", [load("a", "hot", { arrivalsPerSec: 450 })]));
    expect(rate).toEqual([promote("a", "hot", "arrival-rate", 3)]);
  });

  it("promotes a function whose failing calls hold a large share of the shard's calls in flight", () => {
    const failing = load("a", "bad", { inFlight: 40, callsPerSec: 10, failingPerSec: 8 });
    const quiet = load("b", "ok", { inFlight: 10, callsPerSec: 50 });
    expect(plan(shard("shared", [failing, quiet]))).toEqual([promote("a", "bad", "failures")]);
    // Mostly succeeding: its failing calls hold 40 × 0.3 = 12 of 50.
    const healthy = load("a", "bad", { inFlight: 40, callsPerSec: 10, failingPerSec: 3 });
    expect(plan(shard("shared", [healthy, quiet]))).toEqual([]);
  });

  it("ignores failures on a nearly idle shard", () => {
    const failing = load("a", "bad", { inFlight: MIN_FAILURE_IN_FLIGHT - 2, callsPerSec: 1, failingPerSec: 1 });
    expect(plan(shard("shared", [failing, load("b", "ok", { inFlight: 1 })]))).toEqual([]);
  });

  it("promotes the busiest caller of a saturated shard if it carries a quarter of the calls", () => {
    const busy = load("a", "busy", { callsPerSec: 100, arrivalsPerSec: 100 });
    const others = ["b", "c", "d", "e"].map((acct) => load(acct, "f", { callsPerSec: 55, arrivalsPerSec: 55 }));
    expect(plan(shard("shared", [busy, ...others]))).toEqual([promote("a", "busy", "shard-saturated")]);
    const spread = ["a", "b", "c", "d", "e", "g"].map((acct) => load(acct, "f", { callsPerSec: 55 }));
    expect(plan(shard("shared", spread))).toEqual([]);
    // Below the shard's limit nothing moves, however the calls are spread.
    expect(plan(shard("shared", [busy, ...others.slice(0, 2)]))).toEqual([]);
  });

  it("on a saturated shard, moves a busy account instead of one of its functions", () => {
    const fns = ["a", "b", "c", "d"].map((n) => load("big", n, { callsPerSec: 80, arrivalsPerSec: 80 }));
    expect(plan(shard("shared", fns))).toEqual([
      { kind: "promote-account", account: "big", functions: ["a", "b", "c", "d"], reason: "busy-account" },
    ]);
  });

  it("does not count the calls of a function that already left when judging saturation", () => {
    const left = load("a", "gone", { callsPerSec: 110 }, { tier: "dedicated", reason: "shard-saturated", since: 0 });
    const stay = ["b", "c"].map((acct) => load(acct, "f", { callsPerSec: 110, arrivalsPerSec: 110 }));
    expect(plan(shard("shared", [left, ...stay]))).toEqual([]);
    const third = load("d", "f", { callsPerSec: 110, arrivalsPerSec: 110 });
    expect(plan(shard("shared", [left, ...stay, third]))).toEqual([promote("b", "f", "shard-saturated")]);
  });

  it("never moves a pinned function, but still counts it as a mate", () => {
    const pinned = load("a", "f", { queued: 50_000, arrivalsPerSec: 500 }, { pinned: true });
    expect(plan(shard("shared", [pinned]))).toEqual([]);
    const second = load("b", "g", { queued: 5_000 });
    expect(plan(shard("shared", [pinned, second]))).toEqual([]);
    // Saturated with a pinned leader: the busiest movable caller goes if it has a quarter.
    const lead = load("a", "f", { callsPerSec: 200 }, { pinned: true });
    const next = load("b", "g", { callsPerSec: 120 });
    expect(plan(shard("shared", [lead, next]))).toEqual([promote("b", "g", "shard-saturated")]);
  });

  it("does not move a function that already left this shard (its old tasks still drain here)", () => {
    const draining = load("a", "f", { queued: 30_000 }, { tier: "dedicated", reason: "backlog", since: 0 });
    const mate = load("b", "g", { queued: 5_000 });
    expect(plan(shard("shared", [draining, mate]))).toEqual([]);
  });

  it("gives each function at most one move", () => {
    const f = load("a", "f", {
      queued: 5_000,
      arrivalsPerSec: 500,
      inFlight: 50,
      callsPerSec: 400,
      failingPerSec: 400,
    });
    const moves = plan(shard("shared", [f]));
    expect(moves).toEqual([promote("a", "f", "backlog", 3)]);
  });
});

describe("promotion from an account shard", () => {
  const acct = { tier: "account" as const };

  it("promotes a dominant function over its account mates", () => {
    const moves = plan(
      shard("account", [load("a", "f", { queued: 5_000 }, acct), load("a", "g", { queued: 10 }, acct)]),
    );
    expect(moves).toEqual([promote("a", "f", "backlog")]);
  });

  it("does not promote the only function of an account shard for backlog or failures alone", () => {
    expect(plan(shard("account", [load("a", "f", { queued: 500_000 }, acct)]))).toEqual([]);
    const failing = load("a", "f", { inFlight: 100, callsPerSec: 10, failingPerSec: 10 }, acct);
    expect(plan(shard("account", [failing]))).toEqual([]);
  });

  it("promotes the only function of an account shard when its rate needs several partitions", () => {
    expect(plan(shard("account", [load("a", "f", { arrivalsPerSec: 150 }, acct)]))).toEqual([]);
    expect(plan(shard("account", [load("a", "f", { arrivalsPerSec: 450 }, acct)]))).toEqual([
      promote("a", "f", "arrival-rate", 3),
    ]);
  });

  it("reclaims an idle function of an account shard to the shared tier", () => {
    const idle = load("a", "f", { lastActiveAt: NOW - S.reclaimIdleMs }, { tier: "account", reason: "busy-account" });
    expect(plan(shard("account", [idle]))).toEqual([
      { kind: "reclaim", account: "a", name: "f", to: "shared", reason: "idle" },
    ]);
  });
});

describe("account promotion", () => {
  it("moves an account with several busy functions and no dominant one, with all its movable functions", () => {
    const fns = [
      load("big", "a", { queued: 200 }),
      load("big", "b", { queued: 150 }),
      load("big", "c", { arrivalsPerSec: 6 }),
      load("big", "idle"),
      load("big", "pinned", { queued: 400 }, { pinned: true }),
      load("small", "x", { queued: 50 }),
    ];
    expect(plan(shard("shared", fns))).toEqual([
      { kind: "promote-account", account: "big", functions: ["a", "b", "c", "idle"], reason: "busy-account" },
    ]);
  });

  it("promotes the dominant function alone instead", () => {
    const fns = [
      load("big", "a", { queued: 5_000 }),
      load("big", "b", { queued: 150 }),
      load("big", "c", { queued: 150 }),
    ];
    expect(plan(shard("shared", fns))).toEqual([promote("big", "a", "backlog")]);
  });

  it("leaves an account with fewer busy functions than the threshold", () => {
    const fns = [
      load("big", "a", { queued: 200 }),
      load("big", "b", { queued: 150 }),
      load("big", "c", { queued: 99 }),
    ];
    expect(plan(shard("shared", fns))).toEqual([]);
  });

  it("does not move an account off an account shard (it is there already)", () => {
    const acct = { tier: "account" as const };
    const fns = ["a", "b", "c"].map((n) => load("big", n, { queued: 200 }, acct));
    expect(plan(shard("account", fns))).toEqual([]);
  });
});

describe("dwell", () => {
  const moved = (since: number) => ({ since, reason: "idle" });

  it("does not move a function again within minDwellMs of its last move", () => {
    const recent = load("a", "f", { queued: 5_000 }, moved(NOW - S.minDwellMs + 1));
    expect(plan(shard("shared", [recent]))).toEqual([]);
    const settled = load("a", "f", { queued: 5_000 }, moved(NOW - S.minDwellMs));
    expect(plan(shard("shared", [settled]))).toEqual([promote("a", "f", "backlog")]);
  });

  it("lets a function that never moved be promoted at once, however new", () => {
    expect(plan(shard("shared", [load("a", "f", { queued: 5_000 }, { since: NOW })]))).toEqual([
      promote("a", "f", "backlog"),
    ]);
  });

  it("holds an account promotion while one of its functions dwells", () => {
    const fns = [
      load("big", "a", { queued: 200 }),
      load("big", "b", { queued: 200 }),
      load("big", "c", { queued: 200 }, moved(NOW - 1_000)),
    ];
    expect(plan(shard("shared", fns))).toEqual([]);
  });
});

describe("dedicated shards", () => {
  const dedicated = (partitions: number, since: number, reason = "backlog") => ({
    tier: "dedicated" as const,
    partitions,
    since,
    reason,
  });

  it("adds partitions after a quarter of the dwell, not before", () => {
    const grow = (since: number) =>
      plan(shard("dedicated", [load("a", "f", { arrivalsPerSec: 500 }, dedicated(1, since))]));
    expect(grow(NOW - S.minDwellMs / 4 + 1)).toEqual([]);
    expect(grow(NOW - S.minDwellMs / 4)).toEqual([
      { kind: "repartition", account: "a", name: "f", partitions: 3, reason: "load" },
    ]);
  });

  it("removes partitions only after the whole dwell, and only below half of the smaller count's size", () => {
    const shrink = (rate: number, since: number) =>
      plan(shard("dedicated", [load("a", "f", { arrivalsPerSec: rate, callsPerSec: rate }, dedicated(4, since))]));
    expect(shrink(150, NOW - S.minDwellMs + 1)).toEqual([]);
    expect(shrink(150, NOW - S.minDwellMs)).toEqual([
      { kind: "repartition", account: "a", name: "f", partitions: 2, reason: "load" },
    ]);
    // 350/s needs 2 partitions, but would run 2 or 3 at over half their size: it keeps 4.
    expect(shrink(350, NOW - S.minDwellMs)).toEqual([]);
  });

  it("reclaims a dedicated function idle for reclaimIdleMs with nothing queued or running", () => {
    const idle = (over: Partial<FunctionLoad>) =>
      plan(shard("dedicated", [load("a", "f", { lastActiveAt: NOW - S.reclaimIdleMs, ...over }, dedicated(2, 0))]));
    expect(idle({})).toEqual([{ kind: "reclaim", account: "a", name: "f", to: "shared", reason: "idle" }]);
    expect(idle({ lastActiveAt: NOW - S.reclaimIdleMs + 1 })).toEqual([
      { kind: "repartition", account: "a", name: "f", partitions: 1, reason: "load" },
    ]);
    expect(idle({ queued: 1 })).toEqual([
      { kind: "repartition", account: "a", name: "f", partitions: 1, reason: "load" },
    ]);
    expect(idle({ inFlight: 1 })).toEqual([
      { kind: "repartition", account: "a", name: "f", partitions: 1, reason: "load" },
    ]);
  });

  it("does not reclaim within the dwell of the promotion", () => {
    const fresh = load("a", "f", { lastActiveAt: 0 }, dedicated(1, NOW - 1_000));
    expect(plan(shard("dedicated", [fresh]))).toEqual([]);
  });

  it("never repartitions or reclaims a pinned dedicated function", () => {
    const pinned = load("a", "f", { arrivalsPerSec: 1_000, lastActiveAt: 0 }, { ...dedicated(1, 0), pinned: true });
    expect(plan(shard("dedicated", [pinned]))).toEqual([]);
  });

  it("brings a stored count above maxPartitions back within bounds", () => {
    const over = load("a", "f", { arrivalsPerSec: 5_000 }, dedicated(12, 0));
    expect(plan(shard("dedicated", [over]))).toEqual([
      { kind: "repartition", account: "a", name: "f", partitions: 8, reason: "load" },
    ]);
  });
});

describe("partitionsFor", () => {
  const at = (queued: number, rate: number, current = 1, s = S) =>
    partitionsFor({ queued, arrivalsPerSec: rate, callsPerSec: 0 }, current, s);

  it("grows with backlog and with rate, taking the larger need", () => {
    expect(at(0, 0)).toBe(1);
    expect(at(20_000, 0)).toBe(1);
    expect(at(20_001, 0)).toBe(2);
    expect(at(45_000, 0)).toBe(3);
    expect(at(0, 201)).toBe(2);
    expect(at(45_000, 601)).toBe(4);
    expect(partitionsFor({ queued: 0, arrivalsPerSec: 10, callsPerSec: 650 }, 1, S)).toBe(4);
  });

  it("is clamped to 1..maxPartitions", () => {
    expect(at(10_000_000, 100_000)).toBe(8);
    // A load that is not a finite number says nothing.
    expect(at(Number.NaN, Number.POSITIVE_INFINITY)).toBe(1);
    expect(at(-5, -5)).toBe(1);
    expect(at(0, 0, 0)).toBe(1);
    expect(at(0, 5_000, 99)).toBe(8);
  });

  it("goes up at once and down only below half of what the smaller count is sized for", () => {
    expect(at(0, 450, 1)).toBe(3);
    expect(at(0, 190, 2)).toBe(2);
    expect(at(0, 100, 2)).toBe(2);
    expect(at(0, 99, 2)).toBe(1);
    expect(at(0, 250, 4)).toBe(3);
    expect(at(0, 0, 8)).toBe(1);
    expect(at(25_000, 0, 3)).toBe(3);
    expect(at(9_000, 0, 3)).toBe(1);
  });

  it("does not flap on a load that hovers around a partition boundary", () => {
    let current = 1;
    let changes = 0;
    for (let i = 0; i < 200; i++) {
      const next = at(0, i % 2 === 0 ? 190 : 215, current);
      if (next !== current) changes++;
      current = next;
    }
    expect(changes).toBe(1);
    expect(current).toBe(2);
  });
});

describe("no flapping between promotion and reclaim", () => {
  /** Apply moves to one function's placement, as the runtime would, over a load that comes and goes. */
  function run(busyMs: number, idleMs: number, totalMs: number, stepMs = 10_000) {
    let placement: FunctionPlacement = { tier: "shared", partitions: 1, since: 0, reason: "initial", pinned: false };
    let lastActiveAt = 0;
    const moves: PlacementMove[] = [];
    for (let t = 0; t <= totalMs; t += stepMs) {
      const busy = t % (busyMs + idleMs) < busyMs;
      if (busy) lastActiveAt = t;
      const rate = busy ? 100 : 0;
      const f = load("a", "f", { arrivalsPerSec: rate, callsPerSec: rate, lastActiveAt }, placement);
      const mate = load("b", "g", { arrivalsPerSec: 1 });
      const tier = placement.tier;
      const s = shard(tier, tier === "shared" ? [f, mate] : [f]);
      for (const m of planPlacement(s, t, S)) {
        moves.push(m);
        if (m.kind === "promote")
          placement = { ...placement, tier: "dedicated", partitions: m.partitions, since: t, reason: m.reason };
        if (m.kind === "reclaim")
          placement = { ...placement, tier: "shared", partitions: 1, since: t, reason: m.reason };
        if (m.kind === "repartition")
          placement = { ...placement, partitions: m.partitions, since: t, reason: m.reason };
      }
    }
    return moves;
  }

  it("stays promoted while a load comes back every few minutes", () => {
    const moves = run(300_000, 300_000, 2 * 3_600_000);
    expect(moves.map((m) => m.kind)).toEqual(["promote"]);
  });

  it("is reclaimed once the load stays away, and promoted again when it returns", () => {
    const moves = run(300_000, 1_200_000, 2_900_000);
    expect(moves.map((m) => m.kind)).toEqual(["promote", "reclaim", "promote", "reclaim"]);
  });
});

describe("placementSettings", () => {
  it("gives the documented defaults without vars", () => {
    expect(placementSettings({})).toEqual(DEFAULT_PLACEMENT);
  });

  it("reads every PLACEMENT_* var (tests shrink them)", () => {
    const s = placementSettings({
      PLACEMENT_PROMOTE_BACKLOG: "20",
      PLACEMENT_PROMOTE_RATE: "2.5",
      PLACEMENT_DOMINANCE: "2",
      PLACEMENT_FAILURE_SHARE: "0.25",
      PLACEMENT_SHARD_CALLS_PER_SEC: "30",
      PLACEMENT_RECLAIM_IDLE_MS: "2000",
      PLACEMENT_MIN_DWELL_MS: "500",
      PLACEMENT_MAX_PARTITIONS: "4",
      PLACEMENT_PARTITION_RATE: "10",
      PLACEMENT_PARTITION_BACKLOG: "100",
      PLACEMENT_ACCOUNT_FUNCTIONS: "2",
    });
    expect(s).toEqual({
      promoteBacklog: 20,
      promoteRatePerSec: 2.5,
      dominance: 2,
      failureShare: 0.25,
      shardCallsPerSec: 30,
      reclaimIdleMs: 2_000,
      minDwellMs: 500,
      maxPartitions: 4,
      partitionRatePerSec: 10,
      partitionBacklog: 100,
      accountBusyFunctions: 2,
    });
  });

  it("falls back to the default of each nonsensical value", () => {
    const s = placementSettings({
      PLACEMENT_PROMOTE_BACKLOG: "0",
      PLACEMENT_PROMOTE_RATE: "-3",
      PLACEMENT_DOMINANCE: "0.5",
      PLACEMENT_FAILURE_SHARE: "1.5",
      PLACEMENT_SHARD_CALLS_PER_SEC: "abc",
      PLACEMENT_RECLAIM_IDLE_MS: "",
      PLACEMENT_MIN_DWELL_MS: "NaN",
      PLACEMENT_MAX_PARTITIONS: "2.5",
      PLACEMENT_PARTITION_RATE: "Infinity",
      PLACEMENT_PARTITION_BACKLOG: " ",
      PLACEMENT_ACCOUNT_FUNCTIONS: undefined,
    });
    expect(s).toEqual(DEFAULT_PLACEMENT);
  });
});

describe("properties", () => {
  const tierArb = fc.constantFrom<Tier>("shared", "account", "dedicated");
  const num = fc.oneof(
    fc.constant(0),
    fc.double({ min: 0, max: 10_000, noNaN: true }),
    fc.integer({ min: 0, max: 200_000 }),
  );
  const placementArb = fc.record({
    tier: tierArb,
    partitions: fc.integer({ min: 0, max: 12 }),
    since: fc.integer({ min: 0, max: NOW }),
    reason: fc.constantFrom("initial", "backlog", "idle", "load", "busy-account"),
    pinned: fc.boolean(),
  });
  const functionArb = fc.record({
    account: fc.constantFrom("a", "b", "c", "d"),
    name: fc.constantFrom("f", "g", "h", "i", "j"),
    placement: placementArb,
    queued: num,
    arrivalsPerSec: num,
    callsPerSec: num,
    inFlight: fc.integer({ min: 0, max: 500 }),
    failingPerSec: num,
    lastActiveAt: fc.integer({ min: 0, max: NOW }),
  });
  const shardArb = fc.record({
    tier: tierArb,
    inFlight: fc.integer({ min: 0, max: 2_000 }),
    callsPerSec: num,
    functions: fc.uniqueArray(functionArb, { selector: (f) => `${f.account}/${f.name}`, maxLength: 12 }),
  });
  const settingsArb = fc.record({
    promoteBacklog: fc.integer({ min: 1, max: 5_000 }),
    promoteRatePerSec: fc.integer({ min: 1, max: 200 }),
    dominance: fc.double({ min: 1, max: 10, noNaN: true }),
    failureShare: fc.double({ min: 0.05, max: 1, noNaN: true }),
    shardCallsPerSec: fc.integer({ min: 1, max: 1_000 }),
    reclaimIdleMs: fc.integer({ min: 1, max: 1_000_000 }),
    minDwellMs: fc.integer({ min: 1, max: 1_000_000 }),
    maxPartitions: fc.integer({ min: 1, max: 16 }),
    partitionRatePerSec: fc.integer({ min: 1, max: 500 }),
    partitionBacklog: fc.integer({ min: 1, max: 50_000 }),
    accountBusyFunctions: fc.integer({ min: 1, max: 5 }),
  });
  const touched = (m: PlacementMove) =>
    m.kind === "promote-account" ? m.functions.map((n) => `${m.account}/${n}`) : [`${m.account}/${m.name}`];

  it("moves each function at most once, never a pinned one, within 1..maxPartitions, deterministically", () => {
    fc.assert(
      fc.property(shardArb, settingsArb, fc.integer({ min: 0, max: 2 * NOW }), (s, settings, now) => {
        const moves = planPlacement(s, now, settings);
        const keys = moves.flatMap(touched);
        expect(new Set(keys).size).toBe(keys.length);
        const byKey = new Map(s.functions.map((f) => [`${f.account}/${f.name}`, f]));
        for (const key of keys) {
          const f = byKey.get(key);
          expect(f).toBeDefined();
          expect(f!.placement.pinned).toBe(false);
          expect(f!.placement.tier).toBe(s.tier);
        }
        for (const m of moves) {
          if (m.kind === "promote" || m.kind === "repartition") {
            expect(m.partitions).toBeGreaterThanOrEqual(1);
            expect(m.partitions).toBeLessThanOrEqual(settings.maxPartitions);
            expect(Number.isInteger(m.partitions)).toBe(true);
          }
        }
        expect(planPlacement(s, now, settings)).toEqual(moves);
        expect(planPlacement({ ...s, functions: [...s.functions].reverse() }, now, settings)).toEqual(moves);
      }),
      { numRuns: 500 },
    );
  });

  it("partitionsFor stays within 1..maxPartitions for any load and current count", () => {
    const anyNum = fc.oneof(fc.double(), fc.integer({ min: -10, max: 1_000_000 }));
    fc.assert(
      fc.property(
        anyNum,
        anyNum,
        anyNum,
        fc.oneof(fc.double(), fc.integer({ min: -5, max: 50 })),
        settingsArb,
        (q, a, c, cur, s) => {
          const n = partitionsFor({ queued: q, arrivalsPerSec: a, callsPerSec: c }, cur, s);
          expect(Number.isInteger(n)).toBe(true);
          expect(n).toBeGreaterThanOrEqual(1);
          expect(n).toBeLessThanOrEqual(s.maxPartitions);
        },
      ),
      { numRuns: 500 },
    );
  });
});
