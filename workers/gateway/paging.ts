/**
 * @module
 * Paging for listings ordered by name (functions, accounts): the query is parsed with zod, and the cursor is the last
 * name of the page, opaque to clients.
 */

import type { Context } from "hono";
import { fromBase64Url, toBase64Url, utf8 } from "../../src/encoding";
import { validationProblem } from "../../src/problem";
import { pageQuerySchema, toFieldErrors } from "../../src/schemas";

export function encodeNameCursor(after: string | undefined): string | null {
  return after === undefined ? null : toBase64Url(utf8(JSON.stringify({ after })));
}

/** `limit` and the name to continue after, or a 400 naming the bad query parameter. */
export function pageQuery(c: Context): { limit: number; after?: string } {
  const query = pageQuerySchema.safeParse(c.req.query());
  if (!query.success) throw validationProblem(toFieldErrors(query.error, ["query"]));
  const { limit, cursor } = query.data;
  if (cursor === undefined) return { limit };
  try {
    const value = JSON.parse(
      new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(fromBase64Url(cursor)),
    ) as { after?: unknown };
    if (typeof value.after === "string" && value.after.length <= 100) return { limit, after: value.after };
  } catch {
    // fall through to the problem below
  }
  throw validationProblem([{ path: "query.cursor", message: "not a cursor this API returned" }]);
}
