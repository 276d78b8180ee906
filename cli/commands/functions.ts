/**
 * @module
 * `sluice functions` lists the account's functions; `sluice stats <fn>` shows one function's figures as a compact
 * table (schedules: cli/commands/schedules.ts).
 */

import type { Command } from "commander";
import type { FunctionView } from "../../src/client";
import { Context, type Io } from "../context";
import { formatStats } from "../format";
import { formatDuration, formatInstant, formatTable } from "../table";

function targetOf(fn: FunctionView): string {
  return fn.target.type === "url" ? fn.target.url : `service:${fn.target.service}`;
}

export function registerFunctions(program: Command, io: Io): void {
  program
    .command("functions")
    .description("list the account's functions")
    .action(async (_flags: unknown, command: Command) => {
      const ctx = Context.of(command, io);
      const functions: FunctionView[] = [];
      for await (const fn of ctx.client().iterateFunctions({ limit: 1000 })) functions.push(fn);
      ctx.print({ functions }, () =>
        functions.length === 0
          ? "no functions"
          : formatTable(
              ["NAME", "TARGET", "MAX CONCURRENCY", "TIMEOUT", "ISOLATION", "PAUSED", "UPDATED"],
              functions.map((fn) => [
                fn.name,
                targetOf(fn),
                fn.maxConcurrency,
                formatDuration(fn.timeoutMs),
                fn.isolation,
                fn.paused ? "yes" : "no",
                formatInstant(fn.updatedAt),
              ]),
            ),
      );
    });

  program
    .command("stats")
    .description("a function's task counts, window, placement and latencies")
    .argument("<fn>", "function name")
    .action(async (fn: string, _flags: unknown, command: Command) => {
      const ctx = Context.of(command, io);
      const stats = await ctx.client().stats(fn);
      ctx.print(stats, () => formatStats(fn, stats));
    });
}
