/**
 * @module
 * Request bodies for the gateway: read with a running cap (src/bounded-body.ts) so an oversized body is refused with
 * 413 before the rest of it is read; malformed JSON and schema violations both become 400 problem+json, the latter
 * with an `errors` entry per bad field.
 */

import type { Context } from "hono";
import type { z } from "zod";
import { readBounded } from "../../src/bounded-body";
import { MAX_JSON_BODY_BYTES } from "../../src/limits";
import { Problem, validationProblem } from "../../src/problem";
import { toFieldErrors } from "../../src/schemas";

export function tooLarge(limit: number, what = "The request body"): Problem {
  return new Problem("payload-too-large", `${what} is limited to ${limit} bytes.`, { extensions: { limit } });
}

/** The raw body, at most `maxBytes` (413 otherwise, without reading further). */
export async function readBody(c: Context, maxBytes: number, what?: string): Promise<Uint8Array> {
  const read = await readBounded(c.req.raw.body, maxBytes, c.req.header("content-length"));
  if (!read.ok) throw tooLarge(read.limit, what);
  return read.bytes;
}

export async function parseJsonBody<S extends z.ZodType>(
  c: Context,
  schema: S,
  maxBytes: number = MAX_JSON_BODY_BYTES,
): Promise<z.output<S>> {
  const bytes = await readBody(c, maxBytes);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new Problem("malformed-json", "The request body is not valid JSON.");
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw validationProblem(toFieldErrors(parsed.error));
  return parsed.data;
}
