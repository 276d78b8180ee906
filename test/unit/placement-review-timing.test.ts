import { describe, expect, it } from "vitest";
import { reviewDue, SURGE_REVIEW_MS } from "../../src/placement/review-timing";

const settings = { reviewMs: 5_000, promoteBacklog: 1_000 } as const;

describe("reviewDue", () => {
  it("runs one review per reviewMs when nothing surges", () => {
    const clock = { reviewedAt: 10_000, arrivedSince: 999 };
    expect(reviewDue(clock, 14_999, { ...settings, tier: "shared" })).toBe(false);
    expect(reviewDue(clock, 15_000, { ...settings, tier: "shared" })).toBe(true);
    expect(reviewDue({ reviewedAt: 0, arrivedSince: 0 }, Date.now(), { ...settings, tier: "shared" })).toBe(true);
  });

  it("reviews a shared or account shard SURGE_REVIEW_MS after the last once promoteBacklog tasks arrived", () => {
    for (const tier of ["shared", "account"] as const) {
      const surge = { reviewedAt: 10_000, arrivedSince: 1_000 };
      expect(reviewDue(surge, 10_000 + SURGE_REVIEW_MS - 1, { ...settings, tier })).toBe(false);
      expect(reviewDue(surge, 10_000 + SURGE_REVIEW_MS, { ...settings, tier })).toBe(true);
    }
  });

  it("never reviews a dedicated shard early", () => {
    const surge = { reviewedAt: 10_000, arrivedSince: 1_000_000 };
    expect(reviewDue(surge, 14_999, { ...settings, tier: "dedicated" })).toBe(false);
    expect(reviewDue(surge, 15_000, { ...settings, tier: "dedicated" })).toBe(true);
  });

  it("keeps SURGE_REVIEW_MS when reviewMs is shorter (the shorter interval wins)", () => {
    const clock = { reviewedAt: 10_000, arrivedSince: 5_000 };
    expect(reviewDue(clock, 10_100, { reviewMs: 100, promoteBacklog: 40, tier: "shared" })).toBe(true);
  });
});
