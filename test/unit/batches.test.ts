import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { batchBySize } from "../../src/batches";

describe("batchBySize", () => {
  it("keeps order, loses nothing, and never exceeds the byte or count cap unless one item alone does", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(5000)),
        fc.integer({ min: 1, max: 8000 }),
        fc.integer({ min: 1, max: 10 }),
        (sizes, maxBytes, maxCount) => {
          const batches = batchBySize(sizes, (n) => n, maxBytes, maxCount);
          expect(batches.flat()).toEqual(sizes);
          for (const batch of batches) {
            expect(batch.length).toBeGreaterThan(0);
            expect(batch.length).toBeLessThanOrEqual(maxCount);
            const total = batch.reduce((a, b) => a + b, 0);
            if (batch.length > 1) expect(total).toBeLessThanOrEqual(maxBytes);
          }
        },
      ),
      { seed: 42, numRuns: 300 },
    );
  });
});
