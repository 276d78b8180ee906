/**
 * @module
 * Reading a JSON Lines file for `sluice submit <fn> --batch`: one task per line. By default each line is the task's
 * JSON payload; with `--items` each line is a whole batch item `{ "payload", "idempotencyKey"?, "delaySeconds"?,
 * "fairnessKey"? }`, checked with the gateway's own schema. Blank lines are skipped; every bad line is reported with
 * its number, so a file is fixed in one go.
 */

import { type BatchItem, validateBatchItem } from "../src/client";

export interface JsonlLine {
  /** 1-based line number in the file. */
  readonly line: number;
  readonly item: BatchItem;
}

export interface JsonlError {
  readonly line: number;
  readonly message: string;
}

/** Lines longer than this are refused before parsing: a task payload is at most 1 MiB. */
export const MAX_LINE_BYTES = 1024 * 1024 + 4096;
/** A file may hold at most this many tasks (each line is a task; split bigger files). */
export const MAX_LINES = 100_000;

export function parseJsonl(
  text: string,
  options: { items?: boolean } = {},
): { lines: JsonlLine[]; errors: JsonlError[] } {
  const lines: JsonlLine[] = [];
  const errors: JsonlError[] = [];
  const raw = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  for (const [i, source] of raw.entries()) {
    const line = i + 1;
    if (source.trim() === "") continue;
    if (lines.length + errors.length >= MAX_LINES) {
      errors.push({ line, message: `more than ${MAX_LINES} tasks in one file; split it` });
      break;
    }
    if (source.length > MAX_LINE_BYTES) {
      errors.push({ line, message: `longer than ${MAX_LINE_BYTES} bytes (a payload is at most 1 MiB)` });
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(source);
    } catch (error) {
      errors.push({ line, message: `not JSON (${error instanceof Error ? error.message : String(error)})` });
      continue;
    }
    const item = options.items ? value : { payload: value };
    const problems = validateBatchItem(item);
    if (problems.length > 0) {
      errors.push({ line, message: problems.map((p) => `${p.path}: ${p.message}`).join("; ") });
      continue;
    }
    lines.push({ line, item: item as BatchItem });
  }
  return { lines, errors };
}
