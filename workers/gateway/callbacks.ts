/**
 * @module
 * Callbacks from long-running tenant functions: `POST /v1/tasks/:id/complete` and `.../heartbeat`. They carry the
 * invocation's `Sluice-Callback-Token`, not an API key: the function received the token with the call.
 *
 * Nothing is read or kept before the token passes. The token names the task's account, so the id's MAC is verified
 * before anything is routed (an invented id never reaches, let alone creates, a shard); then the shard checks the token
 * itself; only then is the body read (capped) and a large result stored, under a key no other callback can overwrite.
 * A missing or wrong token, an ended task and an unknown id all get the same 404: the endpoint is no state oracle.
 */

import { type Context, Hono } from "hono";
import { callbackTokenAccount } from "../../src/callback-token";
import { randomBytes, toBase64Url, utf8 } from "../../src/encoding";
import { verifyTaskId } from "../../src/ids";
import { MAX_CALLBACK_BODY_BYTES } from "../../src/limits";
import { Problem } from "../../src/problem";
import type { CallbackResult, Completion } from "../../src/results";
import { completionSchema } from "../../src/schemas";
import { resultKey, storeBody } from "../platform/blobs";
import { taskIdKey } from "../platform/registry-client";
import type { GatewayEnv } from "./middleware";
import { shard } from "./shards";
import { parseJsonBody } from "./validation";

const NO_SUCH_CALLBACK = "No running task with this id and callback token.";

function notFound(): Problem {
  return new Problem("not-found", NO_SUCH_CALLBACK);
}

/**
 * The task's shard, once the token is shaped like one Sluice mints and the id's MAC holds for the account it names;
 * a 404 otherwise. Nothing is routed before this passes.
 */
async function locateCallback(c: Context<GatewayEnv>): Promise<{ id: string; shard: string; token: string }> {
  const token = c.req.header("sluice-callback-token") ?? "";
  const account = callbackTokenAccount(token);
  if (!account) throw notFound();
  const id = c.req.param("id") ?? "";
  const parts = await verifyTaskId(await taskIdKey(c.env), account, id);
  if (!parts) throw notFound();
  return { id, shard: parts.shard, token };
}

function callbackAnswer(result: CallbackResult): Response {
  if (result.ok) return Response.json({ state: result.state });
  throw notFound();
}

export const callbackRoutes = new Hono<GatewayEnv>()
  .post("/:id/complete", async (c) => {
    const target = await locateCallback(c);
    // The shard checks the token before the body is read, so a refused callback reads and keeps nothing.
    if (!(await shard(c.env, target.shard).checkCallback(target.id, target.token))) throw notFound();
    const body = await parseJsonBody(c, completionSchema, MAX_CALLBACK_BODY_BYTES);
    let outcome: Completion;
    let storedKey: string | undefined;
    if (body.ok) {
      const bytes = body.result === undefined ? undefined : utf8(JSON.stringify(body.result));
      // A key of its own: a second, refused callback can never overwrite (or delete) the result that won.
      const key = resultKey(target.id, `callback-${toBase64Url(randomBytes(9))}`);
      const result = bytes && (await storeBody(c.env, key, bytes, "application/json"));
      storedKey = result?.r2Key;
      outcome = result ? { ok: true, result } : { ok: true };
    } else {
      const message = typeof body.error === "string" ? body.error : body.error.message;
      outcome = { ok: false, error: { kind: "callback", message }, retryable: body.retryable };
    }
    const result = await shard(c.env, target.shard).complete(target.id, target.token, outcome);
    // The task ended between the check and now (a racing callback, a timeout): keep nothing.
    if (!result.ok && storedKey) await c.env.BLOBS.delete(storedKey);
    return callbackAnswer(result);
  })
  .post("/:id/heartbeat", async (c) => {
    // No body to protect: the heartbeat itself checks the token, in one call.
    const target = await locateCallback(c);
    return callbackAnswer(await shard(c.env, target.shard).heartbeat(target.id, target.token));
  });
