/**
 * @module
 * `sluice ls <fn> [--state S] [--limit N] [--cursor C]` lists a function's tasks, newest first, page after page up to
 * `--limit`; `sluice cancel <id>` and `sluice retry <id>` change one task.
 */

import type { Command } from "commander";
import type { TaskState, TaskSummary } from "../../src/client";
import { Context, type Io } from "../context";
import { formatError } from "../format";
import { parseLimit, parseState } from "../options";
import { formatInstant, formatTable } from "../table";

const DEFAULT_LIMIT = 50;

export function registerTasks(program: Command, io: Io): void {
  program
    .command("ls")
    .description("list a function's tasks, newest first")
    .argument("<fn>", "function name")
    .option("--state <state>", "only tasks in this state", parseState)
    .option("--limit <n>", `at most this many tasks (default ${DEFAULT_LIMIT})`, parseLimit)
    .option("--cursor <cursor>", "continue after an earlier listing")
    .action(async (fn: string, flags: { state?: TaskState; limit?: number; cursor?: string }, command: Command) => {
      const ctx = Context.of(command, io);
      const client = ctx.client();
      const limit = flags.limit ?? DEFAULT_LIMIT;
      const tasks: TaskSummary[] = [];
      let cursor = flags.cursor;
      // Each page asks for exactly what is still wanted, so the cursor left over is exactly where the listing stopped.
      do {
        const page = await client.listTasks(fn, {
          state: flags.state,
          limit: Math.min(1000, limit - tasks.length),
          cursor,
        });
        tasks.push(...page.tasks);
        cursor = page.nextCursor ?? undefined;
      } while (cursor && tasks.length < limit);
      ctx.print({ tasks, nextCursor: cursor ?? null }, () =>
        tasks.length === 0
          ? "no tasks"
          : formatTable(
              ["ID", "STATE", "ATTEMPTS", "CREATED", "UPDATED", "ERROR"],
              tasks.map((t) => [
                t.id,
                t.state,
                t.attempts,
                formatInstant(t.createdAt),
                formatInstant(t.updatedAt),
                t.error ? formatError(t.error) : null,
              ]),
              { maxWidth: 100 },
            ),
      );
      if (cursor && !ctx.json) ctx.err(`more: sluice ls ${fn} --cursor ${cursor}`);
    });

  for (const [op, description] of [
    ["cancel", "cancel a task (a running call is aborted)"],
    ["retry", "re-drive a failed or expired task as a new run"],
  ] as const) {
    program
      .command(op)
      .description(description)
      .argument("<id>", "task id")
      .action(async (id: string, _flags: unknown, command: Command) => {
        const ctx = Context.of(command, io);
        const client = ctx.client();
        const task = op === "cancel" ? await client.cancel(id) : await client.retry(id);
        ctx.print(task, () => `${task.id} ${task.state}`);
      });
  }
}
