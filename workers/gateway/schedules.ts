/**
 * @module
 * Schedules (API.md "Schedules"): `PUT/GET/DELETE /v1/functions/:name/schedules/:id` and
 * `GET /v1/functions/:name/schedules`. A schedule lives in the shard that owns its function and is fired there by
 * that shard's alarm (src/shard/schedules.ts); these routes only validate and forward.
 */

import { Hono } from "hono";
import { Problem, validationProblem } from "../../src/problem";
import type { FunctionRecord, ScheduleView } from "../../src/records";
import {
  MAX_SCHEDULE_BODY_BYTES,
  MAX_SCHEDULE_PAYLOAD_BYTES,
  schedulePayload,
  scheduleSpecSchema,
} from "../../src/schedules";
import { FUNCTION_NAME } from "../../src/schemas";
import { requireFunction } from "./functions";
import type { GatewayEnv } from "./middleware";
import { shard, shardsOf } from "./shards";
import { parseJsonBody } from "./validation";

/** How often a put follows "the function lives on another shard now" before giving up (a move in progress). */
const MOVED_HOPS = 3;

/** An id in a path to read or delete: one that cannot exist is simply not found. */
function scheduleId(id: string): string {
  if (!FUNCTION_NAME.test(id)) throw notFound(id);
  return id;
}

function notFound(id: string): Problem {
  return new Problem("not-found", `No schedule ${JSON.stringify(id.slice(0, 100))}.`);
}

/** The public shape: the payload parsed; the function's name is in the path already. */
function present(schedule: ScheduleView) {
  const { function: _function, payloadJson, ...rest } = schedule;
  return payloadJson === undefined ? rest : { ...rest, payload: JSON.parse(payloadJson) as unknown };
}

/** The schedule as the shards holding the function see it, the current shard first (a move may be under way). */
async function findSchedule(env: Env, fn: FunctionRecord, id: string): Promise<ScheduleView | undefined> {
  for (const where of shardsOf(fn)) {
    const found = await shard(env, where).getSchedule(fn.account, fn.name, id);
    if (found) return found;
  }
  return undefined;
}

export const scheduleRoutes = new Hono<GatewayEnv>()
  .get("/:name/schedules", async (c) => {
    const fn = await requireFunction(c.env, c.get("principal").account, c.req.param("name"));
    const seen = new Map<string, ScheduleView>();
    for (const where of shardsOf(fn)) {
      for (const schedule of await shard(c.env, where).listSchedules(fn.account, fn.name)) {
        if (!seen.has(schedule.id)) seen.set(schedule.id, schedule);
      }
    }
    const schedules = [...seen.values()].sort((a, b) => (a.id < b.id ? -1 : 1)).map(present);
    return c.json({ schedules });
  })
  .put("/:name/schedules/:id", async (c) => {
    const fn = await requireFunction(c.env, c.get("principal").account, c.req.param("name"));
    const id = c.req.param("id");
    if (!FUNCTION_NAME.test(id)) {
      throw validationProblem([{ path: "id", message: "must match ^[a-z0-9][a-z0-9-]{0,62}$" }]);
    }
    const spec = await parseJsonBody(c, scheduleSpecSchema, MAX_SCHEDULE_BODY_BYTES);
    const size = schedulePayload(spec.payload, spec.contentType).byteLength;
    if (size > MAX_SCHEDULE_PAYLOAD_BYTES) {
      throw validationProblem([
        { path: "payload", message: `is ${size} bytes as a task body; at most ${MAX_SCHEDULE_PAYLOAD_BYTES}` },
      ]);
    }
    const origin = new URL(c.req.url).origin;
    let where = fn.shard;
    for (let hop = 0; hop < MOVED_HOPS; hop++) {
      const result = await shard(c.env, where).putSchedule(fn, id, spec, origin);
      if (result.ok) return c.json(present(result.schedule), result.created ? 201 : 200);
      switch (result.reason) {
        case "not_found":
          throw new Problem("not-found", `No function ${fn.name}.`);
        case "limit":
          throw new Problem(
            "limit-exceeded",
            `A function has at most ${result.limit} schedules; delete one before adding another.`,
            { extensions: { limit: result.limit } },
          );
        case "moved":
          where = result.shard;
          break;
      }
    }
    throw new Problem("conflict", "The function is moving between shards; try again in a moment.", {
      headers: { "retry-after": "1" },
    });
  })
  .get("/:name/schedules/:id", async (c) => {
    const fn = await requireFunction(c.env, c.get("principal").account, c.req.param("name"));
    const id = scheduleId(c.req.param("id"));
    const found = await findSchedule(c.env, fn, id);
    if (!found) throw notFound(id);
    return c.json(present(found));
  })
  .delete("/:name/schedules/:id", async (c) => {
    const fn = await requireFunction(c.env, c.get("principal").account, c.req.param("name"));
    const id = scheduleId(c.req.param("id"));
    // Old shards first: a row on its way to the current shard is caught there, or deleted there by its sender.
    const results = [];
    for (const where of [...shardsOf(fn)].reverse()) {
      results.push(await shard(c.env, where).deleteSchedule(fn.account, fn.name, id));
    }
    if (!results.some(Boolean)) throw notFound(id);
    return c.json({ deleted: id });
  });
