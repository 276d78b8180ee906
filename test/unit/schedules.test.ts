import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cronProblem, dueTick, isTimeZone, nextTick, scheduleSpecSchema, tickSeed } from "../../src/schedules";

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

describe("schedule spec", () => {
  it("takes 5 fields, or 6 with seconds first, and defaults the rest", () => {
    expect(scheduleSpecSchema.parse({ cron: "0 9 * * 1-5" })).toEqual({
      cron: "0 9 * * 1-5",
      timezone: "UTC",
      contentType: "application/json",
      paused: false,
    });
    expect(
      scheduleSpecSchema.parse({ cron: "*/2 * * * * *", timezone: "Asia/Shanghai", payload: { a: 1 } }).payload,
    ).toEqual({ a: 1 });
  });

  it("a bad expression or time zone is refused naming the field", () => {
    for (const cron of ["", "* * * *", "* * * * * * *", "61 * * * *", "* * 32 * *", "every day", "@daily"]) {
      const result = scheduleSpecSchema.safeParse({ cron });
      expect(result.success, cron).toBe(false);
      expect(result.error?.issues[0]?.path).toEqual(["cron"]);
    }
    const zone = scheduleSpecSchema.safeParse({ cron: "* * * * *", timezone: "Mars/Olympus" });
    expect(zone.error?.issues[0]?.path).toEqual(["timezone"]);
    expect(scheduleSpecSchema.safeParse({ cron: "* * * * *", extra: 1 }).success).toBe(false);
    expect(cronProblem("* * * *")).toContain("5 fields");
    expect(isTimeZone("America/New_York")).toBe(true);
    expect(isTimeZone("UTC")).toBe(true);
  });
});

describe("nextTick across daylight-saving changes", () => {
  it("Europe/Berlin: 02:30 on the spring-forward day fires once, at 03:00; on the fall-back day once, at the first 02:30", () => {
    const spec = { cron: "30 2 * * *", timezone: "Europe/Berlin" };
    const spring = nextTick(spec, at("2026-03-28T12:00:00Z"));
    expect(iso(spring)).toBe("2026-03-29T01:00:00.000Z");
    expect(iso(nextTick(spec, spring as number))).toBe("2026-03-30T00:30:00.000Z");
    const fall = nextTick(spec, at("2026-10-24T12:00:00Z"));
    expect(iso(fall)).toBe("2026-10-25T00:30:00.000Z"); // 02:30 CEST, the first of the two
    expect(iso(nextTick(spec, fall as number))).toBe("2026-10-26T01:30:00.000Z"); // not again at 02:30 CET
  });

  it("America/New_York: the same rule on its own dates", () => {
    const spring = { cron: "30 2 * * *", timezone: "America/New_York" };
    expect(iso(nextTick(spring, at("2026-03-07T12:00:00Z")))).toBe("2026-03-08T07:00:00.000Z"); // 03:00 EDT
    const fall = { cron: "30 1 * * *", timezone: "America/New_York" };
    const first = nextTick(fall, at("2026-10-31T12:00:00Z"));
    expect(iso(first)).toBe("2026-11-01T05:30:00.000Z"); // 01:30 EDT
    expect(iso(nextTick(fall, first as number))).toBe("2026-11-02T06:30:00.000Z"); // 01:30 EST is skipped
  });

  it("weekdays at 09:00 Shanghai time, and every 2 s", () => {
    expect(iso(nextTick({ cron: "0 9 * * 1-5", timezone: "Asia/Shanghai" }, at("2026-12-04T02:00:00Z")))).toBe(
      "2026-12-07T01:00:00.000Z",
    );
    expect(iso(nextTick({ cron: "*/2 * * * * *", timezone: "UTC" }, at("2026-12-04T00:00:00.500Z")))).toBe(
      "2026-12-04T00:00:02.000Z",
    );
  });

  it("is strictly after its argument and in order (property)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("* * * * *", "*/7 * * * * *", "0 */3 * * *", "15 2 * * 0", "0 0 1 * *"),
        fc.constantFrom("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"),
        fc.integer({ min: at("2026-01-01T00:00:00Z"), max: at("2027-01-01T00:00:00Z") }),
        (cron, timezone, after) => {
          const next = nextTick({ cron, timezone }, after);
          expect(next).not.toBeNull();
          expect(next as number).toBeGreaterThan(after);
          expect(nextTick({ cron, timezone }, (next as number) - 1)).toBe(next);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("dueTick", () => {
  const everyMinute = { cron: "* * * * *", timezone: "UTC" };
  const t0 = at("2026-12-01T00:00:00Z");

  it("fires nothing before the next tick, and the tick on time", () => {
    expect(dueTick(everyMinute, t0, t0 + 30_000, 1_000)).toEqual({ tick: null, next: t0 + 60_000, late: false });
    expect(dueTick(everyMinute, t0, t0 + 60_200, 1_000)).toEqual({
      tick: t0 + 60_000,
      next: t0 + 120_000,
      late: false,
    });
  });

  it("after an outage fires once, for the latest missed tick, and says it is late", () => {
    expect(dueTick(everyMinute, t0, t0 + 3 * 3_600_000 + 5_000, 1_000)).toEqual({
      tick: t0 + 3 * 3_600_000,
      next: t0 + 3 * 3_600_000 + 60_000,
      late: true,
    });
    // A week of one-second ticks missed (604,800 of them): still one answer, the latest.
    const everySecond = { cron: "* * * * * *", timezone: "UTC" };
    expect(dueTick(everySecond, t0, t0 + 7 * 86_400_000 + 400, 1_000)).toEqual({
      tick: t0 + 7 * 86_400_000,
      next: t0 + 7 * 86_400_000 + 1_000,
      late: true,
    });
  });

  it("a tick fired once is not due again (re-running the alarm fires nothing)", () => {
    const first = dueTick(everyMinute, t0, t0 + 60_500, 1_000);
    expect(dueTick(everyMinute, first.tick as number, t0 + 60_900, 1_000).tick).toBeNull();
  });

  it("tick seeds differ per schedule and per tick", () => {
    expect(tickSeed("a", 1)).not.toBe(tickSeed("a", 2));
    expect(tickSeed("a", 1)).not.toBe(tickSeed("b", 1));
    expect(tickSeed("a", 1)).toBe(tickSeed("a", 1));
  });
});
