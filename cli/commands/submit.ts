/**
 * @module
 * `sluice submit <fn> <file|->` submits one task and prints its id; `sluice submit <fn> --batch <file.jsonl>` submits
 * one task per line in batch requests of at most 100, with a progress bar, and reports every line that failed.
 */

import type { Command } from "commander";
import type { BatchItem, BatchOutcome } from "../../src/client";
import { Context, type Io, OutcomeError, UsageError } from "../context";
import { formatTask } from "../format";
import { readInput } from "../io";
import { parseJsonl } from "../jsonl";
import { guessContentType, parseChunkSize, parseDelay, parsePreferWait } from "../options";
import { progressBar } from "../progress";

interface SubmitFlags {
  batch?: string;
  items?: boolean;
  chunkSize?: number;
  contentType?: string;
  idempotencyKey?: string;
  delay?: number;
  fairnessKey?: string;
  wait?: number;
}

/** A payload is at most 1 MiB; a JSON Lines file is read up to 256 MiB (100,000 lines at most). */
const MAX_PAYLOAD_FILE = 1024 * 1024;
const MAX_BATCH_FILE = 256 * 1024 * 1024;

export function registerSubmit(program: Command, io: Io): void {
  program
    .command("submit")
    .description("submit a task (the file's bytes are the payload; - reads standard input) and print its id")
    .argument("<fn>", "function name")
    .argument("[file]", "payload file, or - for standard input")
    .option("--batch <file.jsonl>", "submit one task per line (each line a JSON payload), 100 per request")
    .option("--items", "with --batch: each line is {payload, idempotencyKey?, delaySeconds?, fairnessKey?}")
    .option("--chunk-size <n>", "with --batch: tasks per request (1-100)", parseChunkSize)
    .option("--content-type <type>", "content type of the payload (default: by extension, or JSON if it parses)")
    .option("--idempotency-key <key>", "deduplicate within the function's dedupWindowSeconds")
    .option("--delay <seconds>", "run no sooner than this many seconds from now", parseDelay)
    .option("--fairness-key <key>", "your customer or partition id, for fair scheduling")
    .option("--wait <seconds>", "hold the answer until the task ends, up to 60 s (Prefer: wait)", parsePreferWait)
    .action(async (fn: string, file: string | undefined, flags: SubmitFlags, command: Command) => {
      const ctx = Context.of(command, io);
      if (flags.batch !== undefined) {
        if (file !== undefined) throw new UsageError("give a payload file or --batch, not both");
        if (flags.idempotencyKey || flags.contentType || flags.wait !== undefined) {
          throw new UsageError("--idempotency-key, --content-type and --wait apply to one task, not to --batch");
        }
        await submitBatchFile(ctx, fn, flags.batch, flags);
        return;
      }
      if (file === undefined) throw new UsageError("give a payload file (or - for standard input), or --batch");
      if (flags.items || flags.chunkSize !== undefined) throw new UsageError("--items and --chunk-size need --batch");
      const bytes = await readInput(file, MAX_PAYLOAD_FILE);
      const result = await ctx.client().submit(fn, bytes, {
        contentType: flags.contentType ?? guessContentType(file, bytes),
        ...(flags.idempotencyKey ? { idempotencyKey: flags.idempotencyKey } : {}),
        ...(flags.delay !== undefined ? { delaySeconds: flags.delay } : {}),
        ...(flags.fairnessKey ? { fairnessKey: flags.fairnessKey } : {}),
        ...(flags.wait !== undefined ? { waitSeconds: flags.wait } : {}),
      });
      ctx.print(result.task ?? result, () => (result.task ? formatTask(result.task) : result.id));
      if (result.deduplicated && !ctx.json) ctx.err("(deduplicated: the idempotency key named this earlier task)");
    });
}

async function submitBatchFile(ctx: Context, fn: string, path: string, flags: SubmitFlags): Promise<void> {
  const text = new TextDecoder().decode(await readInput(path, MAX_BATCH_FILE));
  const { lines, errors } = parseJsonl(text, { items: flags.items === true });
  if (errors.length > 0) {
    // Nothing is sent from a file with bad lines: fix them all, then submit once.
    for (const e of errors.slice(0, 50)) ctx.err(`${path}:${e.line}: ${e.message}`);
    if (errors.length > 50) ctx.err(`… and ${errors.length - 50} more`);
    throw new UsageError(`${errors.length} bad line(s) in ${path}; nothing was submitted`);
  }
  if (lines.length === 0) throw new UsageError(`${path} has no tasks`);
  const items: BatchItem[] = lines.map(({ item }) => ({
    ...(flags.delay !== undefined ? { delaySeconds: flags.delay } : {}),
    ...(flags.fairnessKey ? { fairnessKey: flags.fairnessKey } : {}),
    ...item,
  }));
  const bar = progressBar(ctx.interactive, items.length, "submitting |{bar}| {value}/{total} tasks | {eta_formatted}");
  const outcomes = await ctx.client().submitMany(fn, items, {
    ...(flags.chunkSize ? { chunkSize: flags.chunkSize } : {}),
    onProgress: (settled) => bar.update(settled),
  });
  bar.stop();
  reportBatch(ctx, path, lines, outcomes);
}

function reportBatch(ctx: Context, path: string, lines: { line: number }[], outcomes: BatchOutcome[]): void {
  const lineOf = (index: number) => lines[index]?.line ?? index + 1;
  const tasks = outcomes.flatMap((o) =>
    o.ok ? [{ line: lineOf(o.index), id: o.id, deduplicated: o.deduplicated }] : [],
  );
  const failures = outcomes.flatMap((o) => {
    if (o.ok) return [];
    const span = o.batch ? ` (its request, lines ${lineOf(o.batch[0])}-${lineOf(o.batch[1] - 1)}, was refused)` : "";
    const status = "status" in o.error && typeof o.error.status === "number" ? o.error.status : undefined;
    return [{ line: lineOf(o.index), status, detail: `${o.error.message}${span}` }];
  });
  if (ctx.json) {
    ctx.out(JSON.stringify({ submitted: tasks.length, failed: failures.length, tasks, failures }));
  } else {
    for (const task of tasks) ctx.out(task.id);
    for (const f of failures.slice(0, 100)) ctx.err(`${path}:${f.line}: ${f.detail}`);
    if (failures.length > 100) ctx.err(`… and ${failures.length - 100} more`);
    const dedup = tasks.filter((t) => t.deduplicated).length;
    ctx.err(`submitted ${tasks.length} of ${outcomes.length} task(s)${dedup ? `, ${dedup} deduplicated` : ""}`);
  }
  if (failures.length > 0) throw new OutcomeError(`${failures.length} of ${outcomes.length} line(s) failed`);
}
