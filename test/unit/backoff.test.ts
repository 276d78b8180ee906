import { describe, expect, it } from "vitest";
import { backoffDelayMs, parseRetryAfterMs } from "../../src/backoff";

const policy = { initialBackoffMs: 1000, maxBackoffMs: 60_000 };

/** A deterministic pseudo-random source in [0, 1), so bound checks cover many values without flakiness. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

describe("backoffDelayMs", () => {
  it("matches the documented example (attempt 3, random 0.5)", () => {
    expect(backoffDelayMs(3, policy, () => 0.5)).toBe(3000);
  });

  it("with random 0 returns half the ceiling, with random ~1 the ceiling", () => {
    // ceiling for attempts 1..7 = 1000, 2000, 4000, 8000, 16000, 32000, 60000 (capped)
    const ceilings = [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000];
    ceilings.forEach((ceiling, i) => {
      expect(backoffDelayMs(i + 1, policy, () => 0)).toBe(ceiling / 2);
      expect(backoffDelayMs(i + 1, policy, () => 0.999_999_999)).toBe(ceiling);
    });
  });

  it("uses the injected random source linearly between half and full", () => {
    expect(backoffDelayMs(1, policy, () => 0.25)).toBe(625);
    expect(backoffDelayMs(2, policy, () => 0.1)).toBe(1100);
    expect(backoffDelayMs(4, policy, () => 0.75)).toBe(7000);
  });

  it("stays within [ceiling/2, ceiling] where ceiling = min(max, initial * 2^(n-1))", () => {
    const random = lcg(42);
    const policies = [
      { initialBackoffMs: 1000, maxBackoffMs: 300_000 },
      { initialBackoffMs: 250, maxBackoffMs: 10_000 },
      { initialBackoffMs: 7, maxBackoffMs: 1_000_000 },
      { initialBackoffMs: 5000, maxBackoffMs: 5000 },
    ];
    for (const p of policies) {
      for (let attempt = 1; attempt <= 30; attempt++) {
        const ceiling = Math.min(p.maxBackoffMs, p.initialBackoffMs * 2 ** (attempt - 1));
        for (let i = 0; i < 50; i++) {
          const delay = backoffDelayMs(attempt, p, random);
          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(Math.floor(ceiling / 2));
          expect(delay).toBeLessThanOrEqual(ceiling);
        }
      }
    }
  });

  it("with the default Math.random also stays within bounds", () => {
    for (let i = 0; i < 200; i++) {
      const delay = backoffDelayMs(5, policy);
      expect(delay).toBeGreaterThanOrEqual(8000);
      expect(delay).toBeLessThanOrEqual(16_000);
    }
  });

  it("doubles with each attempt until the cap", () => {
    const fixed = () => 0;
    const delays = [1, 2, 3, 4, 5, 6].map((n) =>
      backoffDelayMs(n, { initialBackoffMs: 100, maxBackoffMs: 1_000_000 }, fixed),
    );
    expect(delays).toEqual([50, 100, 200, 400, 800, 1600]);
  });

  it("never exceeds maxBackoffMs, even for huge attempt numbers", () => {
    const p = { initialBackoffMs: 1000, maxBackoffMs: 300_000 };
    for (const attempt of [10, 19, 20, 50, 100, 1000, 1_000_000, Number.MAX_SAFE_INTEGER]) {
      expect(backoffDelayMs(attempt, p, () => 0)).toBe(150_000);
      expect(backoffDelayMs(attempt, p, () => 0.999_999)).toBe(300_000);
    }
  });

  it("treats attempt 0 and negative attempts like attempt 1", () => {
    expect(backoffDelayMs(0, policy, () => 0)).toBe(500);
    expect(backoffDelayMs(-3, policy, () => 0)).toBe(500);
  });

  it("is 0 when the policy allows no backoff", () => {
    expect(backoffDelayMs(1, { initialBackoffMs: 0, maxBackoffMs: 0 }, () => 0.7)).toBe(0);
    expect(backoffDelayMs(9, { initialBackoffMs: 0, maxBackoffMs: 300_000 }, () => 0.7)).toBe(0);
  });

  it("caps at maxBackoffMs when initial exceeds it", () => {
    expect(backoffDelayMs(1, { initialBackoffMs: 10_000, maxBackoffMs: 4000 }, () => 0)).toBe(2000);
  });
});

describe("parseRetryAfterMs", () => {
  const now = Date.UTC(2025, 0, 15, 12, 0, 0);
  const max = 3_600_000;

  it("returns undefined without a header", () => {
    expect(parseRetryAfterMs(null, now, max)).toBeUndefined();
  });

  it("parses delta seconds", () => {
    expect(parseRetryAfterMs("0", now, max)).toBe(0);
    expect(parseRetryAfterMs("1", now, max)).toBe(1000);
    expect(parseRetryAfterMs("120", now, max)).toBe(120_000);
    expect(parseRetryAfterMs("  30  ", now, max)).toBe(30_000);
    expect(parseRetryAfterMs("007", now, max)).toBe(7000);
  });

  it("caps delta seconds at maxMs", () => {
    expect(parseRetryAfterMs("3600", now, max)).toBe(3_600_000);
    expect(parseRetryAfterMs("3601", now, max)).toBe(3_600_000);
    expect(parseRetryAfterMs("31536000", now, max)).toBe(3_600_000);
    expect(parseRetryAfterMs("99999999999999999999999", now, max)).toBe(3_600_000);
    expect(parseRetryAfterMs("10", now, 5000)).toBe(5000);
  });

  it("parses an HTTP date relative to now", () => {
    expect(parseRetryAfterMs("Wed, 15 Jan 2025 12:01:30 GMT", now, max)).toBe(90_000);
    expect(parseRetryAfterMs(new Date(now + 42_000).toUTCString(), now, max)).toBe(42_000);
  });

  it("caps an HTTP date at maxMs", () => {
    expect(parseRetryAfterMs("Thu, 16 Jan 2025 12:00:00 GMT", now, max)).toBe(3_600_000);
  });

  it("treats an HTTP date in the past as 0", () => {
    expect(parseRetryAfterMs("Tue, 14 Jan 2025 12:00:00 GMT", now, max)).toBe(0);
    expect(parseRetryAfterMs(new Date(now).toUTCString(), now, max)).toBe(0);
  });

  it("returns undefined for garbage", () => {
    for (const garbage of ["", "   ", "soon", "abc", "5 seconds", "1e3", "0x10", "NaN", "Infinity", "later please"]) {
      expect(parseRetryAfterMs(garbage, now, max), JSON.stringify(garbage)).toBeUndefined();
    }
  });

  // BUG: src/backoff.ts line 31 falls back to Date.parse for anything that is not all digits. V8's Date.parse is
  // lenient and turns strings that are neither delta-seconds nor an HTTP date ("1.5", "-5", "+5", "soon 5") into a
  // date in 2001, which parseRetryAfterMs then reports as 0 ms ("retry now") instead of undefined ("no usable
  // Retry-After, use the normal backoff"). A throttled function answering `Retry-After: 1.5` is retried immediately.
  it("returns undefined for malformed values V8's Date.parse happens to accept (fractional, signed, words + number)", () => {
    for (const garbage of ["1.5", "-5", "+5", "soon 5"]) {
      expect(parseRetryAfterMs(garbage, now, max), JSON.stringify(garbage)).toBeUndefined();
    }
  });
});
