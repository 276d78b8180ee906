/**
 * Runner-neutral cases for what a shard records for stats and metrics (src/shard/observations.ts), with an explicit
 * clock: stage timings per task, throughput, history points with throttles, bounded rows, counts kept through a
 * retention purge, and the Prometheus figures. Run in Node (test/unit/observations.test.ts) and inside workerd
 * (test/workers/observability.test.ts).
 */
import { expect } from "vitest";
import { mergeShardStats } from "../../src/observability";
import type { InvocationOutcome } from "../../src/outcome";
import { renderMetrics } from "../../src/prometheus";
import type { InvocationJob } from "../../src/records";
import { ShardStore } from "../../src/shard";
import type { Sql } from "../../src/sql";
import { parseExposition, sampleValue } from "../support/prometheus-text";
import { testFunction, testTask } from "../support/records";
import { TEST_SHARD_SETTINGS } from "../support/shard-settings";
import type { StoreCase } from "./shard-store.cases";

const T0 = Date.parse("2026-06-01T00:00:00Z");
const OK: InvocationOutcome = {
  kind: "succeeded",
  status: 200,
  body: { contentType: "application/json", size: 2, inline: new TextEncoder().encode("{}") },
};

function setup(sql: Sql, spec: Record<string, unknown> = {}) {
  const store = new ShardStore(sql, TEST_SHARD_SETTINGS);
  const fn = testFunction("acme", "work", "s", { maxConcurrency: 4, ...spec }, T0 - 1000);
  store.upsertFunction(fn);
  let n = 0;
  const submit = (at: number) => {
    const id = `t-${++n}`;
    store.accept([testTask(fn, id, at)], at);
    return id;
  };
  const dispatch = (at: number): InvocationJob[] => [...store.planDispatch("s", at).byInvoker.values()].flat();
  const report = (job: InvocationJob, at: number, durationMs: number, outcome: InvocationOutcome = OK) =>
    store.applyOutcome(
      { taskId: job.taskId, invocation: job.invocation, startedAt: at - durationMs, durationMs, outcome },
      at,
      () => 0.5,
    );
  const stats = (now: number) => mergeShardStats([store.stats("acme", [{ name: "work", current: true }], now)], now);
  return { sql, store, fn, submit, dispatch, report, stats };
}

export const observationCases: readonly StoreCase[] = [
  {
    name: "observations: stage percentiles and throughput from the tasks' own timings",
    run: (sql) => {
      const { submit, dispatch, report, stats } = setup(sql);
      // 20 tasks: each waits 100 ms in the queue, runs 40 ms (reported), ends 200 ms after it was accepted.
      for (let i = 0; i < 20; i++) {
        const at = T0 + i * 1000;
        submit(at);
        const [job] = dispatch(at + 100);
        if (!job) throw new Error("nothing dispatched");
        report(job, at + 200, 40);
      }
      const s = stats(T0 + 30_000);
      expect(s.counts).toEqual({ succeeded: 20 });
      expect(s.latencyMs.queueWait.p50).toBeGreaterThanOrEqual(99);
      expect(s.latencyMs.queueWait.p99).toBeLessThanOrEqual(101);
      expect(s.latencyMs.execution).toEqual({ p50: 40, p95: 40, p99: 40 });
      expect(s.latencyMs.endToEnd.p50).toBeGreaterThanOrEqual(198);
      expect(s.latencyMs.endToEnd.p50).toBeLessThanOrEqual(202);
      // 20 tasks in the first 30 s of a window that started at T0 - 4 min.
      expect(s.throughputPerMinute).toBeCloseTo(20 / 4.5, 1);
      // Ten minutes later the window holds none of them; counts stay.
      const later = stats(T0 + 10 * 60_000);
      expect(later.latencyMs.execution.p50).toBeNull();
      expect(later.throughputPerMinute).toBe(0);
      expect(later.counts).toEqual({ succeeded: 20 });
    },
  },
  {
    name: "observations: history points per 10 s with the window, calls in flight, queued and throttles",
    run: (sql) => {
      const { submit, dispatch, report, stats } = setup(sql);
      for (let i = 0; i < 6; i++) submit(T0);
      const jobs = dispatch(T0 + 10);
      expect(jobs).toHaveLength(4);
      // Two throttles in the first slot; the window shrinks. The slot shows the most calls in flight it sampled (4, at
      // dispatch); the quiet slot after it carries its last sample (2 left in flight after the second throttle).
      report(jobs[0] as InvocationJob, T0 + 1500, 5, { kind: "throttled", status: 429 });
      report(jobs[1] as InvocationJob, T0 + 2600, 5, { kind: "throttled", status: 429 });
      // Twenty seconds later the rest succeed.
      report(jobs[2] as InvocationJob, T0 + 20_000, 5);
      report(jobs[3] as InvocationJob, T0 + 20_100, 5);
      const s = stats(T0 + 25_000);
      expect(s.history).toHaveLength(360);
      const at = (t: number) => s.history.find((p) => p.t === new Date(t).toISOString());
      const first = at(T0);
      expect(first?.throttled).toBe(2);
      expect(first?.inFlight).toBe(4);
      expect(first?.concurrencyLimit).toBeLessThan(4);
      // The quiet slot in between carries the sample forward, without throttles.
      expect(at(T0 + 10_000)).toMatchObject({ inFlight: 2, throttled: 0 });
      const third = at(T0 + 20_000);
      // The slot now: its peak (one call left at the first report in it), while the live count is 0.
      expect(third?.inFlight).toBe(1);
      expect(s.inFlight).toBe(0);
      expect(third?.throttled).toBe(0);
      // Before T0 nothing happened.
      expect(at(T0 - 10_000)).toMatchObject({ inFlight: 0, queued: 0, throttled: 0 });
      const totals = s.history.reduce((sum, p) => sum + p.throttled, 0);
      expect(totals).toBe(2);
    },
  },
  {
    name: "observations: bounded rows (60 minute rows, 360 slots per function) and counts kept through retention",
    run: (sql) => {
      const { store, submit, dispatch, report, stats } = setup(sql, { retentionSeconds: 60 });
      let now = T0;
      // One task every 20 s for 3 hours.
      for (let i = 0; i < 540; i++) {
        submit(now);
        const [job] = dispatch(now);
        if (!job) throw new Error("nothing dispatched");
        report(job, now + 5, 5);
        now += 20_000;
        if (i % 50 === 0) store.purgeExpired(now);
      }
      store.purgeExpired(now);
      const count = (table: string) => sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`).one().n;
      expect(count("latency_minutes")).toBeLessThanOrEqual(60);
      expect(count("history_slots")).toBeLessThanOrEqual(360);
      // Retention purged almost all tasks; their counts stay.
      expect(count("tasks")).toBeLessThan(10);
      expect(stats(now).counts).toEqual({ succeeded: 540 });
      const metrics = parseExposition(renderMetrics(store.metrics("acme", [{ name: "work", current: true }])));
      expect(
        sampleValue(metrics, "sluice_tasks_total", "sluice_tasks_total", { function: "work", state: "succeeded" }),
      ).toBe(540);
      expect(
        sampleValue(metrics, "sluice_execution_seconds", "sluice_execution_seconds_count", { function: "work" }),
      ).toBe(540);
    },
  },
  {
    name: "observations: metrics count endings, throttles, deliveries and stage buckets; cancel and expiry count too",
    run: (sql) => {
      const { store, submit, dispatch, report } = setup(sql, {
        maxEventAgeSeconds: 60,
        destinations: { onSuccess: { type: "webhook", url: "https://example.com/hook" } },
      });
      const a = submit(T0);
      const b = submit(T0);
      const [ja, jb] = dispatch(T0 + 1);
      report(ja as InvocationJob, T0 + 30, 20, { kind: "throttled", status: 503 });
      report(jb as InvocationJob, T0 + 40, 30);
      const [delivery] = store.pendingHandoffs("s", 10, T0 + 41);
      if (!delivery) throw new Error("no delivery");
      store.markHandedOff([delivery.deliveryId], T0 + 41);
      store.applyDeliveryReport({
        taskId: b,
        deliveryId: delivery.deliveryId,
        state: "delivered",
        attempts: 1,
        at: T0 + 50,
      });
      // A duplicate final report does not count twice.
      store.applyDeliveryReport({
        taskId: b,
        deliveryId: delivery.deliveryId,
        state: "delivered",
        attempts: 1,
        at: T0 + 51,
      });
      expect(store.operate("acme", a, "cancel", T0 + 60).ok).toBe(true);
      submit(T0 + 100);
      store.operate("acme", "t-3", "pause", T0 + 100);
      store.operate("acme", "t-3", "resume", T0 + 100);
      // Past maxEventAgeSeconds, the third task expires at the next pass.
      store.planDispatch("s", T0 + 200_000);
      const text = renderMetrics(store.metrics("acme", [{ name: "work", current: true }]));
      const m = parseExposition(text);
      const total = (state: string) =>
        sampleValue(m, "sluice_tasks_total", "sluice_tasks_total", { function: "work", state });
      expect([total("succeeded"), total("cancelled"), total("expired"), total("failed")]).toEqual([1, 1, 1, 0]);
      expect(sampleValue(m, "sluice_throttled_total", "sluice_throttled_total", { function: "work" })).toBe(1);
      expect(
        sampleValue(m, "sluice_deliveries_total", "sluice_deliveries_total", {
          function: "work",
          destination: "webhook",
          outcome: "delivered",
        }),
      ).toBe(1);
      expect(
        sampleValue(m, "sluice_execution_seconds", "sluice_execution_seconds_bucket", {
          function: "work",
          le: "0.025",
        }),
      ).toBe(0);
      expect(
        sampleValue(m, "sluice_execution_seconds", "sluice_execution_seconds_bucket", { function: "work", le: "0.05" }),
      ).toBe(1);
      expect(
        sampleValue(m, "sluice_execution_seconds", "sluice_execution_seconds_sum", { function: "work" }),
      ).toBeCloseTo(0.03, 6);
      expect(sampleValue(m, "sluice_tasks_queued", "sluice_tasks_queued", { function: "work" })).toBe(0);
      expect(
        sampleValue(m, "sluice_concurrency_limit", "sluice_concurrency_limit", { function: "work" }),
      ).toBeGreaterThan(0);
      // A shard that is not the function's current one reports no window.
      const elsewhere = store.metrics("acme", [{ name: "work", current: false }]);
      expect(elsewhere[0]?.concurrencyLimit).toBeNull();
      // A deleted function's figures go with it.
      store.deleteFunction("acme", "work", T0 + 300_000);
      expect(sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM function_totals`).one().n).toBe(0);
    },
  },
];
