/**
 * @module
 * The Sluice platform Worker: the gateway (`fetch`), the ingest consumer (`queue`) and the Durable Object classes.
 */

import type { IngestMessage } from "../src/records";
import { app } from "./gateway/app";
import { handleIngestBatch } from "./ingest";

export { InvokerDurableObject } from "../durable-objects/invoker";
export { RegistryDurableObject } from "../durable-objects/registry";
export { ShardDurableObject } from "../durable-objects/shard";

export default {
  fetch: app.fetch,
  queue: handleIngestBatch,
} satisfies ExportedHandler<Env, IngestMessage>;
