/**
 * Schedules inside workerd (API.md "Schedules"): the routes through SELF, firing by the shard's own alarm
 * (`runDurableObjectAlarm`) with real local Durable Objects. Time is moved by shifting a schedule's stored anchor
 * and next tick back (what an outage of that length leaves behind), never by sleeping.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { REGISTRY_NAME } from "../../src/placement";
import { MAX_SCHEDULES_PER_FUNCTION } from "../../src/schedules";
import {
  createAccount,
  demoTarget,
  expectProblem,
  putFunction,
  shardOf,
  type TestAccount,
  tenant,
  waitForState,
} from "./helpers";

type Schedule = {
  id: string;
  cron: string;
  timezone: string;
  paused: boolean;
  contentType: string;
  payload?: unknown;
  nextRunAt: string | null;
  lastRunAt: string | null;
  lastScheduledFor: string | null;
  lastTaskId: string | null;
};
type Summary = { id: string; state: string; scheduleId?: string; scheduledFor?: string; late?: boolean };

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function putSchedule(account: TestAccount, fn: string, id: string, body: unknown): Promise<Response> {
  return tenant(account, `/v1/functions/${fn}/schedules/${id}`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function created(account: TestAccount, fn: string, id: string, body: unknown): Promise<Schedule> {
  const response = await putSchedule(account, fn, id, body);
  expect(response.status, await response.clone().text()).toBe(201);
  return (await response.json()) as Schedule;
}

/** Adding schedule `id` to `job` is refused: the function holds its limit (409 limit-exceeded naming it). */
async function expectFull(account: TestAccount, id: string): Promise<void> {
  const full = await expectProblem(await putSchedule(account, "job", id, { cron: "0 0 * * *" }), 409, "limit-exceeded");
  expect(full.limit).toBe(MAX_SCHEDULES_PER_FUNCTION);
}

/** A function of its own on a dedicated shard, so an alarm run here fires only this test's schedules. */
async function setUp(spec: Record<string, unknown> = {}) {
  const account = await createAccount("sched");
  await putFunction(account, "job", { target: demoTarget, isolation: "dedicated", ...spec });
  return { account, shard: await shardOf(account, "job") };
}

async function scheduledTasks(account: TestAccount, fn = "job"): Promise<Summary[]> {
  const response = await tenant(account, `/v1/functions/${fn}/tasks?limit=1000`);
  expect(response.status).toBe(200);
  const { tasks } = (await response.json()) as { tasks: Summary[] };
  return tasks.filter((task) => task.scheduleId !== undefined);
}

/** As if the shard had been down for `ms`: the schedule's anchor and next tick lie that much further back. */
async function rewind(shard: DurableObjectStub, account: TestAccount, id: string, ms: number): Promise<void> {
  await runInDurableObject(shard, (_instance, state) => {
    state.storage.sql.exec(
      `UPDATE schedules SET anchor = anchor - ?, next_run_at = next_run_at - ? WHERE account = ? AND id = ?`,
      ms,
      ms,
      account.id,
      id,
    );
  });
}

async function scheduleRow(shard: DurableObjectStub, account: TestAccount, id: string) {
  return runInDurableObject(
    shard,
    (_instance, state) =>
      state.storage.sql
        .exec<{ anchor: number; next_run_at: number | null; home: string; moved_to: string | null }>(
          `SELECT anchor, next_run_at, home, moved_to FROM schedules WHERE account = ? AND id = ?`,
          account.id,
          id,
        )
        .toArray()[0],
  );
}

/** A 6-field expression that fires once, at the whole second `at` (UTC). */
function onceAt(at: number): string {
  const d = new Date(at);
  return `${d.getUTCSeconds()} ${d.getUTCMinutes()} ${d.getUTCHours()} ${d.getUTCDate()} ${d.getUTCMonth() + 1} *`;
}

describe("schedule routes", () => {
  it("creates (201), replaces (200), reads one with its payload and lists without", async () => {
    const { account } = await setUp();
    const first = await created(account, "job", "nightly", {
      cron: "0 9 * * 1-5",
      timezone: "Asia/Shanghai",
      payload: { resize: "yesterday" },
    });
    expect(first).toMatchObject({
      id: "nightly",
      cron: "0 9 * * 1-5",
      timezone: "Asia/Shanghai",
      paused: false,
      contentType: "application/json",
      payload: { resize: "yesterday" },
      lastRunAt: null,
      lastTaskId: null,
    });
    // 09:00 in Shanghai is 01:00 UTC, on a weekday.
    const next = new Date(first.nextRunAt ?? "");
    expect(next.getUTCHours()).toBe(1);
    expect(next.getTime()).toBeGreaterThan(Date.now());
    expect([1, 2, 3, 4, 5]).toContain(next.getUTCDay());

    const replaced = await putSchedule(account, "job", "nightly", { cron: "*/5 * * * *" });
    expect(replaced.status).toBe(200);
    expect(await replaced.json()).toMatchObject({ cron: "*/5 * * * *", timezone: "UTC" });
    await created(account, "job", "hourly", { cron: "0 * * * *", payload: "x", contentType: "text/plain" });

    const one = await tenant(account, "/v1/functions/job/schedules/hourly");
    expect(await one.json()).toMatchObject({ id: "hourly", payload: "x", contentType: "text/plain" });
    const list = (await (await tenant(account, "/v1/functions/job/schedules")).json()) as { schedules: Schedule[] };
    expect(list.schedules.map((s) => s.id)).toEqual(["hourly", "nightly"]);
    for (const schedule of list.schedules) {
      expect(schedule.payload).toBeUndefined();
      expect(schedule.nextRunAt).not.toBeNull();
    }
  });

  it("refuses a bad expression, time zone, id or payload with a 400 naming the field, and stores nothing", async () => {
    const { account } = await setUp();
    const cases: [string, unknown, string][] = [
      ["bad", { cron: "* * * *" }, "cron"],
      ["bad", { cron: "61 * * * *" }, "cron"],
      ["bad", { cron: "@daily" }, "cron"],
      ["bad", { cron: "* * * * *", timezone: "Mars/Olympus" }, "timezone"],
      ["bad", { cron: "* * * * *", paused: "yes" }, "paused"],
      ["bad", { cron: "* * * * *", surprise: 1 }, "(body)"],
      ["Not_An_Id", { cron: "* * * * *" }, "id"],
      ["bad", { cron: "* * * * *", payload: "x".repeat(65_537) }, "payload"],
    ];
    for (const [id, body, field] of cases) {
      const problem = await expectProblem(await putSchedule(account, "job", id, body), 400, "validation");
      const errors = problem.errors as { path: string }[];
      expect(
        errors.map((e) => e.path),
        JSON.stringify(body).slice(0, 80),
      ).toContain(field);
    }
    await expectProblem(await putSchedule(account, "job", "bad", "{not json"), 400, "malformed-json");
    // The body is capped before it is parsed: 64 KiB of payload plus room for the rest.
    const huge = JSON.stringify({ cron: "* * * * *", payload: "x".repeat(200_000) });
    await expectProblem(await putSchedule(account, "job", "bad", huge), 413, "payload-too-large");
    const list = (await (await tenant(account, "/v1/functions/job/schedules")).json()) as { schedules: unknown[] };
    expect(list.schedules).toEqual([]);
  });

  it("answers 404 for an unknown function, an unknown schedule, and another account's", async () => {
    const { account } = await setUp();
    await created(account, "job", "mine", { cron: "0 0 * * *" });
    const other = await createAccount("sched-other");
    await putFunction(other, "job", { target: demoTarget });
    await expectProblem(await putSchedule(account, "nope", "x", { cron: "* * * * *" }), 404, "not-found");
    await expectProblem(await tenant(account, "/v1/functions/job/schedules/none"), 404, "not-found");
    // The other account has a function of the same name, and still never sees, changes or deletes this schedule.
    await expectProblem(await tenant(other, "/v1/functions/job/schedules/mine"), 404, "not-found");
    await expectProblem(
      await tenant(other, "/v1/functions/job/schedules/mine", { method: "DELETE" }),
      404,
      "not-found",
    );
    const theirs = (await (await tenant(other, "/v1/functions/job/schedules")).json()) as { schedules: unknown[] };
    expect(theirs.schedules).toEqual([]);
    const stranger = await createAccount("sched-stranger");
    await expectProblem(await tenant(stranger, "/v1/functions/job/schedules"), 404, "not-found");
    expect((await tenant(account, "/v1/functions/job/schedules/mine")).status).toBe(200);
  });

  it(`holds at most ${MAX_SCHEDULES_PER_FUNCTION} schedules per function (409 limit-exceeded), replacing still works`, async () => {
    const { account, shard } = await setUp();
    await created(account, "job", "s0", { cron: "0 0 * * *" });
    // 998 more rows as the route stores them (HTTP for each would only be slower), then the last two by HTTP.
    await runInDurableObject(shard, (_instance, state) => {
      for (let i = 1; i < MAX_SCHEDULES_PER_FUNCTION - 1; i++) {
        state.storage.sql.exec(
          `INSERT INTO schedules (account, function, id, cron, timezone, payload, content_type, paused, origin, home,
             anchor, next_run_at, created_at, updated_at)
           SELECT account, function, ?, cron, timezone, payload, content_type, paused, origin, home, anchor,
             next_run_at, created_at, updated_at FROM schedules WHERE account = ? AND id = 's0'`,
          `s${i}`,
          account.id,
        );
      }
    });
    await created(account, "job", "last", { cron: "0 0 * * *" });
    await expectFull(account, "one-more");
    expect((await putSchedule(account, "job", "last", { cron: "0 1 * * *" })).status).toBe(200);
    expect((await tenant(account, "/v1/functions/job/schedules/s5", { method: "DELETE" })).status).toBe(200);
    expect((await putSchedule(account, "job", "one-more", { cron: "0 0 * * *" })).status).toBe(201);
    const list = (await (await tenant(account, "/v1/functions/job/schedules")).json()) as { schedules: unknown[] };
    expect(list.schedules).toHaveLength(MAX_SCHEDULES_PER_FUNCTION);
  });

  it("schedules still on a shard the function left count against the limit on its new shard", async () => {
    const account = await createAccount("sched-cap-move");
    await putFunction(account, "job", { target: demoTarget, isolation: "account" });
    const oldShard = await shardOf(account, "job");
    await putFunction(account, "job", { target: demoTarget, isolation: "dedicated" });
    const record = await env.REGISTRY.getByName(REGISTRY_NAME).getFunction(account.id, "job");
    expect(record?.previousShards?.length).toBeGreaterThan(0);
    // 999 schedules caught on their way (the old shard's hand-off has not run yet, or failed and waits to retry).
    await runInDurableObject(oldShard, (_instance, state) => {
      for (let i = 0; i < MAX_SCHEDULES_PER_FUNCTION - 1; i++) {
        state.storage.sql.exec(
          `INSERT INTO schedules (account, function, id, cron, timezone, payload, content_type, paused, origin, home,
             moved_to, anchor, next_run_at, created_at, updated_at)
           VALUES (?, 'job', ?, '0 0 * * *', 'UTC', NULL, 'application/json', 0, NULL, 'old', ?, 0, NULL, 0, 0)`,
          account.id,
          `moving-${i}`,
          record?.shard ?? "",
        );
      }
    });
    await created(account, "job", "new-0", { cron: "0 0 * * *" });
    await expectFull(account, "new-1");
    // Replacing one this shard holds is not adding one.
    expect((await putSchedule(account, "job", "new-0", { cron: "0 1 * * *" })).status).toBe(200);
  });
});

describe("firing", () => {
  it("a due tick fires one task through the ordinary path, and the alarm run again fires none", async () => {
    const { account, shard } = await setUp();
    const tick = Math.ceil((Date.now() + 2_000) / 1000) * 1000;
    const schedule = await created(account, "job", "once", { cron: onceAt(tick), payload: { echo: "tick" } });
    expect(schedule.nextRunAt).toBe(new Date(tick).toISOString());
    // The shard's own alarm fires it: nothing here but waiting.
    const [task] = await vi.waitFor(
      async () => {
        const tasks = await scheduledTasks(account);
        expect(tasks).toHaveLength(1);
        return tasks;
      },
      { timeout: 10_000, interval: 100 },
    );
    expect(task).toMatchObject({ scheduleId: "once", scheduledFor: new Date(tick).toISOString() });
    expect(task?.late).toBeUndefined();
    const done = await waitForState(account, task?.id ?? "", "succeeded");
    expect(done.result).toMatchObject({ echo: "tick" });
    expect(done).toMatchObject({ scheduleId: "once", attempts: 1 });

    const after = (await (await tenant(account, "/v1/functions/job/schedules/once")).json()) as Schedule;
    expect(after.lastTaskId).toBe(task?.id);
    expect(after.lastScheduledFor).toBe(new Date(tick).toISOString());
    expect(after.lastRunAt).not.toBeNull();
    // Next year's instant.
    expect(Date.parse(after.nextRunAt ?? "")).toBeGreaterThan(tick + 300 * DAY);

    await runDurableObjectAlarm(shard);
    await runDurableObjectAlarm(shard);
    expect(await scheduledTasks(account)).toHaveLength(1);
  });

  it("a tick fired again (a retried alarm, a duplicate) is the same task: never two", async () => {
    const { account, shard } = await setUp();
    await created(account, "job", "daily", { cron: "0 0 * * *" });
    await rewind(shard, account, "daily", 3 * DAY);
    const before = await scheduleRow(shard, account, "daily");
    expect(await runDurableObjectAlarm(shard)).toBe(true);
    const first = await scheduledTasks(account);
    expect(first).toHaveLength(1);
    // The row put back as it was before that alarm: the same tick is planned again and derives the same task id.
    await runInDurableObject(shard, (_instance, state) => {
      state.storage.sql.exec(
        `UPDATE schedules SET anchor = ?, next_run_at = ? WHERE account = ? AND id = 'daily'`,
        before?.anchor ?? 0,
        before?.next_run_at ?? 0,
        account.id,
      );
    });
    await runDurableObjectAlarm(shard);
    const again = await scheduledTasks(account);
    expect(again.map((t) => t.id)).toEqual(first.map((t) => t.id));
  });

  it("ticks missed while the platform was down fire once, marked late", async () => {
    const { account, shard } = await setUp();
    await created(account, "job", "minutely", { cron: "* * * * *" });
    // Down for 10 minutes: 10 ticks missed.
    await rewind(shard, account, "minutely", 10 * 60_000);
    await runDurableObjectAlarm(shard);
    const tasks = await scheduledTasks(account);
    expect(tasks).toHaveLength(1);
    const [task] = tasks;
    expect(task?.late).toBe(true);
    // The latest missed tick, not the first: a whole minute, at most a minute ago.
    const scheduledFor = Date.parse(task?.scheduledFor ?? "");
    expect(scheduledFor % 60_000).toBe(0);
    expect(Date.now() - scheduledFor).toBeLessThanOrEqual(60_000);
    const row = await scheduleRow(shard, account, "minutely");
    expect(row?.next_run_at).toBe(scheduledFor + 60_000);
  });

  it("deleting a schedule stops its ticks", async () => {
    const { account, shard } = await setUp();
    await created(account, "job", "gone", { cron: "* * * * *" });
    await rewind(shard, account, "gone", 5 * 60_000);
    const deleted = await tenant(account, "/v1/functions/job/schedules/gone", { method: "DELETE" });
    expect(await deleted.json()).toEqual({ deleted: "gone" });
    await runDurableObjectAlarm(shard);
    expect(await scheduledTasks(account)).toEqual([]);
    await expectProblem(await tenant(account, "/v1/functions/job/schedules/gone"), 404, "not-found");
  });

  it("a paused schedule fires nothing, and resuming owes nothing for the pause", async () => {
    const { account, shard } = await setUp();
    await created(account, "job", "p", { cron: "* * * * *" });
    const paused = await putSchedule(account, "job", "p", { cron: "* * * * *", paused: true });
    expect(await paused.json()).toMatchObject({ paused: true, nextRunAt: null });
    await rewind(shard, account, "p", 5 * 60_000);
    await runDurableObjectAlarm(shard);
    expect(await scheduledTasks(account)).toEqual([]);
    const resumed = (await (await putSchedule(account, "job", "p", { cron: "* * * * *" })).json()) as Schedule;
    expect(Date.parse(resumed.nextRunAt ?? "")).toBeGreaterThan(Date.now());
    await runDurableObjectAlarm(shard);
    expect(await scheduledTasks(account)).toEqual([]);
  });

  it("a paused function holds its scheduled tasks like any others; deleting it deletes its schedules", async () => {
    const { account, shard } = await setUp();
    await created(account, "job", "held", { cron: "0 0 * * *" });
    expect((await tenant(account, "/v1/functions/job/pause", { method: "POST" })).status).toBe(200);
    await rewind(shard, account, "held", 2 * DAY);
    await runDurableObjectAlarm(shard);
    const [task] = await scheduledTasks(account);
    expect(task?.state).toBe("queued");

    const deleted = await tenant(account, "/v1/functions/job", { method: "DELETE" });
    expect(deleted.status).toBe(200);
    const rows = await runInDurableObject(
      shard,
      (_instance, state) =>
        state.storage.sql.exec(`SELECT id FROM schedules WHERE account = ?`, account.id).toArray().length,
    );
    expect(rows).toBe(0);
    // A function of the same name made again starts with no schedules.
    await putFunction(account, "job", { target: demoTarget, isolation: "dedicated" });
    const list = (await (await tenant(account, "/v1/functions/job/schedules")).json()) as { schedules: unknown[] };
    expect(list.schedules).toEqual([]);
  });

  it("schedules follow their function to another shard: every tick fires once, on one shard, none skipped", async () => {
    const account = await createAccount("sched-move");
    await putFunction(account, "job", { target: demoTarget, isolation: "account" });
    const oldShard = await shardOf(account, "job");
    await created(account, "job", "often", { cron: "*/2 * * * * *" });
    await created(account, "job", "later", { cron: "0 0 1 1 *", paused: true });
    // The shards' own alarms fire the ticks, before and after the move.
    await vi.waitFor(async () => expect((await scheduledTasks(account)).length).toBeGreaterThanOrEqual(2), {
      timeout: 10_000,
      interval: 100,
    });
    await putFunction(account, "job", { target: demoTarget, isolation: "dedicated" });
    const newShard = await shardOf(account, "job");
    expect(newShard.id.toString()).not.toBe(oldShard.id.toString());
    const onNewShard = () =>
      runInDurableObject(
        newShard,
        (_instance, state) =>
          state.storage.sql
            .exec(`SELECT id FROM tasks WHERE account = ? AND schedule IS NOT NULL`, account.id)
            .toArray().length,
      );
    await vi.waitFor(async () => expect(await onNewShard()).toBeGreaterThanOrEqual(2), {
      timeout: 10_000,
      interval: 100,
    });
    expect(await scheduleRow(oldShard, account, "often")).toBeUndefined();
    expect(await scheduleRow(newShard, account, "often")).toMatchObject({ moved_to: null });
    expect((await putSchedule(account, "job", "often", { cron: "*/2 * * * * *", paused: true })).status).toBe(200);
    // A tick already planned when the pause landed is dropped with its plan: nothing fires after this answer.
    const tasks = await scheduledTasks(account);
    await runDurableObjectAlarm(newShard);
    await runDurableObjectAlarm(oldShard);
    expect(await scheduledTasks(account)).toHaveLength(tasks.length);

    const ticks = tasks.map((t) => Date.parse(t.scheduledFor ?? "")).sort((a, b) => a - b);
    expect(new Set(ticks).size).toBe(ticks.length);
    // Consecutive ticks are 2 s apart, unless ticks were missed (a slow machine), and then the task says it was late.
    const byTick = new Map(tasks.map((t) => [Date.parse(t.scheduledFor ?? ""), t]));
    for (let i = 1; i < ticks.length; i++) {
      const gap = (ticks[i] ?? 0) - (ticks[i - 1] ?? 0);
      if (gap !== 2_000) expect(byTick.get(ticks[i] ?? 0)?.late, `gap of ${gap} ms`).toBe(true);
    }
    const list = (await (await tenant(account, "/v1/functions/job/schedules")).json()) as { schedules: Schedule[] };
    expect(list.schedules.map((s) => [s.id, s.paused])).toEqual([
      ["later", true],
      ["often", true],
    ]);
    expect(list.schedules[1]?.lastTaskId).toBe(tasks[0]?.id);
  });
});
