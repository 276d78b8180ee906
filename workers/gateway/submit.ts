/**
 * @module
 * The function URL: `POST /v1/functions/:name/tasks` (one task, any content type) and `POST .../tasks:batch`.
 *
 * A plain submission goes through an ingest queue (the gateway stays stateless and absorbs bursts). A submission with
 * an `Idempotency-Key`, and a batch, go straight to the function's shard in one RPC instead: only the shard can say
 * synchronously whether a key was used before, and it decides that in the same transaction that stores the task, so
 * two racing submissions with one key can never both create a task.
 */

import { type Context, Hono } from "hono";
import { readConfig } from "../../src/config";
import { utf8 } from "../../src/encoding";
import { mintTaskId, shardOfTaskId } from "../../src/ids";
import { MAX_BATCH_BODY_BYTES } from "../../src/limits";
import { ingestPartition, routeTask } from "../../src/placement";
import { validationProblem } from "../../src/problem";
import type { FunctionRecord, IngestMessage, ShardAccountLimits, StoredTaskView } from "../../src/records";
import { batchSubmitSchema, preferWaitSeconds, submitHeadersSchema, toFieldErrors } from "../../src/schemas";
import { isTerminal, type TaskState } from "../../src/task-states";
import { traceForSubmission } from "../../src/trace";
import { acceptDirect } from "../platform/direct-accept";
import { admitSubmissions } from "../platform/rate-limit";
import { type Principal, taskIdKey } from "../platform/registry-client";
import { ingestMessage } from "../platform/tasks";
import { requireFunction } from "./functions";
import type { GatewayEnv } from "./middleware";
import { shard } from "./shards";
import { presentTask, taskUrl } from "./task-view";
import { parseJsonBody, readBody } from "./validation";

/** Number of ingest queue partitions bound in wrangler.toml (INGEST_0 ... INGEST_3). */
const INGEST_PARTITIONS = 4;

function ingestQueue(env: Env, partition: number): Queue<IngestMessage> {
  const queue = [env.INGEST_0, env.INGEST_1, env.INGEST_2, env.INGEST_3][partition];
  if (!queue) throw new Error(`no ingest queue ${partition}`);
  return queue as Queue<IngestMessage>;
}

interface TaskOptions {
  origin: string;
  idempotencyKey?: string | undefined;
  delaySeconds?: number | undefined;
  fairnessKey?: string | undefined;
  traceparent: string;
  accountLimits: ShardAccountLimits;
}

function shardLimits(principal: Principal): ShardAccountLimits {
  return { maxConcurrency: principal.limits.maxConcurrency ?? null, version: principal.limitsVersion };
}

/**
 * A new task of `fn` with a freshly minted id naming the partition it goes to, its body stored, ready for the ingest
 * queue or the shard.
 */
async function newTask(env: Env, fn: FunctionRecord, bytes: Uint8Array, contentType: string, options: TaskOptions) {
  const acceptedAt = Date.now();
  const shard = routeTask(fn, options.idempotencyKey ?? options.fairnessKey);
  const id = await mintTaskId(await taskIdKey(env), fn.account, shard, acceptedAt);
  return ingestMessage(env, fn, { id, bytes, contentType, acceptedAt, shard, ...options });
}

/**
 * Hold the answer until the task ends or `seconds` pass (`Prefer: wait=N`). Returns the ended task, or the state it
 * was last seen in (still `accepted` while it is in the ingest queue).
 */
async function waitForEnd(
  c: Context<GatewayEnv>,
  fn: FunctionRecord,
  where: string,
  id: string,
  seconds: number,
): Promise<{ ended: StoredTaskView } | { state: TaskState }> {
  const deadline = Date.now() + seconds * 1000;
  let interval = 25;
  let state: TaskState = "accepted";
  for (;;) {
    const { task } = await shard(c.env, where).getTask(fn.account, id);
    if (task && isTerminal(task.state)) return { ended: task };
    if (task) state = task.state;
    if (Date.now() >= deadline) return { state };
    await new Promise((resolve) => setTimeout(resolve, Math.min(interval, Math.max(0, deadline - Date.now()))));
    interval = Math.min(interval * 2, 500);
  }
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
    if (!headers.success)
      throw validationProblem(toFieldErrors(headers.error, ["headers"]), "A header has a bad value.");
    // The rate limit is checked before the body is read: a refused submission costs no reading and stores nothing.
    await admitSubmissions(c.env, fn.account, c.get("principal").limits, 1);
    const bytes = await readBody(c, config.maxPayloadBytes, "A task payload");
    const message = await newTask(c.env, fn, bytes, c.req.header("content-type") ?? "application/octet-stream", {
      origin: new URL(c.req.url).origin,
      idempotencyKey: headers.data["idempotency-key"],
      delaySeconds: headers.data["sluice-delay"],
      fairnessKey: headers.data["sluice-fairness-key"],
      traceparent: traceForSubmission(c.req.header("traceparent")),
      accountLimits: shardLimits(c.get("principal")),
    });
    const task = message.task;

    let id = task.id;
    let deduplicated = false;
    if (task.idempotencyKey) {
      const [result] = await acceptDirect(c.env, fn, [message]);
      if (!result) throw new Error("shard returned no result");
      ({ id, deduplicated } = result);
    } else {
      // Awaited before answering: `waitUntil(send())` would drop a failed send and lose the task.
      await ingestQueue(c.env, ingestPartition(fn.account, fn.name, INGEST_PARTITIONS)).send(message, {
        contentType: "v8",
      });
    }

    const waitSeconds = preferWaitSeconds(c.req.header("prefer"));
    let state: TaskState = "accepted";
    if (waitSeconds !== undefined && waitSeconds > 0) {
      // The task's id names its shard (a repeated key's first task, or a task routed again after a move, is elsewhere).
      const waited = await waitForEnd(c, fn, shardOfTaskId(id) ?? task.shard, id, waitSeconds);
      if ("ended" in waited) {
        c.header("preference-applied", `wait=${waitSeconds}`);
        return c.json({ ...presentTask(c, waited.ended), ...(deduplicated ? { deduplicated } : {}) }, 200);
      }
      state = waited.state;
    }
    const statusUrl = taskUrl(c, id);
    if (deduplicated) return c.json({ id, deduplicated: true, statusUrl }, 200, { location: statusUrl });
    return c.json({ id, state, statusUrl }, 202, { location: statusUrl });
  })
  .post("/:name/:action{tasks:batch}", async (c) => {
    const config = readConfig(c.env);
    const fn = await requireFunction(c.env, c.get("principal").account, c.req.param("name"));
    const items = await parseJsonBody(c, batchSubmitSchema, MAX_BATCH_BODY_BYTES);
    // A batch counts each item, and is admitted whole or not at all.
    await admitSubmissions(c.env, fn.account, c.get("principal").limits, items.length);
    const messages: IngestMessage[] = [];
    const traceparent = traceForSubmission(c.req.header("traceparent"));
    for (const [index, item] of items.entries()) {
      const bytes = utf8(JSON.stringify(item.payload));
      if (bytes.byteLength > config.maxPayloadBytes) {
        throw validationProblem([{ path: `${index}.payload`, message: `larger than ${config.maxPayloadBytes} bytes` }]);
      }
      messages.push(
        await newTask(c.env, fn, bytes, "application/json", {
          ...item,
          origin: new URL(c.req.url).origin,
          // One trace for the batch (the request's); each call in it is a span of its own.
          traceparent,
          accountLimits: shardLimits(c.get("principal")),
        }),
      );
    }
    // A repeated key names its first task (on another shard too, after a move); the rest go to their shards.
    const results = await acceptDirect(c.env, fn, messages);
    return c.json(
      { tasks: results.map((r) => ({ id: r.id, ...(r.deduplicated ? { deduplicated: true } : {}) })) },
      202,
    );
  });
