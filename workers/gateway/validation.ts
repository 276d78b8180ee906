/**
 * @module
 * Body parsing for the gateway: malformed JSON and schema violations both become 400 problem+json, the latter with
 * an `errors` entry per bad field.
 */

import type { Context } from "hono";
import type { z } from "zod";
import { Problem, validationProblem } from "../../src/problem";
import { toFieldErrors } from "../../src/schemas";

export async function parseJsonBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  const text = await c.req.text();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Problem("malformed-json", "The request body is not valid JSON.");
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw validationProblem(toFieldErrors(parsed.error));
  return parsed.data;
}
