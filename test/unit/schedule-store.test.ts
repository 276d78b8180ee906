/**
 * The shard's schedule part (src/shard/schedules.ts, schedule-moves.ts) through the store facade, over node:sqlite,
 * with an explicit clock: plans, firing into the task path, stale plans, the one alarm, and moving to another shard.
 */
import { describe, expect, it } from "vitest";
import type { FunctionRecord } from "../../src/records";
import { scheduleSpecSchema } from "../../src/schedules";
import { ShardStore, type TickPlan } from "../../src/shard";
import { NodeSql } from "../support/node-sql";
import { testFunction } from "../support/records";
import { TEST_SHARD_SETTINGS } from "../support/shard-settings";

const T0 = Date.parse("2026-06-01T12:00:00.000Z");
const spec = (body: Record<string, unknown>) => scheduleSpecSchema.parse(body);

function setUp(shard = "s1") {
  const store = new ShardStore(new NodeSql(), TEST_SHARD_SETTINGS);
  const fn = testFunction("acct", "job", shard, {}, 1);
  store.upsertFunction(fn);
  return { store, fn };
}

/** Stand-in ids: derived from the plan the way the Durable Object's are (the label names schedule and tick). */
function idsOf(plans: readonly TickPlan[]): Map<TickPlan, string> {
  return new Map(plans.filter((p) => p.tick !== null).map((p) => [p, `tsk_${Buffer.from(p.label).toString("hex")}`]));
}

function fire(store: ShardStore, shard: string, now: number): string[] {
  const plans = store.planTicks(now);
  return store.fireTicks(shard, plans, idsOf(plans), now);
}

describe("schedules in the shard store", () => {
  it("a due tick becomes one queued task with the schedule in its view and its job", () => {
    const { store, fn } = setUp();
    const put = store.putSchedule("s1", fn, "minutely", spec({ cron: "* * * * *", payload: { a: 1 } }), "o", T0);
    expect(put).toMatchObject({ ok: true, created: true, schedule: { nextRunAt: "2026-06-01T12:01:00.000Z" } });
    expect(store.nextWakeAt(T0, false)).toBe(T0 + 60_000);
    expect(store.planTicks(T0 + 59_999)).toEqual([]);

    const [id] = fire(store, "s1", T0 + 60_010);
    const { task } = store.getTask("acct", id ?? "");
    expect(task).toMatchObject({
      state: "queued",
      scheduleId: "minutely",
      scheduledFor: "2026-06-01T12:01:00.000Z",
    });
    expect(task?.late).toBeUndefined();
    const jobs = [...store.planDispatch("s1", T0 + 60_020).byInvoker.values()].flat();
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ taskId: id, scheduleId: "minutely" });
    expect(new TextDecoder().decode(jobs[0]?.payload.inline)).toBe('{"a":1}');
    expect(store.getSchedule("acct", "job", "minutely")).toMatchObject({
      lastTaskId: id,
      lastScheduledFor: "2026-06-01T12:01:00.000Z",
      nextRunAt: "2026-06-01T12:02:00.000Z",
    });
  });

  it("a plan fired twice, or overtaken by a replacement, fires once or not at all", () => {
    const { store, fn } = setUp();
    store.putSchedule("s1", fn, "m", spec({ cron: "* * * * *" }), "o", T0);
    const plans = store.planTicks(T0 + 60_000);
    expect(store.fireTicks("s1", plans, idsOf(plans), T0 + 60_000)).toHaveLength(1);
    expect(store.fireTicks("s1", plans, idsOf(plans), T0 + 60_001)).toEqual([]);

    const stale = store.planTicks(T0 + 120_000);
    expect(stale).toHaveLength(1);
    store.putSchedule("s1", fn, "m", spec({ cron: "*/5 * * * *" }), "o", T0 + 120_000);
    expect(store.fireTicks("s1", stale, idsOf(stale), T0 + 120_001)).toEqual([]);
    expect(store.countByState("acct", "job")).toMatchObject({ queued: 1 });
  });

  it("after an outage the latest tick fires once, late; a pass takes at most 100 and the rest follow soon", () => {
    const { store, fn } = setUp();
    for (let i = 0; i < 150; i++) store.putSchedule("s1", fn, `s${i}`, spec({ cron: "* * * * *" }), "o", T0);
    const back = T0 + 10 * 60_000 + 5_000;
    const fired = fire(store, "s1", back);
    expect(fired).toHaveLength(100);
    expect(store.nextWakeAt(back, false)).toBe(back + 50);
    expect(fire(store, "s1", back + 50)).toHaveLength(50);
    const { task } = store.getTask("acct", fired[0] ?? "");
    expect(task).toMatchObject({ scheduledFor: "2026-06-01T12:10:00.000Z", late: true });
    // Every schedule is now past its tick: the one alarm is the next whole minute.
    expect(store.nextWakeAt(back + 60, false)).toBe(T0 + 11 * 60_000);
  });

  it("a paused schedule has no next run; deleting the function deletes its schedules", () => {
    const { store, fn } = setUp();
    const paused = store.putSchedule("s1", fn, "p", spec({ cron: "* * * * *", paused: true }), "o", T0);
    expect(paused).toMatchObject({ ok: true, schedule: { nextRunAt: null, paused: true } });
    expect(store.nextWakeAt(T0, false)).toBeNull();
    expect(fire(store, "s1", T0 + 3_600_000)).toEqual([]);
    store.deleteFunction("acct", "job", T0);
    expect(store.listSchedules("acct", "job")).toEqual([]);
  });

  it("moving: the old shard stops firing at once, the new one keeps the last tick fired", () => {
    const { store: a, fn } = setUp("a");
    a.putSchedule("a", fn, "m", spec({ cron: "* * * * *" }), "o", T0);
    expect(fire(a, "a", T0 + 60_000)).toHaveLength(1);

    const moved: FunctionRecord = { ...fn, shard: "b", version: 2, previousShards: ["a"] };
    const b = new ShardStore(new NodeSql(), TEST_SHARD_SETTINGS);
    b.upsertFunction(moved);
    a.upsertFunction(moved);
    expect(fire(a, "a", T0 + 120_000)).toEqual([]);
    expect(a.putSchedule("a", fn, "m", spec({ cron: "* * * * *" }), "o", T0)).toEqual({
      ok: false,
      reason: "moved",
      shard: "b",
    });
    expect(a.nextWakeAt(T0 + 120_000, false)).toBe(T0 + 121_000);

    const outbound = a.outboundSchedules();
    expect(outbound).toMatchObject({ to: "b", rows: [{ id: "m", lastTick: T0 + 60_000 }] });
    expect(b.adoptSchedules("b", moved, outbound?.rows ?? [])).toEqual({ ok: true, adopted: 1 });
    expect(a.forgetMovedSchedules("b", outbound?.rows ?? [])).toEqual([]);
    expect(a.listSchedules("acct", "job")).toEqual([]);
    expect(a.outboundSchedules()).toBeUndefined();

    // The tick fired on a is not owed on b; the next one fires there once.
    expect(fire(b, "b", T0 + 60_500)).toEqual([]);
    expect(fire(b, "b", T0 + 120_000)).toHaveLength(1);
    expect(b.getSchedule("acct", "job", "m")).toMatchObject({ lastScheduledFor: "2026-06-01T12:02:00.000Z" });
    // A shard the function does not live on refuses rows, and says where it went.
    expect(a.adoptSchedules("a", moved, outbound?.rows ?? [])).toEqual({ ok: false, movedTo: "b" });
  });

  it("moving: a schedule not yet handed on is work of the function on the old shard", () => {
    const { store: a, fn } = setUp("a");
    a.putSchedule("a", fn, "m", spec({ cron: "0 0 * * *" }), "o", T0);
    expect(a.hasWork("acct", "job", T0)).toBe(false);
    const moved: FunctionRecord = { ...fn, shard: "b", version: 2, previousShards: ["a"] };
    a.upsertFunction(moved);
    // Its drain must not end before the hand-off: that drops this shard from previousShards, where listings look.
    expect(a.hasWork("acct", "job", T0)).toBe(true);
    const outbound = a.outboundSchedules();
    expect(a.forgetMovedSchedules("b", outbound?.rows ?? [])).toEqual([]);
    expect(a.hasWork("acct", "job", T0)).toBe(false);
  });

  it("the limit is per function, and a replacement is not a new schedule", () => {
    const { store, fn } = setUp();
    const other = testFunction("acct", "other", "s1", {}, 1);
    store.upsertFunction(other);
    for (let i = 0; i < 1000; i++) store.putSchedule("s1", fn, `s${i}`, spec({ cron: "0 0 * * *" }), "o", T0);
    expect(store.putSchedule("s1", fn, "extra", spec({ cron: "0 0 * * *" }), "o", T0)).toEqual({
      ok: false,
      reason: "limit",
      limit: 1000,
    });
    expect(store.putSchedule("s1", fn, "s0", spec({ cron: "0 1 * * *" }), "o", T0)).toMatchObject({ ok: true });
    expect(store.putSchedule("s1", other, "s0", spec({ cron: "0 1 * * *" }), "o", T0)).toMatchObject({ ok: true });
  });
});
