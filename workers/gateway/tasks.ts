/**
 * @module
 * The function URL (`POST /v1/functions/:name/tasks`) and task reads (`GET /v1/tasks/:id`, `GET /v1/tasks/:id/result`).
 */

import { Hono, type Context } from "hono";
import { readConfig } from "../../src/config";
import { mintTaskId, verifyTaskId } from "../../src/ids";
import { ingestPartition } from "../../src/placement";
import { Problem, validationProblem } from "../../src/problem";
import type { BodyRef, IngestMessage, StoredTaskView } from "../../src/records";
import { viewResult } from "../../src/result-view";
import { submitHeadersSchema, toFieldErrors } from "../../src/schemas";
import { functionName } from "./functions";
import { findFunction, taskIdKey } from "./lookups";
import { requireTenant, type GatewayEnv } from "./middleware";

/** Number of ingest queue partitions bound in wrangler.toml (INGEST_0 ... INGEST_3). */
const INGEST_PARTITIONS = 4;

function ingestQueue(env: Env, partition: number): Queue<IngestMessage> {
  const queues = [env.INGEST_0, env.INGEST_1, env.INGEST_2, env.INGEST_3];
  const queue = queues[partition];
  if (!queue) throw new Error(`no ingest queue ${partition}`);
  return queue as Queue<IngestMessage>;
}

async function readPayload(c: Context<GatewayEnv>, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(c.req.header("content-length") ?? "0");
  const tooLarge = () =>
    new Problem("payload-too-large", `Payloads are limited to ${maxBytes} bytes.`, { extensions: { limit: maxBytes } });
  if (declared > maxBytes) throw tooLarge();
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  if (bytes.byteLength > maxBytes) throw tooLarge();
  return bytes;
}

function taskUrl(c: Context, id: string): string {
  return new URL(`/v1/tasks/${id}`, c.req.url).toString();
}

/** The task object of API.md: inline results decoded per content type, large ones only as a URL. */
function taskView(c: Context, stored: StoredTaskView) {
  const { resultBody, ...rest } = stored;
  if (!resultBody) return rest;
  if (resultBody.inline) return { ...rest, ...viewResult(resultBody.inline, resultBody.contentType) };
  return { ...rest, resultUrl: `${taskUrl(c, stored.id)}/result`, resultContentType: resultBody.contentType };
}

async function loadTask(c: Context<GatewayEnv>): Promise<{ id: string; shard: string; createdAt: number; stored: StoredTaskView | null }> {
  const id = c.req.param("id") ?? "";
  const account = c.get("principal").account;
  const parts = await verifyTaskId(await taskIdKey(c.env), account, id);
  if (!parts) throw new Problem("not-found", "No such task.");
  const stored = await c.env.SHARD.getByName(parts.shard).getTask(account, id);
  return { id, shard: parts.shard, createdAt: parts.createdAt, stored };
}

export const submitRoutes = new Hono<GatewayEnv>().use(requireTenant()).post("/:name/tasks", async (c) => {
  const config = readConfig(c.env);
  const account = c.get("principal").account;
  const fn = await findFunction(c.env, account, functionName(c.req.param("name")));
  if (!fn) throw new Problem("not-found", `No function ${c.req.param("name")}.`);

  const headers = submitHeadersSchema.safeParse({
    "idempotency-key": c.req.header("idempotency-key"),
    "sluice-delay": c.req.header("sluice-delay"),
    "sluice-fairness-key": c.req.header("sluice-fairness-key"),
  });
  if (!headers.success) throw validationProblem(toFieldErrors(headers.error, ["headers"]), "A header has a bad value.");

  const bytes = await readPayload(c, config.maxPayloadBytes);
  const acceptedAt = Date.now();
  const id = await mintTaskId(await taskIdKey(c.env), account, fn.shard, acceptedAt);
  const contentType = c.req.header("content-type") ?? "application/octet-stream";
  let payload: BodyRef;
  if (bytes.byteLength > config.inlineLimitBytes) {
    // Queue messages are capped at 128 KB, so large payloads travel by reference.
    const r2Key = `payloads/${id}`;
    await c.env.BLOBS.put(r2Key, bytes, { httpMetadata: { contentType } });
    payload = { contentType, size: bytes.byteLength, r2Key };
  } else {
    payload = { contentType, size: bytes.byteLength, inline: bytes };
  }

  const message: IngestMessage = {
    v: 1,
    fn,
    task: {
      id,
      account,
      functionName: fn.name,
      shard: fn.shard,
      payload,
      acceptedAt,
      ...(headers.data["idempotency-key"] ? { idempotencyKey: headers.data["idempotency-key"] } : {}),
      ...(headers.data["sluice-delay"] ? { delaySeconds: headers.data["sluice-delay"] } : {}),
      ...(headers.data["sluice-fairness-key"] ? { fairnessKey: headers.data["sluice-fairness-key"] } : {}),
    },
  };
  // Awaited before answering: `waitUntil(send())` would drop a failed send and lose the task.
  await ingestQueue(c.env, ingestPartition(account, fn.name, INGEST_PARTITIONS)).send(message, { contentType: "v8" });
  const statusUrl = taskUrl(c, id);
  return c.json({ id, state: "accepted", statusUrl }, 202, { location: statusUrl });
});

export const taskRoutes = new Hono<GatewayEnv>()
  .use(requireTenant())
  .get("/:id", async (c) => {
    const { id, createdAt, stored } = await loadTask(c);
    if (stored) return c.json(taskView(c, stored));
    // Submitted but still on its way through the ingest queue: never a 404 for an id we just handed out.
    const acceptedAt = new Date(createdAt).toISOString();
    return c.json({
      id,
      state: "accepted",
      attempts: 0,
      createdAt: acceptedAt,
      updatedAt: acceptedAt,
      timeline: { acceptedAt, queuedAt: null, firstDispatchedAt: null, lastDispatchedAt: null, finishedAt: null, deliveredAt: null },
      attemptLog: [],
    });
  })
  .get("/:id/result", async (c) => {
    const { stored } = await loadTask(c);
    if (!stored?.resultBody) throw new Problem("not-found", "This task has no result.");
    const body = stored.resultBody;
    if (body.inline) return new Response(body.inline, { headers: { "content-type": body.contentType } });
    const object = body.r2Key ? await c.env.BLOBS.get(body.r2Key) : null;
    if (!object) throw new Problem("not-found", "The result object is gone.");
    return new Response(object.body, {
      headers: { "content-type": body.contentType, "content-length": String(object.size) },
    });
  });
