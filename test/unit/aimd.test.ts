import { describe, expect, it } from "vitest";
import { aimdLimit, aimdOnCongestion, aimdOnSuccess, clampAimd, initialAimd } from "../../src/aimd";

const params = { max: 100, decreaseFactor: 0.5, cooldownMs: 1000 };

describe("AIMD governor", () => {
  it("starts with the whole window", () => {
    expect(initialAimd(params)).toEqual({ window: 100, lastDecreaseAt: 0 });
    expect(aimdLimit(initialAimd(params))).toBe(100);
  });

  it("halves on congestion, at most once per cooldown, never below 1", () => {
    let state = initialAimd(params);
    state = aimdOnCongestion(state, params, 10_000);
    expect(state).toEqual({ window: 50, lastDecreaseAt: 10_000 });
    expect(aimdOnCongestion(state, params, 10_500)).toBe(state);
    state = aimdOnCongestion(state, params, 11_000);
    expect(state.window).toBe(25);
    let t = 11_000;
    for (let i = 0; i < 20; i++) state = aimdOnCongestion(state, params, (t += 1000));
    expect(state.window).toBe(1);
    expect(aimdLimit(state)).toBe(1);
  });

  it("grows by about one slot per window of successes, up to max", () => {
    let state = { window: 10, lastDecreaseAt: 0 };
    for (let i = 0; i < 10; i++) state = aimdOnSuccess(state, params);
    expect(state.window).toBeGreaterThan(10.9);
    expect(state.window).toBeLessThan(11.1);
    expect(aimdLimit(state)).toBe(10 + (state.window >= 11 ? 1 : 0));
    for (let i = 0; i < 100_000; i++) state = aimdOnSuccess(state, params);
    expect(state.window).toBe(100);
  });

  it("converges near a hidden capacity: a window above it is cut, below it grows back", () => {
    const capacity = 30;
    let state = initialAimd(params);
    let now = 0;
    const windows: number[] = [];
    for (let round = 0; round < 200; round++) {
      now += 1000;
      const limit = aimdLimit(state);
      if (limit > capacity) state = aimdOnCongestion(state, params, now);
      else for (let i = 0; i < limit; i++) state = aimdOnSuccess(state, params);
      windows.push(aimdLimit(state));
    }
    const late = windows.slice(100);
    expect(Math.max(...late)).toBeLessThanOrEqual(capacity + 1);
    expect(Math.min(...late)).toBeGreaterThanOrEqual(capacity / 2 - 1);
  });

  it("clamps a stored window to a changed maxConcurrency", () => {
    expect(clampAimd({ window: 80, lastDecreaseAt: 5 }, { ...params, max: 20 })).toEqual({
      window: 20,
      lastDecreaseAt: 5,
    });
    expect(clampAimd({ window: 0.2, lastDecreaseAt: 5 }, params).window).toBe(1);
  });
});

describe("one cut per round trip", () => {
  it("ignores rejections of calls that started before the last cut", () => {
    const p = { max: 100, decreaseFactor: 0.5, cooldownMs: 0 };
    const cut = aimdOnCongestion(initialAimd(p), p, 1000, 900);
    expect(cut.window).toBe(50);
    // Forty more 429s from calls sent before the cut: no further cut.
    let state = cut;
    for (let i = 0; i < 40; i++) state = aimdOnCongestion(state, p, 1010 + i, 950);
    expect(state.window).toBe(50);
    // A call sent after the cut and still rejected: cut again.
    expect(aimdOnCongestion(state, p, 1300, 1100).window).toBe(25);
  });
});
