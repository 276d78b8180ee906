/**
 * @module
 * A function's tasks as a set: `GET /v1/functions/:name/tasks` (newest first, opaque cursor) and the bulk operations
 * `POST /v1/functions/:name/tasks:cancel|:pause|:resume`.
 */

import { Hono } from "hono";
import { fromBase64Url, toBase64Url, utf8 } from "../../src/encoding";
import { Problem, validationProblem } from "../../src/problem";
import type { TaskOperation, TaskSummary } from "../../src/records";
import { bulkFilterSchema, listQuerySchema, toFieldErrors } from "../../src/schemas";
import { requireFunction } from "./functions";
import type { GatewayEnv } from "./middleware";
import { shard, shardsOf } from "./shards";
import { parseJsonBody } from "./validation";

/** Position in a listing: which of the function's shards, and the sequence to continue below. */
interface Cursor {
  s: number;
  b?: number;
}

function encodeCursor(cursor: Cursor): string {
  return toBase64Url(utf8(JSON.stringify(cursor)));
}

function decodeCursor(text: string | undefined): Cursor {
  if (!text) return { s: 0 };
  try {
    const value = JSON.parse(new TextDecoder().decode(fromBase64Url(text))) as Cursor;
    if (Number.isInteger(value.s) && value.s >= 0 && (value.b === undefined || Number.isInteger(value.b))) return value;
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
    const shards = shardsOf(fn);
    let cursor = decodeCursor(query.data.cursor);
    const tasks: TaskSummary[] = [];
    let next: Cursor | undefined;
    while (cursor.s < shards.length && tasks.length < limit) {
      const name = shards[cursor.s] ?? "";
      const page = await shard(c.env, name).listTasks(fn.account, fn.name, state, limit - tasks.length, cursor.b);
      tasks.push(...page.tasks);
      cursor = page.nextBefore !== undefined ? { s: cursor.s, b: page.nextBefore } : { s: cursor.s + 1 };
      next = cursor.s < shards.length ? cursor : undefined;
    }
    return c.json({
      tasks,
      nextCursor: next ? encodeCursor(next) : null,
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
