/**
 * @module
 * An invoker's storage (the `jobs` table): the calls the shard handed it, each kept until its outcome is stored and
 * the shard has taken the report, so an eviction mid-call re-runs the call (at-least-once) and an outcome that could
 * not be reported is reported later without calling the function again. Documented in docs/storage-schema.md.
 */

import type { InvocationOutcome } from "../outcome";
import type { InvocationJob, OutcomeReport } from "../records";
import { blobOf, INT_PARAM, type Sql, type SqlValue } from "../sql";

export const JOBS_SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS jobs (
     task_id TEXT NOT NULL, invocation INTEGER NOT NULL, job TEXT NOT NULL, payload BLOB,
     report TEXT, result BLOB, enqueued_at INTEGER NOT NULL, PRIMARY KEY (task_id, invocation))`,
  // The drain loop asks for waiting jobs and for finished ones on every turn: index both, not the whole table.
  `CREATE INDEX IF NOT EXISTS jobs_waiting ON jobs (enqueued_at) WHERE report IS NULL`,
  `CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (task_id) WHERE report IS NOT NULL`,
];

type JobRow = {
  task_id: string;
  invocation: number;
  job: string;
  payload: ArrayBuffer | null;
  report: string | null;
  result: ArrayBuffer | null;
} & Record<string, SqlValue>;

/** `taskId/invocation`: one call. */
export function callKey(taskId: string, invocation: number): string {
  return `${taskId}/${invocation}`;
}

/** A call's outcome as its shard's report. */
export function finishedCall(
  job: InvocationJob,
  startedAt: number,
  durationMs: number,
  outcome: InvocationOutcome,
): FinishedCall {
  return {
    shard: job.shard,
    taskId: job.taskId,
    invocation: job.invocation,
    report: { taskId: job.taskId, invocation: job.invocation, startedAt, durationMs, outcome },
  };
}

/** A finished call waiting for its shard to take the report. */
export interface FinishedCall {
  readonly shard: string;
  readonly taskId: string;
  readonly invocation: number;
  readonly report: OutcomeReport;
}

export class JobStore {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
    for (const statement of JOBS_SCHEMA) sql.exec(statement);
  }

  /** Keep jobs from the shard (idempotent: a repeated hand-off of the same invocation is ignored). */
  enqueue(jobs: readonly InvocationJob[], now: number): void {
    for (const job of jobs) {
      const { payload, ...rest } = job;
      this.#sql.exec(
        `INSERT OR IGNORE INTO jobs (task_id, invocation, job, payload, enqueued_at) VALUES (?, ?, ?, ?, ?)`,
        job.taskId,
        job.invocation,
        JSON.stringify({ ...rest, payload: { ...payload, inline: undefined } }),
        blobOf(payload.inline),
        now,
      );
    }
  }

  /** Forget a job that has not run yet (its task was cancelled). */
  dropWaiting(taskId: string, invocation: number): void {
    this.#sql.exec(`DELETE FROM jobs WHERE task_id = ? AND invocation = ? AND report IS NULL`, taskId, invocation);
  }

  /** Jobs without an outcome, oldest first, that are not among `running`. */
  waiting(limit: number, running: ReadonlySet<string>): InvocationJob[] {
    return this.#sql
      .exec<JobRow>(
        `SELECT * FROM jobs WHERE report IS NULL ORDER BY enqueued_at LIMIT ${INT_PARAM}`,
        limit + running.size,
      )
      .toArray()
      .filter((row) => !running.has(callKey(row.task_id, row.invocation)))
      .slice(0, limit)
      .map((row) => {
        const stored = JSON.parse(row.job) as InvocationJob;
        return {
          ...stored,
          payload: { ...stored.payload, ...(row.payload ? { inline: new Uint8Array(row.payload) } : {}) },
        };
      });
  }

  /**
   * Keep a call's outcome until the shard has it (a large result travels as its R2 key, a small one as bytes): for
   * one whose first report did not get through.
   */
  recordOutcome(call: FinishedCall): void {
    const { outcome } = call.report;
    const body = outcome.kind === "succeeded" ? outcome.body : undefined;
    const stored = body ? { ...outcome, body: { ...body, inline: undefined } } : outcome;
    this.#sql.exec(
      `UPDATE jobs SET report = ?, result = ? WHERE task_id = ? AND invocation = ?`,
      JSON.stringify({ ...call.report, outcome: stored }),
      blobOf(body?.inline),
      call.taskId,
      call.invocation,
    );
  }

  /** Outcomes not yet taken by their shard. */
  finished(limit: number): FinishedCall[] {
    return this.#sql
      .exec<JobRow>(
        `SELECT task_id, invocation, job, report, result FROM jobs WHERE report IS NOT NULL LIMIT ${INT_PARAM}`,
        limit,
      )
      .toArray()
      .map((row) => {
        const report = JSON.parse(row.report ?? "null") as OutcomeReport;
        const outcome =
          report.outcome.kind === "succeeded" && row.result
            ? { ...report.outcome, body: { ...report.outcome.body, inline: new Uint8Array(row.result) } }
            : report.outcome;
        return {
          shard: (JSON.parse(row.job) as InvocationJob).shard,
          taskId: row.task_id,
          invocation: row.invocation,
          report: { ...report, outcome },
        };
      });
  }

  /** The shard has the report: the job is done. */
  remove(taskId: string, invocation: number): void {
    this.#sql.exec(`DELETE FROM jobs WHERE task_id = ? AND invocation = ?`, taskId, invocation);
  }

  /** Jobs without an outcome yet: running here or waiting to. */
  unfinished(): number {
    return this.#sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM jobs WHERE report IS NULL`).one().n;
  }

  count(): number {
    return this.#sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM jobs`).one().n;
  }
}
