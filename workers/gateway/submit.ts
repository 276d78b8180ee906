/**
 * @module
 * The function URL: `POST /v1/functions/:name/tasks` (one task, any content type) and `POST .../tasks:batch`.
 *
 * A plain submission goes through an ingest queue (the gateway stays stateless and absorbs bursts). A submission with
 * an `Idempotency-Key`, and a batch, go straight to the function's shard in one RPC instead: only the shard can say
 * synchronously whether a key was used before, and it decides that in the same transaction that stores the task, so
 * two racing submissions with one key can never both create a task.
 */

import { Hono, type Context } from "hono";
import { readConfig } from "../../src/config";
import { utf8 } from "../../src/encoding";
import { mintTaskId } from "../../src/ids";
import { ingestPartition } from "../../src/placement";
import { Problem, validationProblem } from "../../src/problem";
import type { FunctionRecord, IngestMessage, IngestTask } from "../../src/records";
import { batchSubmitSchema, preferWaitSeconds, submitHeadersSchema, toFieldErrors } from "../../src/schemas";
import { isTerminal } from "../../src/task-states";
import { requireFunction } from "./functions";
import { taskIdKey } from "./lookups";
import type { GatewayEnv } from "./middleware";
import { payloadKey, storeBody } from "../blobs";
import { shard } from "./shards";
import { presentTask, taskUrl } from "./task-view";
import { parseJsonBody } from "./validation";

/** Number of ingest queue partitions bound in wrangler.toml (INGEST_0 ... INGEST_3). */
const INGEST_PARTITIONS = 4;

function ingestQueue(env: Env, partition: number): Queue<IngestMessage> {
  const queue = [env.INGEST_0, env.INGEST_1, env.INGEST_2, env.INGEST_3][partition];
  if (!queue) throw new Error(`no ingest queue ${partition}`);
  return queue as Queue<IngestMessage>;
}

function tooLarge(maxBytes: number): Problem {
  return new Problem("payload-too-large", `Payloads are limited to ${maxBytes} bytes.`, { extensions: { limit: maxBytes } });
}

async function readPayload(c: Context<GatewayEnv>, maxBytes: number): Promise<Uint8Array> {
  if (Number(c.req.header("content-length") ?? "0") > maxBytes) throw tooLarge(maxBytes);
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  if (bytes.byteLength > maxBytes) throw tooLarge(maxBytes);
  return bytes;
}

interface TaskOptions {
  origin: string;
  idempotencyKey?: string | undefined;
  delaySeconds?: number | undefined;
  fairnessKey?: string | undefined;
}

async function buildTask(
  env: Env,
  fn: FunctionRecord,
  bytes: Uint8Array,
  contentType: string,
  options: TaskOptions,
): Promise<IngestTask> {
  const acceptedAt = Date.now();
  const id = await mintTaskId(await taskIdKey(env), fn.account, fn.shard, acceptedAt);
  return {
    id,
    account: fn.account,
    functionName: fn.name,
    shard: fn.shard,
    payload: await storeBody(env, payloadKey(id), bytes, contentType),
    acceptedAt,
    origin: options.origin,
    ...(options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : {}),
    ...(options.delaySeconds ? { delaySeconds: options.delaySeconds } : {}),
    ...(options.fairnessKey ? { fairnessKey: options.fairnessKey } : {}),
  };
}

/** Hold the answer until the task ends or `seconds` pass (`Prefer: wait=N`). */
async function waitForEnd(c: Context<GatewayEnv>, fn: FunctionRecord, id: string, seconds: number) {
  const deadline = Date.now() + seconds * 1000;
  let interval = 25;
  while (Date.now() < deadline) {
    const { task } = await shard(c.env, fn.shard).getTask(fn.account, id);
    if (task && isTerminal(task.state)) return task;
    await new Promise((resolve) => setTimeout(resolve, Math.min(interval, Math.max(0, deadline - Date.now()))));
    interval = Math.min(interval * 2, 500);
  }
  return undefined;
}

export const submitRoutes = new Hono<GatewayEnv>()
  .post("/:name/tasks", async (c) => {
    const config = readConfig(c.env);
    const fn = await requireFunction(c.env, c.get("principal").account, c.req.param("name"));
    const headers = submitHeadersSchema.safeParse({
      "idempotency-key": c.req.header("idempotency-key"),
      "sluice-delay": c.req.header("sluice-delay"),
      "sluice-fairness-key": c.req.header("sluice-fairness-key"),
    });
    if (!headers.success) throw validationProblem(toFieldErrors(headers.error, ["headers"]), "A header has a bad value.");
    const bytes = await readPayload(c, config.maxPayloadBytes);
    const task = await buildTask(c.env, fn, bytes, c.req.header("content-type") ?? "application/octet-stream", {
      origin: new URL(c.req.url).origin,
      idempotencyKey: headers.data["idempotency-key"],
      delaySeconds: headers.data["sluice-delay"],
      fairnessKey: headers.data["sluice-fairness-key"],
    });
    const message: IngestMessage = { v: 1, task, fn };

    let id = task.id;
    let deduplicated = false;
    if (task.idempotencyKey) {
      const [result] = await shard(c.env, fn.shard).accept(fn.shard, [message]);
      if (!result) throw new Error("shard returned no result");
      ({ id, deduplicated } = result);
      if (deduplicated && task.payload.r2Key) await c.env.BLOBS.delete(task.payload.r2Key);
    } else {
      // Awaited before answering: `waitUntil(send())` would drop a failed send and lose the task.
      await ingestQueue(c.env, ingestPartition(fn.account, fn.name, INGEST_PARTITIONS)).send(message, { contentType: "v8" });
    }

    const waitSeconds = preferWaitSeconds(c.req.header("prefer"));
    if (waitSeconds !== undefined && waitSeconds > 0) {
      const ended = await waitForEnd(c, fn, id, waitSeconds);
      if (ended) {
        c.header("preference-applied", `wait=${waitSeconds}`);
        return c.json({ ...presentTask(c, ended), ...(deduplicated ? { deduplicated } : {}) }, 200);
      }
    }
    const statusUrl = taskUrl(c, id);
    if (deduplicated) return c.json({ id, deduplicated: true, statusUrl }, 200, { location: statusUrl });
    return c.json({ id, state: "accepted", statusUrl }, 202, { location: statusUrl });
  })
  .post("/:name/:action{tasks:batch}", async (c) => {
    const config = readConfig(c.env);
    const fn = await requireFunction(c.env, c.get("principal").account, c.req.param("name"));
    const items = await parseJsonBody(c, batchSubmitSchema);
    const messages: IngestMessage[] = [];
    for (const [index, item] of items.entries()) {
      const bytes = utf8(JSON.stringify(item.payload));
      if (bytes.byteLength > config.maxPayloadBytes) {
        throw validationProblem([{ path: `${index}.payload`, message: `larger than ${config.maxPayloadBytes} bytes` }]);
      }
      const task = await buildTask(c.env, fn, bytes, "application/json", { ...item, origin: new URL(c.req.url).origin });
      messages.push({ v: 1, task, fn });
    }
    const results = await shard(c.env, fn.shard).accept(fn.shard, messages);
    return c.json(
      { tasks: results.map((r) => ({ id: r.id, ...(r.deduplicated ? { deduplicated: true } : {}) })) },
      202,
    );
  });
