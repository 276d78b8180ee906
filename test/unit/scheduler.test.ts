import { describe, expect, it } from "vitest";
import { allocateDispatch, type DispatchCandidate, pickInvoker } from "../../src/scheduler";

function asObject(map: Map<string, number>): Record<string, number> {
  return Object.fromEntries(map);
}

function total(map: Map<string, number>): number {
  return [...map.values()].reduce((a, b) => a + b, 0);
}

describe("allocateDispatch", () => {
  it("matches the documented example", () => {
    const result = allocateDispatch(
      [
        { key: "a", room: 5, ready: 100 },
        { key: "b", room: 5, ready: 1 },
      ],
      4,
      0,
    );
    expect(asObject(result)).toEqual({ a: 3, b: 1 });
  });

  it("shares the budget equally (round robin) when everyone has a backlog", () => {
    const candidates = ["a", "b", "c", "d"].map((key) => ({ key, room: 100, ready: 1000 }));
    expect(asObject(allocateDispatch(candidates, 40, 0))).toEqual({ a: 10, b: 10, c: 10, d: 10 });
  });

  it("a deep backlog cannot starve a small one", () => {
    const result = allocateDispatch(
      [
        { key: "noisy", room: 1000, ready: 1_000_000 },
        { key: "quiet", room: 10, ready: 3 },
      ],
      10,
      0,
    );
    expect(asObject(result)).toEqual({ noisy: 7, quiet: 3 });
  });

  it("gives the remainder of an uneven budget to the candidates from the rotation start", () => {
    const candidates = ["a", "b", "c"].map((key) => ({ key, room: 10, ready: 10 }));
    expect(asObject(allocateDispatch(candidates, 4, 0))).toEqual({ a: 2, b: 1, c: 1 });
    expect(asObject(allocateDispatch(candidates, 4, 1))).toEqual({ a: 1, b: 2, c: 1 });
    expect(asObject(allocateDispatch(candidates, 4, 2))).toEqual({ a: 1, b: 1, c: 2 });
    expect(asObject(allocateDispatch(candidates, 5, 2))).toEqual({ a: 2, b: 1, c: 2 });
  });

  it("rotation start wraps modulo the number of candidates", () => {
    const candidates = ["a", "b", "c"].map((key) => ({ key, room: 10, ready: 10 }));
    expect(asObject(allocateDispatch(candidates, 1, 0))).toEqual({ a: 1 });
    expect(asObject(allocateDispatch(candidates, 1, 1))).toEqual({ b: 1 });
    expect(asObject(allocateDispatch(candidates, 1, 2))).toEqual({ c: 1 });
    expect(asObject(allocateDispatch(candidates, 1, 3))).toEqual({ a: 1 });
    expect(asObject(allocateDispatch(candidates, 1, 3001))).toEqual({ b: 1 });
  });

  it("successive passes with an advancing start serve every candidate equally", () => {
    const candidates = ["a", "b", "c"].map((key) => ({ key, room: 10, ready: 10 }));
    const served: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (let pass = 0; pass < 30; pass++) {
      for (const [key, n] of allocateDispatch(candidates, 1, pass)) served[key] = (served[key] ?? 0) + n;
    }
    expect(served).toEqual({ a: 10, b: 10, c: 10 });
  });

  it("never gives more than room", () => {
    const result = allocateDispatch(
      [
        { key: "a", room: 2, ready: 100 },
        { key: "b", room: 3, ready: 100 },
      ],
      100,
      0,
    );
    expect(asObject(result)).toEqual({ a: 2, b: 3 });
  });

  it("never gives more than ready", () => {
    const result = allocateDispatch(
      [
        { key: "a", room: 100, ready: 1 },
        { key: "b", room: 100, ready: 4 },
      ],
      100,
      0,
    );
    expect(asObject(result)).toEqual({ a: 1, b: 4 });
  });

  it("passes unused share on to the others (work conserving)", () => {
    const result = allocateDispatch(
      [
        { key: "a", room: 1, ready: 50 },
        { key: "b", room: 50, ready: 0 },
        { key: "c", room: 50, ready: 50 },
      ],
      20,
      0,
    );
    expect(asObject(result)).toEqual({ a: 1, c: 19 });
  });

  it("never exceeds the budget", () => {
    const candidates: DispatchCandidate[] = Array.from({ length: 7 }, (_, i) => ({
      key: `f${i}`,
      room: 3 + i,
      ready: 2 * i + 1,
    }));
    for (let budget = 0; budget <= 60; budget++) {
      for (let start = 0; start < 7; start++) {
        const result = allocateDispatch(candidates, budget, start);
        const capacity = candidates.reduce((n, c) => n + Math.min(c.room, c.ready), 0);
        expect(total(result)).toBe(Math.min(budget, capacity));
        for (const c of candidates) expect(result.get(c.key) ?? 0).toBeLessThanOrEqual(Math.min(c.room, c.ready));
        // max-min fairness: no candidate that could take more is more than one task behind anyone else.
        const given = candidates.map((c) => result.get(c.key) ?? 0);
        candidates.forEach((c, i) => {
          if ((given[i] ?? 0) < Math.min(c.room, c.ready)) {
            for (const g of given) expect(g - (given[i] ?? 0)).toBeLessThanOrEqual(1);
          }
        });
      }
    }
  });

  it("returns an empty allocation for a zero or negative budget", () => {
    const candidates = [{ key: "a", room: 5, ready: 5 }];
    expect(allocateDispatch(candidates, 0, 0).size).toBe(0);
    expect(allocateDispatch(candidates, -5, 0).size).toBe(0);
  });

  it("returns an empty allocation for no candidates", () => {
    expect(allocateDispatch([], 100, 0).size).toBe(0);
    expect(allocateDispatch([], 100, 7).size).toBe(0);
  });

  it("leaves out candidates with no room or nothing ready (including negative room)", () => {
    const result = allocateDispatch(
      [
        { key: "full", room: 0, ready: 10 },
        { key: "idle", room: 10, ready: 0 },
        { key: "over", room: -3, ready: 10 },
        { key: "ok", room: 2, ready: 2 },
      ],
      10,
      0,
    );
    expect(asObject(result)).toEqual({ ok: 2 });
    expect(result.has("full")).toBe(false);
    expect(result.has("idle")).toBe(false);
    expect(result.has("over")).toBe(false);
  });

  it("returns an empty allocation when nobody can take anything", () => {
    const result = allocateDispatch(
      [
        { key: "a", room: 0, ready: 10 },
        { key: "b", room: 10, ready: 0 },
      ],
      10,
      0,
    );
    expect(result.size).toBe(0);
  });

  it("uses start 0 by default", () => {
    const candidates = ["a", "b"].map((key) => ({ key, room: 10, ready: 10 }));
    expect(asObject(allocateDispatch(candidates, 1))).toEqual({ a: 1 });
  });
});

describe("pickInvoker", () => {
  it("fills the first invoker with a free slot before touching the next", () => {
    expect(pickInvoker([0, 0, 0], 6)).toBe(0);
    expect(pickInvoker([5, 0, 0], 6)).toBe(0);
    expect(pickInvoker([6, 0, 0], 6)).toBe(1);
    expect(pickInvoker([6, 6, 3], 6)).toBe(2);
  });

  it("queues on the least loaded invoker when every one is full", () => {
    expect(pickInvoker([9, 7, 8], 6)).toBe(1);
    expect(pickInvoker([6, 6, 6], 6)).toBe(0);
  });
});
