/**
 * Property test of a shard's dispatch under random workloads (accounts with and without `maxConcurrency`, functions
 * with random windows and per-key caps, keyed and keyless tasks, delays, failures and retries): at every pass no
 * function exceeds its window, no lane its `maxConcurrencyPerKey`, no account its grant, the shard its slots; a pass is
 * work conserving (a second pass at the same moment starts nothing, also after a report's answer that says nothing is
 * left for the pool); and at the end every task has ended.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { FunctionRecord, InvocationJob } from "../../src/records";
import { ShardStore } from "../../src/shard";
import { NodeSql } from "../support/node-sql";
import { testFunction, testTask } from "../support/records";
import { TEST_SHARD_SETTINGS } from "../support/shard-settings";

const T0 = Date.parse("2026-06-01T00:00:00Z");
const SLOTS = TEST_SHARD_SETTINGS.invokers * TEST_SHARD_SETTINGS.callsPerInvoker;

const workload = fc.record({
  accounts: fc.array(
    fc.record({
      limit: fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined }),
      functions: fc.array(
        fc.record({
          window: fc.integer({ min: 1, max: 20 }),
          perKey: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
          tasks: fc.array(
            fc.record({
              key: fc.option(fc.constantFrom("k1", "k2", "k3", "k4"), { nil: undefined }),
              delayS: fc.constantFrom(0, 0, 0, 1, 3),
            }),
            { maxLength: 40 },
          ),
        }),
        { minLength: 1, maxLength: 3 },
      ),
    }),
    { minLength: 1, maxLength: 3 },
  ),
  seed: fc.integer(),
});

describe("dispatch under random workloads", () => {
  it("respects every cap, keeps slots busy while work waits, and ends every task (property)", () => {
    fc.assert(
      fc.property(workload, ({ accounts, seed }) => {
        const store = new ShardStore(new NodeSql(), TEST_SHARD_SETTINGS);
        let random = seed >>> 0;
        const next = () => {
          random = (Math.imul(random, 1103515245) + 12345) >>> 0;
          return random / 2 ** 32;
        };
        const fns = new Map<string, FunctionRecord>();
        const limits = new Map<string, number>();
        let submitted = 0;
        accounts.forEach((a, ai) => {
          const account = `acct${ai}`;
          if (a.limit !== undefined) limits.set(account, a.limit);
          a.functions.forEach((f, fi) => {
            const fn = testFunction(
              account,
              `f${fi}`,
              "s",
              {
                maxConcurrency: f.window,
                retry: { maxAttempts: 2, initialBackoffMs: 0, maxBackoffMs: 0 },
                ...(f.perKey ? { fairness: { maxConcurrencyPerKey: f.perKey } } : {}),
              },
              T0 - 1,
            );
            fns.set(`${account}/${fn.name}`, fn);
            f.tasks.forEach((t, ti) => {
              submitted++;
              const extra = {
                ...(t.key ? { fairnessKey: t.key } : {}),
                ...(t.delayS ? { delaySeconds: t.delayS } : {}),
              };
              store.accept(
                [
                  testTask(fn, `${account}-${fn.name}-${ti}`, T0, extra, {
                    accountLimits: { maxConcurrency: a.limit ?? null, version: 1 },
                  }),
                ],
                T0,
              );
            });
          });
        });

        const running = new Map<string, InvocationJob & { key: string | undefined }>();
        let now = T0;
        for (let step = 0; step < 2_000 && running.size + remaining(store) > 0; step++) {
          now += 50;
          // A single-shard limiter: each grant is what the shard asks for, within the limit.
          for (const request of store.grantRequests(now)) {
            store.recordGrant(request.account, Math.min(request.want, request.limit), now);
          }
          // Some steps run no pass for the pool: only the answers to reports below start calls, with a backlog.
          if (next() < 0.6) {
            for (const job of [...store.planDispatch("s", now).byInvoker.values()].flat()) {
              running.set(job.taskId, { ...job, key: store.getTask(job.account, job.taskId).task?.fairnessKey });
            }
            // Work conserving: one pass takes all it may, so a second pass at the same moment finds nothing to start.
            expect(store.planDispatch("s", now).dispatched).toBe(0);
          }
          const jobs = [...running.values()];
          expect(jobs.length).toBeLessThanOrEqual(SLOTS);
          const count = (pick: (j: (typeof jobs)[number]) => string) => {
            const counts = new Map<string, number>();
            for (const j of jobs) counts.set(pick(j), (counts.get(pick(j)) ?? 0) + 1);
            return counts;
          };
          for (const [key, n] of count((j) => `${j.account}/${j.functionName}`)) {
            expect(n).toBeLessThanOrEqual(fns.get(key)?.spec.maxConcurrency ?? 0);
          }
          for (const [key, n] of count((j) => `${j.account}/${j.functionName}/${j.key ?? ""}`)) {
            const perKey = fns.get(key.slice(0, key.lastIndexOf("/")))?.spec.fairness?.maxConcurrencyPerKey;
            if (perKey !== undefined) expect(n).toBeLessThanOrEqual(perKey);
          }
          for (const [account, n] of count((j) => j.account)) {
            expect(n).toBeLessThanOrEqual(limits.get(account) ?? Number.POSITIVE_INFINITY);
          }
          // Some calls end: most succeed, some fail (and retry once).
          for (const job of jobs) {
            if (next() < 0.5) continue;
            running.delete(job.taskId);
            const fail = next() < 0.2;
            store.applyOutcome(
              {
                taskId: job.taskId,
                invocation: job.invocation,
                startedAt: now,
                durationMs: 5,
                outcome: fail
                  ? { kind: "transient", error: { kind: "http", message: "500", status: 500 } }
                  : { kind: "succeeded", status: 200, body: { contentType: "text/plain", size: 0 } },
              },
              now,
              () => 0,
            );
          }
          // The answer to a report: a pass for one invoker's free slots. When it says nothing is left for the pool,
          // a pass for the pool at the same moment starts nothing (with account limits the shard runs one anyway);
          // otherwise the shard runs that pass.
          const answer = store.planDispatch("s", now, {
            invoker: Math.floor(next() * TEST_SHARD_SETTINGS.invokers),
            free: 1 + Math.floor(next() * 2),
          });
          const pool = answer.exhausted || store.hasAccountLimits() ? undefined : store.planDispatch("s", now);
          expect(pool?.dispatched ?? 0).toBe(0);
          for (const job of [...answer.byInvoker.values()].flat()) {
            running.set(job.taskId, { ...job, key: store.getTask(job.account, job.taskId).task?.fairnessKey });
          }
        }
        const counts = store.countByState();
        expect(counts.queued ?? 0).toBe(0);
        expect(counts.running ?? 0).toBe(0);
        expect((counts.succeeded ?? 0) + (counts.failed ?? 0)).toBe(submitted);
      }),
      {
        numRuns: 150,
        ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED), path: process.env.FC_PATH } : {}),
      },
    );
  }, 60_000);
});

function remaining(store: ShardStore): number {
  const counts = store.countByState();
  return (counts.queued ?? 0) + (counts.running ?? 0);
}
