import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Bucket, take } from "../../src/token-bucket";

describe("token bucket", () => {
  it("starts full, grants whole tokens, and says when the next ones come", () => {
    const first = take(undefined, 5, 5, 0, 1, 3);
    expect(first.granted).toBe(3);
    const second = take(first.bucket, 5, 5, 0, 1, 10);
    expect(second.granted).toBe(2);
    const refused = take(second.bucket, 5, 5, 0, 1, 1);
    expect(refused).toMatchObject({ granted: 0, retryAfterMs: 200 });
    expect(take(refused.bucket, 5, 5, 200, 1, 1).granted).toBe(1);
  });

  it("never grants a batch it cannot grant whole", () => {
    expect(take(undefined, 5, 5, 0, 6, 6)).toMatchObject({ granted: 0 });
  });

  it("over any run of requests grants at most burst + rate × elapsed", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.array(
          fc.record({
            dt: fc.integer({ min: 0, max: 700 }),
            need: fc.integer({ min: 1, max: 5 }),
            want: fc.integer({ min: 1, max: 20 }),
          }),
          { maxLength: 200 },
        ),
        (rate, steps) => {
          let bucket: Bucket | undefined;
          let now = 0;
          let granted = 0;
          for (const step of steps) {
            now += step.dt;
            const result = take(bucket, rate, rate, now, step.need, step.want);
            expect(result.granted === 0 || result.granted >= step.need).toBe(true);
            granted += result.granted;
            bucket = result.bucket;
          }
          expect(granted).toBeLessThanOrEqual(rate + (rate * now) / 1000 + 1e-9);
        },
      ),
      { seed: 7, numRuns: 300 },
    );
  });
});
