/**
 * @module
 * The delivery queue consumer, a router: it groups a batch by delivery lane (one account's deliveries to one
 * destination, `laneOf`) and hands each lane its envelopes in one `enqueue` RPC (split to the RPC size bound). The
 * lane Durable Object stores them and makes the attempts; this consumer never waits on a receiver, so a hung webhook
 * of one account cannot hold the batch that carries another account's deliveries. A delivery a full lane refuses,
 * or whose RPC failed, goes back to the queue with a delay (back-pressure; nothing is dropped), and its shard is told
 * when to expect it so that waiting is not taken for silence.
 */

import { batchBySize } from "../../src/batches";
import type { DeliveryMessage, DeliveryReport } from "../../src/delivery";
import { laneMessageBytes, laneOf, refusedRetryDelay } from "../../src/delivery-lanes";
import { MAX_RPC_BATCH_BYTES } from "../../src/limits";
import { logError, logWarn } from "../platform/log";

/** Delay before a delivery whose lane could not be reached is routed again. */
const ROUTE_RETRY_SECONDS = 5;

/** Group messages by lane, keeping each message's size for the RPC bound. */
function byLane(messages: readonly Message<DeliveryMessage>[]): Map<string, Message<DeliveryMessage>[]> {
  const lanes = new Map<string, Message<DeliveryMessage>[]>();
  for (const message of messages) {
    const lane = laneOf(message.body);
    const list = lanes.get(lane);
    if (list) list.push(message);
    else lanes.set(lane, [message]);
  }
  return lanes;
}

/** Tell the shards of refused deliveries when they will be offered again (best effort: the shard re-sends anyway). */
async function notifyRefused(env: Env, refused: readonly { message: DeliveryMessage; delayS: number }[]) {
  const byShard = new Map<string, DeliveryReport[]>();
  const now = Date.now();
  for (const { message, delayS } of refused) {
    const report: DeliveryReport = {
      taskId: message.taskId,
      deliveryId: message.deliveryId,
      state: "pending",
      attempts: message.priorAttempts ?? 0,
      at: now,
      reportBy: now + delayS * 1000,
    };
    byShard.set(message.shard, [...(byShard.get(message.shard) ?? []), report]);
  }
  await Promise.all(
    [...byShard].map(([shard, reports]) =>
      env.SHARD.getByName(shard)
        .reportDeliveries(reports)
        .catch((error: unknown) => logWarn("could not tell the shard about refused deliveries", error, { shard })),
    ),
  );
}

export async function handleDeliveryBatch(batch: MessageBatch<DeliveryMessage>, env: Env): Promise<void> {
  const refused: { message: DeliveryMessage; delayS: number }[] = [];
  const calls = [...byLane(batch.messages)].flatMap(([lane, messages]) =>
    batchBySize(messages, (m) => laneMessageBytes(m.body), MAX_RPC_BATCH_BYTES).map(async (group) => {
      try {
        const result = await env.DELIVERY_LANES.getByName(lane).enqueue(group.map((m) => m.body));
        const accepted = new Set(result.accepted);
        for (const message of group) {
          if (accepted.has(message.body.deliveryId)) {
            message.ack();
            continue;
          }
          // The lane is full (a receiver that hangs or fails for hours): offer it again later, ever more slowly.
          const delayS = refusedRetryDelay(message.attempts);
          refused.push({ message: message.body, delayS });
          message.retry({ delaySeconds: delayS });
        }
      } catch (error) {
        logError("delivery lane unreachable; retrying", error, { lane });
        for (const message of group) message.retry({ delaySeconds: ROUTE_RETRY_SECONDS });
      }
    }),
  );
  await Promise.all(calls);
  if (refused.length > 0) await notifyRefused(env, refused);
}
