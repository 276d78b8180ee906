import { describe, expect, it } from "vitest";
import type { FunctionRecord } from "../../src/records";
import { BUSY_REFRESH_MS, BUSY_USES, refreshDue } from "../../src/route-refresh";

const record = (isolation: string) => ({ spec: { isolation } }) as unknown as FunctionRecord;

describe("refreshDue", () => {
  it("asks again for a busy auto function's record after BUSY_REFRESH_MS", () => {
    const cached = { record: record("auto"), loadedAt: 1_000, uses: BUSY_USES };
    expect(refreshDue(cached, 1_000 + BUSY_REFRESH_MS - 1)).toBe(false);
    expect(refreshDue(cached, 1_000 + BUSY_REFRESH_MS)).toBe(true);
  });

  it("leaves a quiet record to its TTL", () => {
    expect(refreshDue({ record: record("auto"), loadedAt: 0, uses: BUSY_USES - 1 }, 60_000)).toBe(false);
  });

  it("never for a pinned isolation (it cannot move but by an edit, which this isolate hears of within the TTL) or no function", () => {
    for (const isolation of ["shared", "account", "dedicated"]) {
      expect(refreshDue({ record: record(isolation), loadedAt: 0, uses: 1_000 }, 60_000)).toBe(false);
    }
    expect(refreshDue({ record: null, loadedAt: 0, uses: 1_000 }, 60_000)).toBe(false);
  });
});
