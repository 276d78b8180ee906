import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { charge, newDrrLevel, nextTurn } from "../../src/drr";
import { allocateFairly, callCost, type Demand, MAX_COST, newFairShareState } from "../../src/fair-share";

const unlimited = () => Number.POSITIVE_INFINITY;
const demand = (account: string, name: string, ready = 1_000, room = 1_000, cost = 1): Demand => ({
  account,
  key: `${account}/${name}`,
  ready,
  room,
  cost,
});
const sumBy = (calls: Map<string, number>, prefix: string) =>
  [...calls].filter(([k]) => k.startsWith(prefix)).reduce((a, [, n]) => a + n, 0);

/** Run `passes` passes of `slots` each over the same demands; total calls per key. */
function served(demands: readonly Demand[], passes: number, slots: number, accountRoom = unlimited) {
  const state = newFairShareState();
  const total = new Map<string, number>();
  for (let i = 0; i < passes; i++) {
    for (const [k, n] of allocateFairly(state, demands, slots, accountRoom).calls)
      total.set(k, (total.get(k) ?? 0) + n);
  }
  return total;
}

describe("drr level", () => {
  it("is plain round robin with unit costs, and asking twice without charging gives the same child", () => {
    const level = newDrrLevel();
    const order: string[] = [];
    for (let i = 0; i < 6; i++) {
      const key = nextTurn(level, ["a", "b", "c"], () => 1) as string;
      expect(nextTurn(level, ["a", "b", "c"], () => 1)).toBe(key);
      charge(level, key, 1);
      order.push(key);
    }
    expect(order).toEqual(["a", "b", "c", "a", "b", "c"]);
  });

  it("serves a child of cost 3 once per three turns of a child of cost 1", () => {
    const level = newDrrLevel();
    const costs: Record<string, number> = { slow: 3, fast: 1 };
    const order: string[] = [];
    for (let i = 0; i < 8; i++) {
      const key = nextTurn(level, ["fast", "slow"], (k) => costs[k] ?? 1) as string;
      charge(level, key, costs[key] ?? 1);
      order.push(key);
    }
    expect(order.filter((k) => k === "fast").length).toBe(6);
    expect(order.filter((k) => k === "slow").length).toBe(2);
  });

  it("fast-forwards whole rounds when nobody can pay yet (no spinning, still fair)", () => {
    const level = newDrrLevel();
    const key = nextTurn(level, ["x", "y"], () => 1_000_000);
    expect(key).toBe("x");
  });

  it("an empty set has no turn", () => {
    expect(nextTurn(newDrrLevel(), [], () => 1)).toBeUndefined();
  });
});

describe("allocateFairly", () => {
  it("matches the documented example", () => {
    const { calls } = allocateFairly(
      newFairShareState(),
      [demand("a", "f", 9, 9), demand("b", "g", 9, 9)],
      4,
      unlimited,
    );
    expect(Object.fromEntries(calls)).toEqual({ "a/f": 2, "b/g": 2 });
  });

  it("shares across accounts first: ten functions of one account weigh as much as one of another", () => {
    const many = Array.from({ length: 10 }, (_, i) => demand("many", `f${i}`));
    const total = served([...many, demand("one", "f")], 1, 200);
    expect(sumBy(total, "many/")).toBe(100);
    expect(sumBy(total, "one/")).toBe(100);
    // ... and then equally across that account's functions.
    for (let i = 0; i < 10; i++) expect(total.get(`many/f${i}`)).toBe(10);
  });

  it("a flood cannot starve a trickle: the small demand is served in full at once", () => {
    const { calls } = allocateFairly(
      newFairShareState(),
      [demand("flood", "slow", 1_000_000, 1_000), demand("quiet", "fast", 3, 10)],
      10,
      unlimited,
    );
    expect(calls.get("quiet/fast")).toBe(3);
    expect(calls.get("flood/slow")).toBe(7);
  });

  it("continues the rotation across passes of one slot each", () => {
    const demands = ["a", "b", "c"].map((a) => demand(a, "f"));
    const state = newFairShareState();
    const order = Array.from({ length: 6 }, () => [...allocateFairly(state, demands, 1, unlimited).calls.keys()][0]);
    expect(order).toEqual(["a/f", "b/f", "c/f", "a/f", "b/f", "c/f"]);
  });

  it("weights by execution time: slot time, not call counts, is shared", () => {
    // A 10 s function (cost 100) and a 100 ms function (cost 1), one freed slot per pass.
    const total = served(
      [demand("slow", "f", 1e6, 1e6, callCost(10_000)), demand("fast", "f", 1e6, 1e6, callCost(100))],
      2_020,
      1,
    );
    const slow = total.get("slow/f") ?? 0;
    const fast = total.get("fast/f") ?? 0;
    expect(slow).toBeGreaterThanOrEqual(19);
    expect(slow).toBeLessThanOrEqual(21);
    expect(fast).toBe(2_020 - slow);
  });

  it("respects the account's room across its functions", () => {
    const { calls, more } = allocateFairly(
      newFairShareState(),
      [demand("capped", "f"), demand("capped", "g"), demand("free", "h", 5, 5)],
      100,
      (account) => (account === "capped" ? 4 : Number.POSITIVE_INFINITY),
    );
    expect(sumBy(calls, "capped/")).toBe(4);
    expect(calls.get("free/h")).toBe(5);
    expect(more).toBe(false);
  });

  it("callCost is at least 1 and at most MAX_COST", () => {
    expect(callCost(undefined)).toBe(1);
    expect(callCost(0)).toBe(1);
    expect(callCost(250)).toBe(3);
    expect(callCost(1e12)).toBe(MAX_COST);
    expect(callCost(Number.NaN)).toBe(1);
  });

  const demandsArb = fc
    .array(
      fc.record({
        account: fc.constantFrom("a", "b", "c", "d"),
        name: fc.constantFrom("f", "g", "h"),
        ready: fc.integer({ min: 0, max: 50 }),
        room: fc.integer({ min: -3, max: 50 }),
        cost: fc.integer({ min: 1, max: 40 }),
      }),
      { maxLength: 12 },
    )
    .map((rows) => {
      const seen = new Set<string>();
      return rows
        .filter((r) => !seen.has(`${r.account}/${r.name}`) && seen.add(`${r.account}/${r.name}`))
        .map((r) => demand(r.account, r.name, r.ready, r.room, r.cost));
    });
  const roomsArb = fc.record({ a: fc.integer({ min: 0, max: 60 }), b: fc.integer({ min: 0, max: 60 }) });

  it("is work conserving and never exceeds any bound (property)", () => {
    fc.assert(
      fc.property(demandsArb, roomsArb, fc.integer({ min: 0, max: 150 }), (demands, rooms, slots) => {
        const accountRoom = (a: string) => (a === "a" ? rooms.a : a === "b" ? rooms.b : Number.POSITIVE_INFINITY);
        const { calls, more } = allocateFairly(newFairShareState(), demands, slots, accountRoom);
        const total = [...calls.values()].reduce((x, y) => x + y, 0);
        for (const d of demands)
          expect(calls.get(d.key) ?? 0).toBeLessThanOrEqual(Math.max(0, Math.min(d.ready, d.room)));
        const byAccount = new Map<string, number>();
        for (const d of demands) {
          byAccount.set(d.account, (byAccount.get(d.account) ?? 0) + Math.max(0, Math.min(d.ready, d.room)));
        }
        let possible = 0;
        for (const [account, n] of byAccount) {
          expect(sumBy(calls, `${account}/`)).toBeLessThanOrEqual(accountRoom(account));
          possible += Math.min(n, accountRoom(account));
        }
        // Work conserving: it stops only when the slots or the work run out.
        expect(total).toBe(Math.min(slots, possible));
        expect(more).toBe(possible > slots);
      }),
    );
  });

  it("no backlogged account starves, whatever the costs (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 2, maxLength: 5 }),
        fc.integer({ min: 1, max: 3 }),
        (costs, slots) => {
          const demands = costs.map((cost, i) => demand(`acct${i}`, "f", 1e6, 1e6, cost));
          const state = newFairShareState();
          const lastServed = new Map<string, number>();
          const maxCost = Math.max(...costs);
          // Within one round every account can pay once it has had maxCost turns: n * maxCost passes at most.
          const bound = costs.length * maxCost + 1;
          for (let pass = 0; pass < 4 * bound; pass++) {
            for (const key of allocateFairly(state, demands, slots, unlimited).calls.keys()) lastServed.set(key, pass);
            for (const d of demands) expect(pass - (lastServed.get(d.key) ?? -1)).toBeLessThanOrEqual(bound);
          }
        },
      ),
    );
  });

  it("long-run shares follow slot time within each level (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 2, maxLength: 4 }), (costs) => {
        const demands = costs.map((cost, i) => demand(`acct${i}`, "f", 1e6, 1e6, cost));
        const passes = 400 * costs.reduce((a, b) => a + b, 0);
        const total = served(demands, passes / 10, 10);
        const slotTimes = demands.map((d) => (total.get(d.key) ?? 0) * d.cost);
        const max = Math.max(...slotTimes);
        const min = Math.min(...slotTimes);
        expect((max - min) / max).toBeLessThan(0.05);
      }),
      { numRuns: 40 },
    );
  });
});
