/**
 * @module
 * Callbacks from long-running tenant functions: `POST /v1/tasks/:id/complete` and `.../heartbeat`. They carry the
 * invocation's `Sluice-Callback-Token`, not an API key: the function received the token with the call.
 */

import { Hono, type Context } from "hono";
import { readConfig } from "../../src/config";
import { utf8 } from "../../src/encoding";
import { shardOfTaskId } from "../../src/ids";
import type { TaskError } from "../../src/outcome";
import { Problem } from "../../src/problem";
import type { BodyRef, CallbackResult } from "../../src/records";
import { completionSchema } from "../../src/schemas";
import type { GatewayEnv } from "./middleware";
import { resultKey, storeBody } from "../blobs";
import { shard } from "./shards";
import { parseJsonBody } from "./validation";

function callbackTarget(c: Context<GatewayEnv>): { id: string; shard: string; token: string } {
  const token = c.req.header("sluice-callback-token");
  if (!token) {
    throw new Problem("unauthorized", "Send the Sluice-Callback-Token header the invocation carried.");
  }
  const id = c.req.param("id") ?? "";
  const where = shardOfTaskId(id);
  if (!where) throw new Problem("not-found", "No such task.");
  return { id, shard: where, token };
}

function callbackAnswer(result: CallbackResult): Response {
  if (result.ok) return Response.json({ state: result.state });
  if (result.reason === "conflict") {
    // Late or duplicate: ignored, and it never changes a task that already ended.
    throw new Problem("invalid-transition", `The task is ${result.state}; this callback was ignored.`, {
      extensions: { state: result.state },
    });
  }
  // A wrong token reads like an unknown task, so a guess learns nothing.
  throw new Problem("not-found", "No running task with this id and callback token.");
}

export const callbackRoutes = new Hono<GatewayEnv>()
  .post("/:id/complete", async (c) => {
    const target = callbackTarget(c);
    const body = await parseJsonBody(c, completionSchema);
    let outcome: { ok: true; result?: BodyRef } | { ok: false; error: TaskError; retryable: boolean };
    if (body.ok) {
      const bytes = body.result === undefined ? undefined : utf8(JSON.stringify(body.result));
      const config = readConfig(c.env);
      if (bytes && bytes.byteLength > config.maxPayloadBytes * 10) {
        throw new Problem("payload-too-large", "The result is too large.");
      }
      const result = bytes && (await storeBody(c.env, resultKey(target.id, "callback"), bytes, "application/json"));
      outcome = result ? { ok: true, result } : { ok: true };
    } else {
      const message = typeof body.error === "string" ? body.error : body.error.message;
      outcome = { ok: false, error: { kind: "callback", message }, retryable: body.retryable };
    }
    return callbackAnswer(await shard(c.env, target.shard).complete(target.id, target.token, outcome));
  })
  .post("/:id/heartbeat", async (c) => {
    const target = callbackTarget(c);
    return callbackAnswer(await shard(c.env, target.shard).heartbeat(target.id, target.token));
  });
