/**
 * @module
 * `sluice status <id> [--wait [seconds]]`: a task's state, timeline, last attempt and result. With `--wait` it polls
 * until the task ends (a bar of the time waited on a terminal) and exits 1 unless the task succeeded.
 */

import type { Command } from "commander";
import { TaskWaitTimeoutError } from "../../src/client";
import { Context, type Io, OutcomeError } from "../context";
import { formatTask } from "../format";
import { parseWaitSeconds } from "../options";
import { progressBar } from "../progress";

const DEFAULT_WAIT_SECONDS = 300;

export function registerStatus(program: Command, io: Io): void {
  program
    .command("status")
    .description("show a task; --wait polls until it ends (exit 1 unless it succeeded)")
    .argument("<id>", "task id")
    .option(
      "--wait [seconds]",
      `wait for the task to end, at most this long (default ${DEFAULT_WAIT_SECONDS})`,
      parseWaitSeconds,
    )
    .action(async (id: string, flags: { wait?: true | number }, command: Command) => {
      const ctx = Context.of(command, io);
      const client = ctx.client();
      if (flags.wait === undefined) {
        const task = await client.getTask(id);
        ctx.print(task, () => formatTask(task));
        return;
      }
      const seconds = flags.wait === true ? DEFAULT_WAIT_SECONDS : flags.wait;
      const started = Date.now();
      const bar = progressBar(ctx.interactive, seconds, "{id} {state} |{bar}| {elapsed}s of {limit}s", {
        id,
        state: "…",
        elapsed: 0,
        limit: seconds,
      });
      const elapsed = () => Math.min(seconds, Math.round((Date.now() - started) / 1000));
      let task: Awaited<ReturnType<typeof client.getTask>>;
      try {
        task = await client.waitForTask(id, {
          timeoutMs: seconds * 1000,
          onUpdate: (seen) => bar.update(elapsed(), { state: seen.state, elapsed: elapsed() }),
        });
      } catch (error) {
        bar.stop();
        if (error instanceof TaskWaitTimeoutError) ctx.print(error.task, () => formatTask(error.task));
        throw error;
      }
      bar.stop();
      ctx.print(task, () => formatTask(task));
      if (task.state !== "succeeded") throw new OutcomeError(`task ${task.id} ended ${task.state}`);
    });
}
