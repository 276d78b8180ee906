/**
 * @module
 * A shard's copies of its functions (the `functions` table): the newest version wins, and deleting one cancels its
 * queued, paused and running tasks.
 */

import type { AbortOrder, FunctionRecord } from "../records";
import { sourcesOf, targetOf } from "../task-states";
import { noteChanged } from "./attention";
import {
  FUNCTION_DELETED,
  FUNCTION_DELETED_ERROR,
  functionKey,
  ROW_WITHOUT_BODIES,
  type ShardContext,
} from "./context";
import { takeDue } from "./finish-buffer";
import { forgetGovernor } from "./governor";
import { dropLanes } from "./lanes";
import { forgetObservations } from "./observations";
import { closeCurrentAttempt } from "./outcomes";
import { purgeAt } from "./retention";
import type { TaskRow } from "./schema";

/** Tables this part owns (the shard's copies of its functions); applied by schema.ts. */
export const FUNCTIONS_SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS functions (
     account TEXT NOT NULL, name TEXT NOT NULL, record TEXT NOT NULL, version INTEGER NOT NULL,
     deleted INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (account, name))`,
];

/** Keep the newest copy of a function's configuration (a stale copy from a queued message never wins). */
export function upsertFunction(ctx: ShardContext, record: FunctionRecord): void {
  const key = functionKey(record.account, record.name);
  const known = ctx.functions.get(key);
  if (known && known.version >= record.version) return;
  const written = ctx.sql.exec(
    `INSERT INTO functions (account, name, record, version, deleted) VALUES (?, ?, ?, ?, 0)
     ON CONFLICT (account, name) DO UPDATE SET record = excluded.record, version = excluded.version, deleted = 0
     WHERE excluded.version > functions.version`,
    record.account,
    record.name,
    JSON.stringify(record),
    record.version,
  ).rowsWritten;
  // No row written: a newer version, or the deletion of this very version, is already stored.
  if (written > 0) {
    ctx.functions.set(key, record);
    // Resumed, or a new age limit: the next pass looks at it whatever its tasks' times say.
    noteChanged(ctx, record, 0);
  }
}

/**
 * Mark a function deleted and cancel its queued, paused and running tasks (never drop them silently); running calls
 * are aborted by the caller. Bounded by the function's own backlog: it runs once per delete.
 */
export function deleteFunction(
  ctx: ShardContext,
  account: string,
  name: string,
  now: number,
): { cancelled: number; aborts: AbortOrder[] } {
  const fn = ctx.functions.get(functionKey(account, name));
  // Snapshots of this version still in the ingest queue must not revive it (upsert needs a strictly newer version).
  ctx.sql.exec(`UPDATE functions SET deleted = 1 WHERE account = ? AND name = ?`, account, name);
  ctx.functions.delete(functionKey(account, name));
  dropLanes(ctx, account, name);
  // What the deleted function finished in its last second is forgotten with the rest of its figures.
  takeDue(ctx, 0, true, { account, fn: name });
  forgetObservations(ctx.sql, account, name);
  forgetGovernor(ctx, account, name);
  const running = ctx.sql
    .exec<TaskRow>(
      `SELECT ${ROW_WITHOUT_BODIES} FROM tasks WHERE account = ? AND function = ? AND state = 'running'`,
      account,
      name,
    )
    .toArray();
  const aborts: AbortOrder[] = [];
  for (const row of running) {
    closeCurrentAttempt(ctx, row, now, null, FUNCTION_DELETED);
    if (row.invoker !== null && !row.async)
      aborts.push({ invoker: row.invoker, taskId: row.id, invocation: row.invocations });
  }
  // Every state `cancel` may leave (the table in src/task-states.ts); rowsWritten also counts index entries, so count
  // the rows themselves.
  const from = sourcesOf("cancel");
  const cancelled = ctx.sql
    .exec(
      `UPDATE tasks SET state = ?, finished_at = ?, updated_at = ?, error = ?, lease_until = NULL,
         invoker = NULL, callback_token = NULL, purge_at = ?
       WHERE account = ? AND function = ? AND state IN (${from.map(() => "?").join(", ")}) RETURNING id`,
      targetOf("cancel"),
      now,
      now,
      FUNCTION_DELETED_ERROR,
      purgeAt(now, fn?.spec.retentionSeconds),
      account,
      name,
      ...from,
    )
    .toArray().length;
  return { cancelled, aborts };
}
