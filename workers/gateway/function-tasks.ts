/**
 * @module
 * A function's tasks as a set: `GET /v1/functions/:name/tasks` (newest first over every shard holding them, merged by
 * src/listing-merge.ts; opaque cursor) and the bulk operations
 * `POST /v1/functions/:name/tasks:cancel|:pause|:resume`.
 */

import { Hono } from "hono";
import { fromBase64Url, toBase64Url, utf8 } from "../../src/encoding";
import { mergeNewestFirst, type ShardPositions } from "../../src/listing-merge";
import { Problem, validationProblem } from "../../src/problem";
import type { TaskOperation } from "../../src/records";
import { bulkFilterSchema, listQuerySchema, toFieldErrors } from "../../src/schemas";
import { requireFunction } from "./functions";
import type { GatewayEnv } from "./middleware";
import { shard, shardsOf } from "./shards";
import { parseJsonBody } from "./validation";

/** Longest cursor accepted: a position per shard holding the function's tasks (a handful) fits easily. */
const MAX_CURSOR_CHARS = 4_096;

function encodeCursor(positions: ShardPositions): string {
  return toBase64Url(utf8(JSON.stringify({ p: positions })));
}

function decodeCursor(text: string | undefined): ShardPositions {
  if (!text) return {};
  try {
    if (text.length > MAX_CURSOR_CHARS) throw new Error("too long");
    const value = JSON.parse(new TextDecoder().decode(fromBase64Url(text))) as { p?: unknown };
    const positions = value.p;
    if (
      positions !== null &&
      typeof positions === "object" &&
      !Array.isArray(positions) &&
      Object.values(positions).every((n) => Number.isSafeInteger(n) && (n as number) >= 0)
    ) {
      return positions as ShardPositions;
    }
  } catch {
    // fall through to the problem below
  }
  throw validationProblem([{ path: "query.cursor", message: "not a cursor this API returned" }]);
}

export const functionTaskRoutes = new Hono<GatewayEnv>()
  .get("/:name/tasks", async (c) => {
    const fn = await requireFunction(c.env, c.get("principal").account, c.req.param("name"));
    const query = listQuerySchema.safeParse(c.req.query());
    if (!query.success) throw validationProblem(toFieldErrors(query.error, ["query"]));
    const { state, limit } = query.data;
    const positions = decodeCursor(query.data.cursor);
    // Every shard still holding tasks lists a page below its position; the pages merge newest first.
    const pages = await Promise.all(
      shardsOf(fn)
        .filter((name) => positions[name] !== 0)
        .map(async (name) => {
          const page = await shard(c.env, name).listTasks(fn.account, fn.name, state, limit, positions[name]);
          return { shard: name, tasks: page.tasks, seqs: page.seqs, more: page.nextBefore !== undefined };
        }),
    );
    const merged = mergeNewestFirst(pages, positions, limit);
    return c.json({
      tasks: merged.tasks,
      nextCursor: merged.next ? encodeCursor(merged.next) : null,
    });
  })
  .post("/:name/:op{tasks:(?:cancel|pause|resume)}", async (c) => {
    const fn = await requireFunction(c.env, c.get("principal").account, c.req.param("name"));
    const op = c.req.param("op").slice("tasks:".length) as TaskOperation;
    const filter = await parseJsonBody(c, bulkFilterSchema);
    if (filter.state === "accepted") {
      throw new Problem("validation", "Tasks in state accepted are not in a shard yet; name them by id.", {
        extensions: { errors: [{ path: "state", message: "not supported for bulk operations" }] },
      });
    }
    let affected = 0;
    let completed = 0;
    for (const name of shardsOf(fn)) {
      const result = await shard(c.env, name).bulk(fn.account, fn.name, op, filter);
      affected += result.affected;
      completed += result.completed;
    }
    return c.json({ affected, completed, inProgress: completed < affected });
  });
