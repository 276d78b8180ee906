/**
 * Observability through the real Worker: function and account stats (percentiles, throughput, history) and
 * `GET /v1/metrics`, read back by the strict exposition checker, after real tasks ran; another account sees none of it.
 * The shard's recording cases (test/cases/observations.cases.ts) run here too, over a Durable Object's own SQLite.
 */
import { env, runInDurableObject, SELF } from "cloudflare:test";
import { describe, expect, inject, it, vi } from "vitest";
import { observationCases } from "../cases/observations.cases";
import { parseExposition, sampleValue } from "../support/prometheus-text";
import {
  BASE,
  createAccount,
  demoTarget,
  expectProblem,
  putFunction,
  submit,
  tenant,
  uniqueId,
  waitForState,
} from "./helpers";

type Percentiles = { p50: number | null; p95: number | null; p99: number | null };
type Point = { t: string; concurrencyLimit: number; inFlight: number; queued: number; throttled: number };
type Stats = {
  counts: Record<string, number>;
  inFlight: number;
  queued: number;
  concurrencyLimit: number;
  maxConcurrency: number;
  latencyMs: { queueWait: Percentiles; execution: Percentiles; endToEnd: Percentiles };
  latencyWindow: { from: string; to: string };
  throughputPerMinute: number;
  history: Point[];
};
type AccountStats = Stats & { functions: number; truncated: boolean };

describe("shard observations over a Durable Object's SQLite", () => {
  for (const c of observationCases) {
    it(c.name, async () => {
      await runInDurableObject(env.SHARD.getByName(uniqueId("obs-case")), (_instance, state) =>
        c.run(state.storage.sql),
      );
    }, 30_000);
  }
});

describe("stats and metrics of real tasks", () => {
  it("function stats: percentiles per stage, throughput and history; account stats sum functions; metrics match", async () => {
    const account = await createAccount();
    const other = await createAccount();
    const receiver = inject("receiverUrl");
    await putFunction(account, "slow", { target: demoTarget, maxConcurrency: 5, isolation: "account" });
    await putFunction(account, "quick", {
      target: demoTarget,
      destinations: { onSuccess: { type: "webhook", url: `${receiver}/hook/${uniqueId("obs")}` } },
    });
    const slow = await Promise.all(
      Array.from({ length: 8 }, () => submit(account, "slow", JSON.stringify({ sleepMs: 150 }))),
    );
    const quick = await Promise.all(
      Array.from({ length: 4 }, (_, i) => submit(account, "quick", JSON.stringify({ echo: i }))),
    );
    for (const id of [...slow, ...quick]) await waitForState(account, id, "succeeded", 15_000);

    const stats = (await (await tenant(account, "/v1/functions/slow/stats")).json()) as Stats;
    expect(stats.counts).toEqual({ succeeded: 8 });
    // Each call sleeps 150 ms: execution and end to end are at least that; 8 tasks over a 5-call window queue a bit.
    expect(stats.latencyMs.execution.p50).toBeGreaterThanOrEqual(148);
    expect(stats.latencyMs.execution.p99).toBeLessThan(5000);
    expect(stats.latencyMs.endToEnd.p50 as number).toBeGreaterThanOrEqual(stats.latencyMs.execution.p50 as number);
    expect(stats.latencyMs.queueWait.p50).toEqual(expect.any(Number));
    expect(stats.latencyMs.endToEnd.p99 as number).toBeGreaterThanOrEqual(stats.latencyMs.endToEnd.p50 as number);
    const windowMinutes = (Date.parse(stats.latencyWindow.to) - Date.parse(stats.latencyWindow.from)) / 60_000;
    expect(windowMinutes).toBeGreaterThan(4);
    expect(windowMinutes).toBeLessThanOrEqual(5);
    expect(stats.throughputPerMinute).toBeCloseTo(8 / windowMinutes, 1);
    expect(stats.history).toHaveLength(360);
    const last = stats.history[359] as Point;
    expect(Date.now() - Date.parse(last.t)).toBeLessThan(20_000);
    expect(last.concurrencyLimit).toBe(5);
    expect(stats).toMatchObject({ inFlight: 0, queued: 0 });
    // The calls ran in the last minute: some 10 s point saw them in flight, never more than the window.
    const recent = stats.history.slice(-7);
    expect(Math.max(...recent.map((p) => p.inFlight))).toBeGreaterThan(0);
    expect(Math.max(...stats.history.map((p) => p.inFlight))).toBeLessThanOrEqual(5);

    const totals = (await (await tenant(account, "/v1/account/stats")).json()) as AccountStats;
    expect(totals).toMatchObject({ functions: 2, truncated: false, counts: { succeeded: 12 }, inFlight: 0, queued: 0 });
    expect(totals.maxConcurrency).toBe(5 + 100); // "quick" has the default maxConcurrency
    const accountMinutes = (Date.parse(totals.latencyWindow.to) - Date.parse(totals.latencyWindow.from)) / 60_000;
    expect(totals.throughputPerMinute).toBeCloseTo(12 / accountMinutes, 1);
    expect(totals.latencyMs.execution.p99 as number).toBeGreaterThanOrEqual(148);
    expect(totals.history).toHaveLength(360);

    // Metrics: the delivery's final report reaches the shard a moment after the task succeeded.
    const families = await vi.waitFor(
      async () => {
        const response = await tenant(account, "/v1/metrics");
        expect(response.status).toBe(200);
        expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
        const parsed = parseExposition(await response.text());
        const delivered = sampleValue(parsed, "sluice_deliveries_total", "sluice_deliveries_total", {
          function: "quick",
          destination: "webhook",
          outcome: "delivered",
        });
        expect(delivered).toBe(4);
        return parsed;
      },
      { timeout: 15_000, interval: 200 },
    );
    const value = (family: string, name: string, labels: Record<string, string>) =>
      sampleValue(families, family, name, labels);
    expect(value("sluice_tasks_total", "sluice_tasks_total", { function: "slow", state: "succeeded" })).toBe(8);
    expect(value("sluice_tasks_total", "sluice_tasks_total", { function: "quick", state: "succeeded" })).toBe(4);
    expect(value("sluice_tasks_total", "sluice_tasks_total", { function: "slow", state: "failed" })).toBe(0);
    for (const family of ["sluice_queue_wait_seconds", "sluice_execution_seconds", "sluice_end_to_end_seconds"]) {
      expect(value(family, `${family}_count`, { function: "slow" })).toBe(8);
      expect(value(family, `${family}_bucket`, { function: "slow", le: "+Inf" })).toBe(8);
    }
    expect(value("sluice_execution_seconds", "sluice_execution_seconds_bucket", { function: "slow", le: "0.1" })).toBe(
      0,
    );
    expect(
      value("sluice_execution_seconds", "sluice_execution_seconds_sum", { function: "slow" }) as number,
    ).toBeGreaterThan(8 * 0.148);
    expect(value("sluice_tasks_in_flight", "sluice_tasks_in_flight", { function: "slow" })).toBe(0);
    expect(value("sluice_concurrency_limit", "sluice_concurrency_limit", { function: "slow" })).toBe(5);
    expect(value("sluice_throttled_total", "sluice_throttled_total", { function: "quick" })).toBe(0);

    // Another account sees none of it: its own empty figures, no series of these functions, and 404 on the function.
    await expectProblem(await tenant(other, "/v1/functions/slow/stats"), 404, "not-found");
    const strangers = (await (await tenant(other, "/v1/account/stats")).json()) as AccountStats;
    expect(strangers).toMatchObject({ functions: 0, counts: {}, inFlight: 0, throughputPerMinute: 0 });
    expect(strangers.latencyMs.execution).toEqual({ p50: null, p95: null, p99: null });
    const theirs = parseExposition(await (await tenant(other, "/v1/metrics")).text());
    expect([...theirs.values()].every((f) => f.samples.length === 0)).toBe(true);
  });

  it("metrics and account stats need a tenant key", async () => {
    for (const path of ["/v1/metrics", "/v1/account/stats"]) {
      const response = await SELF.fetch(`${BASE}${path}`);
      expect(response.status).toBe(401);
      expect(response.headers.get("content-type")).toContain("application/problem+json");
    }
  });
});
