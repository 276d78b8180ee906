/**
 * @module
 * Event sources: any Cloudflare Queue named in EVENT_SOURCES feeds a function. Each message becomes a task of that
 * function (same shards, flow control, state machine and destinations) and is acked only after the shard has stored it.
 * The task id is derived from the queue and message id, which is also its idempotency key, so a redelivered message
 * never makes a second task (also after the function moved, within its `dedupWindowSeconds`).
 */

import { readConfig } from "../../src/config";
import { utf8 } from "../../src/encoding";
import { mintDerivedTaskId } from "../../src/ids";
import { routeTask } from "../../src/placement";
import type { IngestMessage } from "../../src/records";
import { acceptDirect } from "../platform/direct-accept";
import { logError } from "../platform/log";
import { findFunction, taskIdKey } from "../platform/registry-client";
import { ingestMessage } from "../platform/tasks";

/** A message body as task payload: strings as text, bytes as bytes, anything else as JSON. */
function encodeBody(body: unknown): { bytes: Uint8Array; contentType: string } {
  if (typeof body === "string") return { bytes: utf8(body), contentType: "text/plain; charset=utf-8" };
  if (body instanceof ArrayBuffer) return { bytes: new Uint8Array(body), contentType: "application/octet-stream" };
  if (ArrayBuffer.isView(body)) {
    return {
      bytes: new Uint8Array(body.buffer, body.byteOffset, body.byteLength),
      contentType: "application/octet-stream",
    };
  }
  return { bytes: utf8(JSON.stringify(body ?? null)), contentType: "application/json" };
}

export function isEventSource(env: Env, queue: string): boolean {
  return queue in readConfig(env).eventSources;
}

export async function handleEventSourceBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const config = readConfig(env);
  const source = config.eventSources[batch.queue];
  const fn = source ? await findFunction(env, source.account, source.function) : null;
  if (!source || !fn) {
    logError("event source has no function yet; retrying", undefined, { queue: batch.queue });
    batch.retryAll({ delaySeconds: 30 });
    return;
  }
  const key = await taskIdKey(env);
  const messages: IngestMessage[] = [];
  for (const message of batch.messages) {
    const at = message.timestamp.getTime();
    // The seed also picks the partition, so a redelivered message meets its first task on the same shard; and it is
    // the task's idempotency key, so one redelivered after the function moved meets its first task where that is
    // (direct-accept.ts; within the function's dedupWindowSeconds, unless that is 0).
    const seed = `event\n${batch.queue}\n${message.id}`;
    const shard = routeTask(fn, seed);
    const id = await mintDerivedTaskId(key, fn.account, shard, at, seed);
    messages.push(
      await ingestMessage(env, fn, { id, ...encodeBody(message.body), acceptedAt: at, idempotencyKey: seed, shard }),
    );
  }
  try {
    await acceptDirect(env, fn, messages);
    batch.ackAll();
  } catch (error) {
    logError("event source accept failed; retrying", error, { queue: batch.queue });
    batch.retryAll({ delaySeconds: 2 });
  }
}
