/**
 * @module
 * The ingest queue consumer: groups a batch by destination shard and hands each shard its tasks in one `accept` RPC.
 * Messages are acked only after their shard has stored them; Queues deliver at least once and accept is idempotent by
 * task id, so a redelivery never makes a second task.
 */

import type { IngestMessage } from "../../src/records";
import { logError } from "../platform/log";

/** Wait before a batch whose shard call failed is offered again. */
const RETRY_DELAY_SECONDS = 2;

export async function handleIngestBatch(batch: MessageBatch<IngestMessage>, env: Env): Promise<void> {
  const byShard = new Map<string, Message<IngestMessage>[]>();
  for (const message of batch.messages) {
    const body = message.body;
    if (body?.v !== 1 || !body.task?.shard) {
      // Not ours to interpret; ack so a malformed message cannot block the queue, and say so loudly.
      logError("dropping malformed ingest message", undefined, { id: message.id });
      message.ack();
      continue;
    }
    const group = byShard.get(body.task.shard) ?? [];
    group.push(message);
    byShard.set(body.task.shard, group);
  }
  await Promise.all(
    [...byShard].map(async ([shard, messages]) => {
      try {
        await env.SHARD.getByName(shard).accept(messages.map((m) => m.body));
        for (const message of messages) message.ack();
      } catch (error) {
        logError("shard accept failed; retrying", error, { shard });
        for (const message of messages) message.retry({ delaySeconds: RETRY_DELAY_SECONDS });
      }
    }),
  );
}
