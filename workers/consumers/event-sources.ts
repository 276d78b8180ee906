/**
 * @module
 * Event sources: any Cloudflare Queue named in EVENT_SOURCES feeds a function. Each message becomes a task of that
 * function (same shards, flow control, state machine and destinations) and is acked only after the shard has stored it.
 * The task id is derived from the queue and message id, so a redelivered message never makes a second task.
 */

import { readConfig } from "../../src/config";
import { utf8 } from "../../src/encoding";
import { mintDerivedTaskId } from "../../src/ids";
import type { IngestMessage } from "../../src/records";
import { payloadKey, storeBody } from "../platform/blobs";
import { findFunction, taskIdKey } from "../platform/registry-client";

/** A message body as task payload: strings as text, bytes as bytes, anything else as JSON. */
function encodeBody(body: unknown): { bytes: Uint8Array; contentType: string } {
  if (typeof body === "string") return { bytes: utf8(body), contentType: "text/plain; charset=utf-8" };
  if (body instanceof ArrayBuffer) return { bytes: new Uint8Array(body), contentType: "application/octet-stream" };
  if (ArrayBuffer.isView(body)) {
    return { bytes: new Uint8Array(body.buffer, body.byteOffset, body.byteLength), contentType: "application/octet-stream" };
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
    console.error(JSON.stringify({ level: "error", message: "event source has no function yet; retrying", queue: batch.queue }));
    batch.retryAll({ delaySeconds: 30 });
    return;
  }
  const key = await taskIdKey(env);
  const messages: IngestMessage[] = [];
  for (const message of batch.messages) {
    const at = message.timestamp.getTime();
    const id = await mintDerivedTaskId(key, fn.account, fn.shard, at, `event\n${batch.queue}\n${message.id}`);
    const { bytes, contentType } = encodeBody(message.body);
    const payload = await storeBody(env, payloadKey(id), bytes, contentType);
    messages.push({
      v: 1,
      fn,
      task: { id, account: fn.account, functionName: fn.name, shard: fn.shard, payload, acceptedAt: message.timestamp.getTime() },
    });
  }
  try {
    await env.SHARD.getByName(fn.shard).accept(messages);
    batch.ackAll();
  } catch (error) {
    console.error(JSON.stringify({ level: "error", message: "event source accept failed; retrying", error: String(error) }));
    batch.retryAll({ delaySeconds: 2 });
  }
}
