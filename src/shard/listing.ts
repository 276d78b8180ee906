/**
 * @module
 * Reading tasks: one task with its attempt log and delivery, listings as summaries, counts per state.
 */

import type { StoredTaskView, TaskPage } from "../records";
import { INT_PARAM } from "../sql";
import type { TaskState } from "../task-states";
import { readAttemptLog } from "./attempt-log";
import { ROW_WITHOUT_BODIES, readRowWithBodies, type ShardContext, scopeOf } from "./context";
import { readDelivery } from "./outbox";
import { purgedCounts } from "./retention";
import type { TaskRow } from "./schema";
import { taskSummary, taskView } from "./view";

/** The task, or whether an id of this account was purged (so the gateway can tell "gone" from "on its way"). */
export function getTask(
  ctx: ShardContext,
  account: string,
  id: string,
): { task: StoredTaskView | null; purged: boolean } {
  const row = readRowWithBodies(ctx, id);
  if (row && row.account === account) return { task: fullView(ctx, row), purged: false };
  const purged =
    ctx.sql.exec(`SELECT 1 FROM tombstones WHERE id = ? AND account = ?`, id, account).toArray().length > 0;
  return { task: null, purged };
}

/**
 * Newest first, by descending sequence: inserts during paging land above the cursor, so none is seen twice. Rows are
 * read without their payload and result, and listed as summaries, so a page stays small whatever tasks hold.
 */
export function listTasks(
  ctx: ShardContext,
  account: string,
  fnName: string,
  state: TaskState | undefined,
  limit: number,
  before?: number,
): TaskPage {
  const upper = before ?? Number.MAX_SAFE_INTEGER;
  const rows = state
    ? ctx.sql
        .exec<TaskRow>(
          `SELECT ${ROW_WITHOUT_BODIES} FROM tasks WHERE account = ? AND function = ? AND state = ? AND seq < ?
           ORDER BY seq DESC LIMIT ${INT_PARAM}`,
          account,
          fnName,
          state,
          upper,
          limit + 1,
        )
        .toArray()
    : ctx.sql
        .exec<TaskRow>(
          `SELECT ${ROW_WITHOUT_BODIES} FROM tasks WHERE account = ? AND function = ? AND seq < ? ORDER BY seq DESC LIMIT ${INT_PARAM}`,
          account,
          fnName,
          upper,
          limit + 1,
        )
        .toArray();
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    tasks: page.map(taskSummary),
    seqs: page.map((row) => row.seq),
    ...(rows.length > limit && last ? { nextBefore: last.seq } : {}),
  };
}

/** Task counts per state for one function (or the whole shard), including tasks retention has purged. */
export function countByState(ctx: ShardContext, account?: string, fnName?: string): Record<string, number> {
  const counts: Record<string, number> = purgedCounts(ctx.sql, account, fnName);
  const { where, bindings } = scopeOf(account, fnName);
  const rows = ctx.sql
    .exec<{ state: string; n: number }>(`SELECT state, COUNT(*) AS n FROM tasks ${where} GROUP BY state`, ...bindings)
    .toArray();
  for (const row of rows) counts[row.state] = (counts[row.state] ?? 0) + row.n;
  return counts;
}

export function fullView(ctx: ShardContext, row: TaskRow): StoredTaskView {
  return taskView(row, readAttemptLog(ctx.sql, row.id), readDelivery(ctx, row.id));
}
