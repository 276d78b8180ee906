/**
 * @module
 * One member of a shard's invoker pool. Cloudflare lets one invocation hold only 6 outgoing connections open at a time
 * (the 7th waits), and the local runtime does not enforce it, so each invoker runs at most CALLS_PER_INVOKER calls at
 * once, from its own alarm, and a shard spreads its window over many invokers. Jobs and their outcomes are kept in
 * SQLite until the shard has them, so an eviction mid-call re-runs the call (at-least-once) and an outcome that could
 * not be reported is reported later without calling the function again.
 */

import { DurableObject } from "cloudflare:workers";
import { CALLS_PER_INVOKER, readConfig } from "../src/config";
import type { InvocationOutcome } from "../src/outcome";
import type { InvocationJob, OutcomeReport } from "../src/records";
import { blobOf } from "../src/sql";
import { invokeTenant } from "../workers/invoker/call";

/** Wait before retrying reports the shard did not take. */
const REPORT_RETRY_MS = 1_000;
/** An alarm may run 15 minutes; a busy invoker stops taking new calls after this and continues in a fresh alarm. */
const MAX_DRAIN_MS = 5 * 60_000;

type JobRow = {
  task_id: string;
  invocation: number;
  job: string;
  payload: ArrayBuffer | null;
  report: string | null;
  result: ArrayBuffer | null;
};

export class InvokerDurableObject extends DurableObject<Env> {
  /** Calls running right now in this instance, keyed by `taskId/invocation`, with the means to abort each. */
  readonly #active = new Map<string, AbortController>();
  #draining: Promise<void> | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS jobs (
      task_id TEXT NOT NULL, invocation INTEGER NOT NULL, job TEXT NOT NULL, payload BLOB,
      report TEXT, result BLOB, enqueued_at INTEGER NOT NULL, PRIMARY KEY (task_id, invocation))`);
    // The drain loop asks for waiting jobs and for finished ones on every turn: index both, not the whole table.
    ctx.storage.sql.exec(`CREATE INDEX IF NOT EXISTS jobs_waiting ON jobs (enqueued_at) WHERE report IS NULL`);
    ctx.storage.sql.exec(`CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (task_id) WHERE report IS NOT NULL`);
  }

  /** Store jobs from the shard and make sure they run. Returns at once; calls happen in this object's alarm. */
  async enqueue(jobs: InvocationJob[]): Promise<{ queued: number }> {
    const now = Date.now();
    this.ctx.storage.transactionSync(() => {
      for (const job of jobs) {
        const { payload, ...rest } = job;
        this.ctx.storage.sql.exec(
          `INSERT OR IGNORE INTO jobs (task_id, invocation, job, payload, enqueued_at) VALUES (?, ?, ?, ?, ?)`,
          job.taskId,
          job.invocation,
          JSON.stringify({ ...rest, payload: { ...payload, inline: undefined } }),
          blobOf(payload.inline),
          now,
        );
      }
    });
    if (this.#draining) this.#pump();
    else {
      // Run now, even if a later alarm (a report retry) is already set.
      const current = await this.ctx.storage.getAlarm();
      if (current === null || current > now) await this.ctx.storage.setAlarm(now);
    }
    return { queued: jobs.length };
  }

  /** The task was cancelled: abort its call if it is running here, drop it if it has not started. */
  abort(taskId: string, invocation: number): { aborted: boolean } {
    const controller = this.#active.get(`${taskId}/${invocation}`);
    controller?.abort(new Error("the task was cancelled"));
    if (!controller) {
      this.ctx.storage.sql.exec(
        `DELETE FROM jobs WHERE task_id = ? AND invocation = ? AND report IS NULL`,
        taskId,
        invocation,
      );
    }
    return { aborted: controller !== undefined };
  }

  /** Run every stored job, at most CALLS_PER_INVOKER at a time, until none is left. */
  override async alarm(): Promise<void> {
    if (!this.#draining) {
      this.#draining = this.#drain().finally(() => {
        this.#draining = undefined;
      });
    }
    await this.#draining;
  }

  #wake: (() => void) | undefined;
  /** Set by every completion or arrival, so one that happens while the loop is busy elsewhere is not missed. */
  #signalled = false;

  /** Nudge the drain loop: a call finished or a job arrived. */
  #pump(): void {
    this.#signalled = true;
    this.#wake?.();
  }

  async #drain(): Promise<void> {
    const stopTakingAt = Date.now() + MAX_DRAIN_MS;
    let unreported = false;
    for (;;) {
      this.#signalled = false;
      unreported = (await this.#reportFinished()) || unreported;
      const free = CALLS_PER_INVOKER - this.#active.size;
      if (free > 0 && Date.now() < stopTakingAt) {
        const rows = this.ctx.storage.sql
          .exec<JobRow>(`SELECT * FROM jobs WHERE report IS NULL ORDER BY enqueued_at LIMIT ?`, free + this.#active.size)
          .toArray()
          .filter((row) => !this.#active.has(`${row.task_id}/${row.invocation}`))
          .slice(0, free);
        for (const row of rows) this.#start(row);
      }
      if (this.#active.size === 0 && !this.#signalled) break;
      // Something finished while we were reporting: go round again without waiting.
      if (this.#signalled) continue;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
    const left = this.ctx.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM jobs`).one().n;
    if (left > 0) await this.ctx.storage.setAlarm(Date.now() + (unreported ? REPORT_RETRY_MS : 0));
  }

  #start(row: JobRow): void {
    const key = `${row.task_id}/${row.invocation}`;
    const controller = new AbortController();
    this.#active.set(key, controller);
    const stored = JSON.parse(row.job) as InvocationJob;
    const job: InvocationJob = {
      ...stored,
      payload: { ...stored.payload, ...(row.payload ? { inline: new Uint8Array(row.payload) } : {}) },
    };
    const config = readConfig(this.env);
    void invokeTenant(this.env, config, job, controller.signal)
      .then(({ startedAt, durationMs, outcome }) => this.#recordOutcome(job, startedAt, durationMs, outcome))
      .catch((error: unknown) => console.error("invocation bookkeeping failed", error))
      .finally(() => {
        this.#active.delete(key);
        this.#pump();
      });
  }

  #recordOutcome(job: InvocationJob, startedAt: number, durationMs: number, outcome: InvocationOutcome): void {
    const body = outcome.kind === "succeeded" ? outcome.body : undefined;
    const stored = body ? { ...outcome, body: { ...body, inline: undefined } } : outcome;
    this.ctx.storage.sql.exec(
      `UPDATE jobs SET report = ?, result = ? WHERE task_id = ? AND invocation = ?`,
      JSON.stringify({ taskId: job.taskId, invocation: job.invocation, startedAt, durationMs, outcome: stored }),
      blobOf(body?.inline),
      job.taskId,
      job.invocation,
    );
  }

  /** Send finished outcomes to their shards; rows leave storage only once the shard has them. */
  async #reportFinished(): Promise<boolean> {
    const rows = this.ctx.storage.sql
      .exec<JobRow>(`SELECT task_id, invocation, job, report, result FROM jobs WHERE report IS NOT NULL LIMIT 100`)
      .toArray();
    if (rows.length === 0) return false;
    const byShard = new Map<string, { rows: JobRow[]; reports: OutcomeReport[] }>();
    for (const row of rows) {
      const shard = (JSON.parse(row.job) as InvocationJob).shard;
      const report = JSON.parse(row.report ?? "null") as OutcomeReport;
      const outcome =
        report.outcome.kind === "succeeded" && row.result
          ? { ...report.outcome, body: { ...report.outcome.body, inline: new Uint8Array(row.result) } }
          : report.outcome;
      const group = byShard.get(shard) ?? { rows: [], reports: [] };
      group.rows.push(row);
      group.reports.push({ ...report, outcome });
      byShard.set(shard, group);
    }
    let failed = false;
    await Promise.all(
      [...byShard].map(async ([shard, group]) => {
        try {
          await this.env.SHARD.getByName(shard).report(group.reports);
          for (const row of group.rows) {
            this.ctx.storage.sql.exec(`DELETE FROM jobs WHERE task_id = ? AND invocation = ?`, row.task_id, row.invocation);
          }
        } catch (error) {
          failed = true;
          console.error("report to shard failed; will retry", shard, error);
        }
      }),
    );
    return failed;
  }
}
