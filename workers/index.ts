/**
 * @module
 * The Sluice platform Worker: the gateway (`fetch`), the queue consumers (ingest, deliveries, event sources) and the
 * Durable Object classes.
 */

import type { DeliveryMessage } from "../src/delivery";
import type { IngestMessage } from "../src/records";
import { handleDeliveryBatch } from "./consumers/deliveries";
import { handleEventSourceBatch, isEventSource } from "./consumers/event-sources";
import { handleIngestBatch } from "./consumers/ingest";
import { app } from "./gateway/app";
import { logError } from "./platform/log";

export { AccountLimiterDurableObject } from "../durable-objects/account-limiter";
export { DeliveryLaneDurableObject } from "../durable-objects/delivery-lane";
export { InvokerDurableObject } from "../durable-objects/invoker";
export { RegistryDurableObject } from "../durable-objects/registry";
export { ShardDurableObject } from "../durable-objects/shard";

/** Route a batch to its consumer by the queue it came from. */
export async function routeQueueBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  if (batch.queue.startsWith("sluice-ingest")) return handleIngestBatch(batch as MessageBatch<IngestMessage>, env);
  if (batch.queue === "sluice-deliveries") return handleDeliveryBatch(batch as MessageBatch<DeliveryMessage>, env);
  if (isEventSource(env, batch.queue)) return handleEventSourceBatch(batch, env);
  logError("no consumer for queue; retrying later", undefined, { queue: batch.queue });
  batch.retryAll({ delaySeconds: 60 });
}

export default {
  fetch: app.fetch,
  queue: routeQueueBatch,
} satisfies ExportedHandler<Env, unknown>;
