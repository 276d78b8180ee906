import { env, evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, inject, it, vi } from "vitest";
import { REPORT_WAKE_MS } from "../../durable-objects/shard-dispatch";
import { invokerName, REGISTRY_NAME } from "../../src/placement";
import type { InvocationJob } from "../../src/records";
import { createAccount, demoTarget, putFunction, quietPeriod, shardOf, tenant } from "./helpers";

function job(taskId: string, payload: unknown, shard: string): InvocationJob {
  const bytes = new TextEncoder().encode(JSON.stringify(payload));
  return {
    shard,
    taskId,
    account: "nobody",
    functionName: "f",
    attempt: 1,
    invocation: 1,
    target: { type: "service", service: "DEMO_FN" },
    timeoutMs: 10_000,
    deadline: Date.now() + 10_000,
    callbackToken: "t",
    payload: { contentType: "application/json", size: bytes.byteLength, inline: bytes },
  };
}

async function jobsLeft(name: string): Promise<string[]> {
  return runInDurableObject(env.INVOKER.getByName(name), (_instance, state) =>
    state.storage.sql
      .exec<{ task_id: string }>("SELECT task_id FROM jobs ORDER BY task_id")
      .toArray()
      .map((r) => r.task_id),
  );
}

describe("invoker", () => {
  it("runs at most 6 calls at once and queues the rest", async () => {
    const name = "invoker:test-cap:0";
    const invoker = env.INVOKER.getByName(name);
    const jobs = Array.from({ length: 8 }, (_, i) => job(`cap-${i}`, { sleepMs: 600 }, "test-cap"));
    await invoker.enqueue(jobs);
    // Two waves of 600 ms: after the first wave only the 2 queued jobs are left.
    await vi.waitFor(async () => expect((await jobsLeft(name)).length).toBe(2), { timeout: 3000, interval: 50 });
    await vi.waitFor(async () => expect(await jobsLeft(name)).toEqual([]), { timeout: 3000, interval: 50 });
  });

  it("reports quick calls at once even while a long call occupies the same invoker (no lost wake-up)", async () => {
    const name = "invoker:test-wakeup:0";
    const invoker = env.INVOKER.getByName(name);
    await invoker.enqueue([job("slow", { sleepMs: 4000 }, "test-wakeup")]);
    await quietPeriod(100, "let the slow call occupy the invoker before the fast ones arrive");
    await invoker.enqueue(Array.from({ length: 5 }, (_, i) => job(`fast-${i}`, { echo: i }, "test-wakeup")));
    // The fast calls finish within milliseconds, several of them while the loop is busy reporting the first one.
    await vi.waitFor(async () => expect(await jobsLeft(name)).toEqual(["slow"]), { timeout: 1500, interval: 25 });
    await vi.waitFor(async () => expect(await jobsLeft(name)).toEqual([]), { timeout: 6000, interval: 100 });
  });

  it("aborts a running call when its task is cancelled", async () => {
    const name = "invoker:test-abort:0";
    const invoker = env.INVOKER.getByName(name);
    const started = Date.now();
    await invoker.enqueue([job("victim", { sleepMs: 5000 }, "test-abort")]);
    await quietPeriod(200, "let the call start before it is aborted");
    expect((await invoker.abort("victim", 1)).aborted).toBe(true);
    await vi.waitFor(async () => expect(await jobsLeft(name)).toEqual([]), { timeout: 2000, interval: 25 });
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe("invoker: an outcome whose report failed", () => {
  /** The invoker `name`, whose reports go to a stub shard that fails until `up()`; `received` logs every report. */
  async function withFailingShard(name: string) {
    const invoker = env.INVOKER.getByName(name);
    const received: { startedAt: number; ok: boolean }[] = [];
    let shardUp = false;
    const shard = {
      report: async (reports: { startedAt: number }[]) => {
        for (const r of reports) received.push({ startedAt: r.startedAt, ok: shardUp });
        if (!shardUp) throw new Error("the shard is restarting");
        return { applied: reports.length, jobs: [] };
      },
    };
    await runInDurableObject(invoker, (instance) => {
      // This invoker's reports go to a shard that fails until `shardUp` (its `env` is the object's own field).
      const self = instance as unknown as { env: Env };
      self.env = { ...self.env, SHARD: { ...self.env.SHARD, getByName: () => shard } as unknown as Env["SHARD"] };
    });
    return { invoker, received, up: () => (shardUp = true) };
  }

  async function stored(invoker: DurableObjectStub): Promise<Record<string, string | null>> {
    return runInDurableObject(invoker, (_i, state) =>
      Object.fromEntries(
        state.storage.sql
          .exec<{ task_id: string; report: string | null }>("SELECT task_id, report FROM jobs")
          .toArray()
          .map((r) => [r.task_id, r.report]),
      ),
    );
  }

  it("is written down and reported again later, without calling the function again", async () => {
    const name = "invoker:test-keep:0";
    const { invoker, received, up } = await withFailingShard(name);
    await invoker.enqueue([job("kept", { echo: 1 }, "test-keep")]);
    // The first report failed: the outcome is now in storage, and the job does not look waiting.
    await vi.waitFor(async () => expect((await stored(invoker)).kept).toBeTruthy(), { timeout: 3000, interval: 25 });
    up();
    await vi.waitFor(async () => expect(await jobsLeft(name)).toEqual([]), { timeout: 5000, interval: 50 });
    // One call: every report, the failed one and the one taken, carries the same call's start.
    expect(received.filter((r) => r.ok)).toHaveLength(1);
    expect(new Set(received.map((r) => r.startedAt)).size).toBe(1);
  });

  it("a busy invoker reports it again at its next turn, not only once its long calls end", async () => {
    const name = "invoker:test-keep-busy:0";
    const { invoker, received, up } = await withFailingShard(name);
    const long = job("long", { sleepMs: 5000 }, "test-keep-busy");
    await invoker.enqueue([long]);
    await invoker.enqueue([job("quick", { echo: 1 }, "test-keep-busy")]);
    await vi.waitFor(async () => expect((await stored(invoker)).quick).toBeTruthy(), { timeout: 3000, interval: 25 });
    // A repeated hand-off of the running call turns the loop without a new outcome: it reads the stored one and
    // fails again, the shard still down.
    await invoker.enqueue([long]);
    await vi.waitFor(() => expect(received.length).toBeGreaterThanOrEqual(2), { timeout: 2000, interval: 25 });
    up();
    await invoker.enqueue([long]);
    await vi.waitFor(async () => expect(await jobsLeft(name)).toEqual(["long"]), { timeout: 2000, interval: 25 });
  });
});

describe("invoker: the report's answer carries the next jobs", () => {
  it("a busy function runs through report answers, never more than 6 calls per invoker, and an invoker evicted mid-run loses nothing", async () => {
    const account = await createAccount("answer");
    await putFunction(account, "busy", {
      target: demoTarget,
      maxConcurrency: 60,
      timeoutMs: 2000,
      isolation: "dedicated",
    });
    const record = await env.REGISTRY.getByName(REGISTRY_NAME).getFunction(account.id, "busy");
    const shardName = record?.shard ?? "";
    const shard = env.SHARD.getByName(shardName);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await tenant(account, "/v1/functions/busy/tasks:batch", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(Array.from({ length: 100 }, (_, j) => ({ payload: { sleepMs: 40, echo: i * 100 + j } }))),
      });
      expect(response.status).toBe(202);
      ids.push(...((await response.json()) as { tasks: { id: string }[] }).tasks.map((t) => t.id));
    }
    let evicted = false;
    let peakPerInvoker = 0;
    await vi.waitFor(
      async () => {
        const perInvoker = await runInDurableObject(shard, (_i, state) =>
          state.storage.sql
            .exec<{ n: number }>(
              `SELECT COUNT(*) AS n FROM tasks WHERE state = 'running' AND async = 0 GROUP BY invoker`,
            )
            .toArray()
            .map((r) => r.n),
        );
        peakPerInvoker = Math.max(peakPerInvoker, ...perInvoker, 0);
        if (!evicted && perInvoker.length > 0) {
          evicted = true;
          await evictDurableObject(env.INVOKER.getByName(invokerName(shardName, 0)));
        }
        const counts = await shard.countByState(account.id, "busy");
        expect(counts).toEqual({ succeeded: 300 });
      },
      { timeout: 40_000, interval: 20 },
    );
    expect(evicted).toBe(true);
    expect(peakPerInvoker).toBeGreaterThan(0);
    expect(peakPerInvoker).toBeLessThanOrEqual(6);
    expect(new Set(ids).size).toBe(300);
  }, 60_000);
});

describe("invoker: a report's answer that never arrives", () => {
  it("leaves an alarm by the started tasks' lease, so they run again even when the shard's alarm was far away", async () => {
    const account = await createAccount("lost-answer");
    await putFunction(account, "f", { target: demoTarget, timeoutMs: 1000, isolation: "dedicated" });
    const shard = await shardOf(account, "f");
    // A task due in 1 s; once it sits in the shard, the shard's only alarm is moved an hour away (as if a retention
    // purge or a schedule's tick were all it waited for).
    const response = await tenant(account, "/v1/functions/f/tasks", {
      method: "POST",
      headers: { "content-type": "application/json", "sluice-delay": "1" },
      body: JSON.stringify({ echo: "lost" }),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    await vi.waitFor(async () => expect(await shard.countByState(account.id, "f")).toEqual({ queued: 1 }), {
      timeout: 5000,
      interval: 20,
    });
    await runInDurableObject(shard, (_i, state) => state.storage.setAlarm(Date.now() + 3_600_000));
    await quietPeriod(1200, "let the delay end");
    // An invoker's report (of nothing) asks for work: the answer carries the task, and is lost on the way back.
    const answer = await shard.report([], { invoker: 0, free: 6 });
    expect(answer.jobs.map((j) => j.taskId)).toEqual([id]);
    await expectAlarmByLease(shard);
    // The lease runs out (1 s timeout + 1 s grace), the alarm queues the task again, and it runs.
    await vi.waitFor(async () => expect(await shard.countByState(account.id, "f")).toEqual({ succeeded: 1 }), {
      timeout: 10_000,
      interval: 100,
    });
  }, 20_000);
});

/** A task of `fn` (a 15 s call) submitted and running on its shard: the shard, its id and its invocation. */
async function startLongCall(account: Awaited<ReturnType<typeof createAccount>>, fn: string) {
  const shard = await shardOf(account, fn);
  const response = await tenant(account, `/v1/functions/${fn}/tasks`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ sleepMs: 15_000 }),
  });
  expect(response.status).toBe(202);
  const { id } = (await response.json()) as { id: string };
  const invocation = await vi.waitFor(
    () =>
      runInDurableObject(shard, (_i, state) => {
        const row = state.storage.sql
          .exec<{ invocations: number }>(`SELECT invocations FROM tasks WHERE id = ? AND state = 'running'`, id)
          .toArray()[0];
        if (!row) throw new Error("not running yet");
        return row.invocations;
      }),
    { timeout: 5000, interval: 20 },
  );
  return { shard, id, invocation };
}

/** The shard has an alarm pending, due no later than the lease of its running task. */
async function expectAlarmByLease(shard: Awaited<ReturnType<typeof shardOf>>): Promise<void> {
  const { alarm, leaseUntil } = await runInDurableObject(shard, async (_i, state) => ({
    alarm: await state.storage.getAlarm(),
    leaseUntil: state.storage.sql
      .exec<{ t: number }>(`SELECT lease_until AS t FROM tasks WHERE state = 'running'`)
      .one().t,
  }));
  expect(alarm).not.toBeNull();
  expect(alarm ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual(leaseUntil);
}

/**
 * A task of `fn` (a 15 s call) running on its shard; `beforeReport` runs inside the shard, whose only alarm is then
 * moved an hour away; then a report of the call's success, as an invoker's, asking for more work. Returns the shard
 * and when the report was sent.
 */
async function reportSuccessUnderFarAlarm(
  account: Awaited<ReturnType<typeof createAccount>>,
  fn: string,
  beforeReport: (instance: unknown) => void = () => {},
) {
  const { shard, id, invocation } = await startLongCall(account, fn);
  await runInDurableObject(shard, async (instance, state) => {
    beforeReport(instance);
    await state.storage.setAlarm(Date.now() + 3_600_000);
  });
  const body = new TextEncoder().encode('{"ok":true}');
  const reportedAt = Date.now();
  const outcome = { kind: "succeeded", status: 200, body: { contentType: "application/json", size: 11, inline: body } };
  await shard.report(
    [{ taskId: id, invocation, startedAt: reportedAt - 10, durationMs: 10, outcome: outcome as never }],
    { invoker: 0, free: 6 },
  );
  return { shard, reportedAt };
}

/** The shard's pending alarm comes before `by`, soon. */
async function expectAlarmBefore(shard: Awaited<ReturnType<typeof shardOf>>, by: number): Promise<void> {
  await vi.waitFor(
    async () => {
      const alarm = await runInDurableObject(shard, (_i, state) => state.storage.getAlarm());
      expect(alarm ?? Number.POSITIVE_INFINITY).toBeLessThan(by);
    },
    { timeout: 3000, interval: 20 },
  );
}

describe("shard: what a report leaves waiting brings the alarm near, even when the pending one was an hour away", () => {
  it("a delivery hand-off that fails: the delivery goes out", async () => {
    const account = await createAccount("handoff");
    await putFunction(account, "f", {
      target: demoTarget,
      timeoutMs: 20_000,
      isolation: "dedicated",
      destinations: { onSuccess: { type: "webhook", url: `${inject("receiverUrl")}/hook/handoff` } },
    });
    // The delivery queue refuses the next send.
    const { shard, reportedAt } = await reportSuccessUnderFarAlarm(account, "f", (instance) => {
      const bindings = (instance as { env: { DELIVERIES: Queue } }).env;
      const queue = bindings.DELIVERIES;
      bindings.DELIVERIES = {
        send: () => {
          bindings.DELIVERIES = queue;
          return Promise.reject(new Error("queue unavailable"));
        },
      } as unknown as Queue;
    });
    await expectAlarmBefore(shard, reportedAt + 60_000);
    // The alarm hands the delivery off.
    await vi.waitFor(
      async () => {
        const waiting = await runInDurableObject(
          shard,
          (_i, state) =>
            state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM deliveries WHERE handed_off = 0`).one().n,
        );
        expect(waiting).toBe(0);
      },
      { timeout: 10_000, interval: 100 },
    );
  }, 30_000);

  it("an ended task's purge under retentionSeconds", async () => {
    const account = await createAccount("purge");
    await putFunction(account, "f", {
      target: demoTarget,
      timeoutMs: 20_000,
      isolation: "dedicated",
      retentionSeconds: 30,
    });
    const { shard, reportedAt } = await reportSuccessUnderFarAlarm(account, "f");
    // Due 30 s after the task ended (the lease, 21 s after the dispatch, may come first).
    await expectAlarmBefore(shard, reportedAt + 31_000);
  }, 30_000);
});

describe("shard: report answers under load", () => {
  it("work out the next wake about once per REPORT_WAKE_MS, and the alarm still comes within it", async () => {
    const account = await createAccount("wake-rate");
    await putFunction(account, "f", { target: demoTarget, isolation: "dedicated" });
    const shard = await shardOf(account, "f");
    // Count the next-wake computations (nextWakeAt reads the earliest idempotency key once each time).
    await runInDurableObject(shard, async (_i, state) => {
      const sql = state.storage.sql as SqlStorage & { wakes?: number };
      const exec = sql.exec.bind(sql);
      sql.wakes = 0;
      sql.exec = ((query: string, ...bindings: unknown[]) => {
        if (query.includes("MIN(expires_at) AS t FROM idempotency")) sql.wakes = (sql.wakes ?? 0) + 1;
        return exec(query, ...(bindings as SqlStorageValue[]));
      }) as typeof sql.exec;
      await state.storage.setAlarm(Date.now() + 3_600_000);
    });
    // Past REPORT_WAKE_MS since the shard last worked it out (defining the function ran a pass), so the first report
    // works it out; then reports that start nothing (no work is due), as fast as they come, for half a second.
    await quietPeriod(REPORT_WAKE_MS + 100, "let the last computation age");
    const startedAt = Date.now();
    let reports = 0;
    while (Date.now() - startedAt < 500) {
      const answer = await shard.report([], { invoker: 0, free: 1 });
      expect(answer.jobs).toEqual([]);
      reports++;
    }
    const { wakes, alarm } = await runInDurableObject(shard, async (_i, state) => ({
      wakes: (state.storage.sql as SqlStorage & { wakes?: number }).wakes ?? 0,
      alarm: await state.storage.getAlarm(),
    }));
    expect(reports).toBeGreaterThan(10);
    expect(wakes).toBeGreaterThanOrEqual(1);
    expect(wakes).toBeLessThanOrEqual(2);
    // The hour-away alarm was brought within REPORT_WAKE_MS of the first report's computation.
    expect(alarm ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual(startedAt + REPORT_WAKE_MS + 100);
  }, 20_000);
});

describe("shard: a start works the alarm out again", () => {
  it("leases given out by a turn that was evicted before it set the alarm are covered once the shard starts again", async () => {
    const account = await createAccount("restart-alarm");
    await putFunction(account, "f", { target: demoTarget, timeoutMs: 20_000, isolation: "dedicated" });
    const { shard } = await startLongCall(account, "f");
    // As if the turn that started the call committed and was evicted before it set the alarm: no alarm pending.
    await runInDurableObject(shard, (_i, state) => state.storage.deleteAlarm());
    await evictDurableObject(shard);
    // Any request starts the object again.
    expect(await shard.countByState(account.id, "f")).toEqual({ running: 1 });
    await expectAlarmByLease(shard);
  }, 20_000);
});
