/**
 * @module
 * Submitting a long list of tasks as a series of batch requests: items are checked with the gateway's own schema
 * first (a bad item is reported alone instead of sinking its whole batch), the rest go in chunks of at most 100,
 * one chunk at a time, waiting out `429 Retry-After`. Every item ends with its own outcome.
 */

import type { z } from "zod";
import { batchSubmitSchema, toFieldErrors } from "../schemas";
import { chunkRanges } from "./batch";
import { type FieldError, SluiceError } from "./errors";

/** One item of a batch: `{ payload, idempotencyKey?, delaySeconds?, fairnessKey? }`. */
export const batchItemSchema = batchSubmitSchema.element;
export type BatchItem = z.input<typeof batchItemSchema>;

export type BatchOutcome =
  | { readonly index: number; readonly ok: true; readonly id: string; readonly deduplicated: boolean }
  | {
      readonly index: number;
      readonly ok: false;
      readonly error: Error;
      /** What the error names: this item itself, or the batch request it travelled in (its neighbours too). */
      readonly cause: "item" | "batch";
      /** Item indexes `[start, end)` of the refused request, when `cause` is `batch`. */
      readonly batch?: readonly [number, number];
    };

export interface SubmitManyOptions {
  /** Items per request, at most 100 (the default). Lower it when `limits.submitPerSecond` is below 100. */
  readonly chunkSize?: number;
  /** Called after each request with the items settled so far. */
  readonly onProgress?: (settled: number, total: number) => void;
  /** How often one chunk may be refused with 429 and tried again after `Retry-After` (default 10). */
  readonly maxRateLimitRetries?: number;
  readonly signal?: AbortSignal;
}

/** The fields of `item` the gateway would refuse, or an empty list. */
export function validateBatchItem(item: unknown): FieldError[] {
  const parsed = batchItemSchema.safeParse(item);
  return parsed.success ? [] : toFieldErrors(parsed.error);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The items of a refused chunk its field errors name (`"3.payload"` is the chunk's fourth item). */
function namedItems(error: unknown, size: number): Map<number, string> {
  const named = new Map<number, string>();
  if (!(error instanceof SluiceError)) return named;
  for (const field of error.errors) {
    const match = /^(\d+)(?:\.(.*))?$/.exec(field.path);
    const offset = Number(match?.[1]);
    if (match && offset < size) named.set(offset, match[2] ? `${match[2]}: ${field.message}` : field.message);
  }
  return named;
}

export async function submitMany(
  send: (chunk: BatchItem[], signal: AbortSignal | undefined) => Promise<{ id: string; deduplicated: boolean }[]>,
  items: readonly BatchItem[],
  options: SubmitManyOptions = {},
): Promise<BatchOutcome[]> {
  const outcomes: BatchOutcome[] = new Array(items.length);
  const valid: number[] = [];
  for (const [index, item] of items.entries()) {
    const errors = validateBatchItem(item);
    if (errors.length === 0) {
      valid.push(index);
      continue;
    }
    const detail = errors.map((e) => `${e.path}: ${e.message}`).join("; ");
    const error = new SluiceError({
      status: 400,
      type: "https://sluice.dev/problems/validation",
      title: "Request failed validation",
      detail: `not sent: ${detail}`,
      errors,
    });
    outcomes[index] = { index, ok: false, error, cause: "item" };
  }
  let settled = items.length - valid.length;
  const total = items.length;
  if (settled > 0) options.onProgress?.(settled, total);
  for (const [start, end] of chunkRanges(
    valid.map((i) => items[i]),
    { maxItems: options.chunkSize ?? 100 },
  )) {
    const indexes = valid.slice(start, end);
    await sendChunk(send, items, indexes, outcomes, options);
    settled += indexes.length;
    options.onProgress?.(settled, total);
  }
  return outcomes;
}

/**
 * Send one chunk. A refusal that names some of its items (a 400 with field errors `"3.payload"`) fails those items
 * alone and sends the others again, once: one bad item does not sink its neighbours.
 */
async function sendChunk(
  send: (chunk: BatchItem[], signal: AbortSignal | undefined) => Promise<{ id: string; deduplicated: boolean }[]>,
  items: readonly BatchItem[],
  chunkIndexes: readonly number[],
  outcomes: BatchOutcome[],
  options: SubmitManyOptions,
): Promise<void> {
  const maxRetries = options.maxRateLimitRetries ?? 10;
  let indexes = [...chunkIndexes];
  let resentWithoutNamed = false;
  for (let attempt = 0; indexes.length > 0; attempt++) {
    options.signal?.throwIfAborted();
    try {
      const results = await send(
        indexes.map((i) => items[i] as BatchItem),
        options.signal,
      );
      for (const [offset, index] of indexes.entries()) {
        const result = results[offset];
        outcomes[index] = result
          ? { index, ok: true, id: result.id, deduplicated: result.deduplicated }
          : { index, ok: false, error: new Error("the server answered fewer ids than items"), cause: "batch" };
      }
      return;
    } catch (error) {
      if (error instanceof SluiceError && error.status === 429 && attempt < maxRetries) {
        await sleep(Math.min(60, Math.max(1, error.retryAfterSeconds ?? 1)) * 1000);
        continue;
      }
      const cause = error instanceof Error ? error : new Error(String(error));
      const named = namedItems(error, indexes.length);
      for (const [offset, message] of named) {
        const index = indexes[offset] as number;
        outcomes[index] = {
          index,
          ok: false,
          error: new SluiceError({ ...toInit(cause), detail: message }),
          cause: "item",
        };
      }
      const rest = indexes.filter((_, offset) => !named.has(offset));
      if (named.size > 0 && rest.length > 0 && !resentWithoutNamed) {
        resentWithoutNamed = true;
        indexes = rest;
        continue;
      }
      const span = [rest[0] ?? 0, (rest[rest.length - 1] ?? 0) + 1] as const;
      for (const index of rest) outcomes[index] = { index, ok: false, error: cause, cause: "batch", batch: span };
      return;
    }
  }
}

function toInit(error: Error): ConstructorParameters<typeof SluiceError>[0] {
  if (error instanceof SluiceError) return { ...error, body: { ...error.body } };
  return { status: 0, type: "about:blank", title: error.message };
}
