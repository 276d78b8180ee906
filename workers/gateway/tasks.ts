/**
 * @module
 * One task: `GET /v1/tasks/:id`, `GET .../result`, `POST .../cancel|pause|resume|retry`, `DELETE /v1/tasks/:id`.
 */

import { type Context, Hono } from "hono";
import { verifyTaskId } from "../../src/ids";
import { Problem } from "../../src/problem";
import type { TaskOperation } from "../../src/records";
import { IN_FLIGHT_WINDOW_MS } from "../../src/shard/retention";
import { taskIdKey } from "../platform/registry-client";
import type { GatewayEnv } from "./middleware";
import { refusalProblem } from "./problems";
import { shard } from "./shards";
import { presentTask } from "./task-view";

/** The id's shard, after checking the id was minted for the caller's account; anything else is a 404. */
async function locate(
  c: Context<GatewayEnv>,
): Promise<{ id: string; shard: string; createdAt: number; account: string }> {
  const id = c.req.param("id") ?? "";
  const account = c.get("principal").account;
  const parts = await verifyTaskId(await taskIdKey(c.env), account, id);
  if (!parts) throw new Problem("not-found", "No such task.");
  return { id, account, ...parts };
}

export const taskRoutes = new Hono<GatewayEnv>()
  .get("/:id", async (c) => {
    const where = await locate(c);
    const { task, purged } = await shard(c.env, where.shard).getTask(where.account, where.id);
    if (task) return c.json(presentTask(c, task));
    if (purged) throw new Problem("not-found", "This task was deleted.");
    // An old id its shard does not know was purged long ago (tombstones last IN_FLIGHT_WINDOW_MS).
    if (Date.now() - where.createdAt >= IN_FLIGHT_WINDOW_MS) throw new Problem("not-found", "No such task.");
    // Submitted but still on its way through the ingest queue: never a 404 for an id we just handed out.
    const acceptedAt = new Date(where.createdAt).toISOString();
    return c.json({
      id: where.id,
      state: "accepted",
      attempts: 0,
      run: 1,
      createdAt: acceptedAt,
      updatedAt: acceptedAt,
      timeline: {
        acceptedAt,
        queuedAt: null,
        firstDispatchedAt: null,
        lastDispatchedAt: null,
        finishedAt: null,
        deliveredAt: null,
      },
      attemptLog: [],
    });
  })
  .get("/:id/result", async (c) => {
    const where = await locate(c);
    const { task } = await shard(c.env, where.shard).getTask(where.account, where.id);
    const body = task?.resultBody;
    if (!body) throw new Problem("not-found", "This task has no result.");
    if (body.inline) return new Response(body.inline, { headers: { "content-type": body.contentType } });
    const object = body.r2Key ? await c.env.BLOBS.get(body.r2Key) : null;
    if (!object) throw new Problem("not-found", "The result object is gone.");
    return new Response(object.body, {
      headers: { "content-type": body.contentType, "content-length": String(object.size) },
    });
  })
  .post("/:id/:op{(?:cancel|pause|resume|retry)}", async (c) => {
    const where = await locate(c);
    const op = c.req.param("op") as TaskOperation;
    const result = await shard(c.env, where.shard).operate(where.account, where.id, op, where.createdAt);
    if (!result.ok) throw refusalProblem(result, op);
    return c.json(presentTask(c, result.task));
  })
  .post("/:id/redeliver", async (c) => {
    const where = await locate(c);
    const result = await shard(c.env, where.shard).redeliver(where.account, where.id);
    if (!result.ok) throw refusalProblem(result, "redeliver");
    return c.json(presentTask(c, result.task), 202);
  })
  .delete("/:id", async (c) => {
    const where = await locate(c);
    const result = await shard(c.env, where.shard).purge(where.account, where.id);
    if (!result.ok) throw refusalProblem(result, "delete");
    return c.body(null, 204);
  });
