import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type SimConfig, Simulation } from "../../sim/model";
import { BUSY_FRACTION, type FunctionLoad, MIN_FAILURE_IN_FLIGHT, planPlacement } from "../../src/placement/policy";
import { DEFAULT_PLACEMENT, placementSettings } from "../../src/placement/settings";

/** A tiny platform: 300 accounts on 8 shared shards for two minutes, a small flood, thresholds shrunk. */
function tiny(over: Partial<SimConfig> = {}): SimConfig {
  return {
    seed: 7,
    accounts: 300,
    sharedShards: 8,
    durationS: 120,
    tickMs: 50,
    evalEveryMs: 2_000,
    backgroundPerSec: 60,
    zipfExponent: 1,
    window: 20,
    execMs: [20, 500],
    flood: { ratePerSec: 400, startS: 10, endS: 40, execMs: 100, window: 50 },
    bursts: [{ ratePerSec: 30, startS: 20, endS: 30, execMs: 200, window: 20 }],
    failing: { ratePerSec: 2, startS: 0, endS: 50, execMs: 5_000, window: 20 },
    crowd: { accounts: 3, spec: { ratePerSec: 15, startS: 50, endS: 70, execMs: 100, window: 20 } },
    shardRequestsPerSec: 150,
    requestsPerCall: 3,
    requestsPerAccept: 0.05,
    invokerSlots: 24,
    settings: placementSettings({
      PLACEMENT_PROMOTE_BACKLOG: "100",
      PLACEMENT_PROMOTE_RATE: "10",
      PLACEMENT_SHARD_CALLS_PER_SEC: "40",
      PLACEMENT_RECLAIM_IDLE_MS: "20000",
      PLACEMENT_MIN_DWELL_MS: "8000",
      PLACEMENT_PARTITION_RATE: "40",
      PLACEMENT_PARTITION_BACKLOG: "500",
    }),
    placement: true,
    ...over,
  };
}

describe("placement simulation", () => {
  it("conserves tasks at every step: arrived = finished + queued + in flight", () => {
    const sim = new Simulation(tiny());
    for (let i = 0; i < 2_400; i++) {
      sim.step();
      if (i % 100 === 0) {
        const { queued, inFlight } = sim.backlog();
        expect(sim.totals.arrived).toBe(sim.totals.finished + queued + inFlight);
      }
    }
    const { queued, inFlight } = sim.backlog();
    expect(sim.totals.arrived).toBeGreaterThan(10_000);
    expect(sim.totals.arrived).toBe(sim.totals.finished + queued + inFlight);
    expect(sim.totals.dispatched).toBe(sim.totals.finished + inFlight);
  });

  it("drains everything once arrivals stop (no task stranded by a move): arrived = finished", () => {
    const sim = new Simulation(tiny({ durationS: 400, backgroundPerSec: 0.000001 }));
    sim.run();
    const { queued, inFlight } = sim.backlog();
    expect(queued).toBe(0);
    expect(inFlight).toBe(0);
    expect(sim.totals.arrived).toBe(sim.totals.finished);
    const kinds = new Set(sim.moves.map((m) => m.move.kind));
    expect(kinds.has("promote")).toBe(true);
    expect(kinds.has("reclaim")).toBe(true);
  });

  it("moves the flood off its shard, and moves nothing with placement off", () => {
    const on = new Simulation(tiny()).run();
    expect(on.floodPromotedAt).toBeDefined();
    expect(on.moves.some((m) => m.move.kind === "promote" && m.move.name === "flood")).toBe(true);
    const off = new Simulation(tiny({ placement: false })).run();
    expect(off.moves).toEqual([]);
    expect(off.floodPromotedAt).toBeUndefined();
  });

  it("is deterministic for a seed", () => {
    const a = new Simulation(tiny()).run();
    const b = new Simulation(tiny()).run();
    expect(b.totals).toEqual(a.totals);
    expect(b.moves).toEqual(a.moves);
    expect(b.minutes).toEqual(a.minutes);
    const c = new Simulation(tiny({ seed: 8 })).run();
    expect(c.totals).not.toEqual(a.totals);
  });
});

describe("the simulation's quiet-shard shortcut", () => {
  // sim/model.ts skips asking a shared shard with no busy function, fewer than MIN_FAILURE_IN_FLIGHT calls in
  // flight and calls below shardCallsPerSec: the policy must answer nothing for such a shard.
  it("matches the policy: a quiet shared shard gets no move", () => {
    const s = DEFAULT_PLACEMENT;
    const quiet = fc.record({
      account: fc.constantFrom("a", "b", "c"),
      name: fc.constantFrom("f", "g", "h", "i"),
      placement: fc.record({
        tier: fc.constantFrom("shared" as const, "dedicated" as const),
        partitions: fc.constant(1),
        since: fc.integer({ min: 0, max: 1_000 }),
        reason: fc.constantFrom("initial", "idle"),
        pinned: fc.boolean(),
      }),
      queued: fc.integer({ min: 0, max: s.promoteBacklog * BUSY_FRACTION - 1 }),
      arrivalsPerSec: fc.double({ min: 0, max: s.promoteRatePerSec * BUSY_FRACTION * 0.999, noNaN: true }),
      callsPerSec: fc.double({ min: 0, max: 50, noNaN: true }),
      inFlight: fc.integer({ min: 0, max: 1 }),
      failingPerSec: fc.double({ min: 0, max: 50, noNaN: true }),
      lastActiveAt: fc.integer({ min: 0, max: 1_000 }),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(quiet, { selector: (f) => `${f.account}/${f.name}`, maxLength: 12 }),
        fc.integer({ min: 0, max: MIN_FAILURE_IN_FLIGHT - 1 }),
        fc.double({ min: 0, max: s.shardCallsPerSec * 0.999, noNaN: true }),
        (functions: FunctionLoad[], inFlight, callsPerSec) => {
          expect(planPlacement({ tier: "shared", inFlight, callsPerSec, functions }, 10_000_000, s)).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });
});
