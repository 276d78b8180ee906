/**
 * @module
 * Building the ingest message of a new task, whoever makes it (a submission, a chained delivery, an event-source
 * message): its body is stored inline or in R2 under the task's id, and the function snapshot travels with it.
 */

import type { FunctionRecord, IngestMessage, ShardAccountLimits } from "../../src/records";
import { payloadKey, storeBody } from "./blobs";

export interface NewTask {
  readonly id: string;
  readonly bytes: Uint8Array;
  readonly contentType: string;
  readonly acceptedAt: number;
  readonly idempotencyKey?: string | undefined;
  readonly delaySeconds?: number | undefined;
  readonly fairnessKey?: string | undefined;
  readonly chainDepth?: number | undefined;
  readonly origin?: string | undefined;
  /** W3C trace context (validated by the shard; one is started there when absent). */
  readonly traceparent?: string | undefined;
  /** The account's limits, when the caller knows them (IngestMessage.accountLimits). */
  readonly accountLimits?: ShardAccountLimits | undefined;
  /** The shard the task's id names (one of the function's partitions, src/placement.ts routeTask). */
  readonly shard: string;
}

export async function ingestMessage(env: Env, fn: FunctionRecord, task: NewTask): Promise<IngestMessage> {
  return {
    v: 1,
    fn,
    ...(task.accountLimits ? { accountLimits: task.accountLimits } : {}),
    task: {
      id: task.id,
      account: fn.account,
      functionName: fn.name,
      shard: task.shard,
      payload: await storeBody(env, payloadKey(task.id), task.bytes, task.contentType),
      acceptedAt: task.acceptedAt,
      ...(task.idempotencyKey ? { idempotencyKey: task.idempotencyKey } : {}),
      ...(task.delaySeconds ? { delaySeconds: task.delaySeconds } : {}),
      ...(task.fairnessKey ? { fairnessKey: task.fairnessKey } : {}),
      ...(task.chainDepth ? { chainDepth: task.chainDepth } : {}),
      ...(task.origin !== undefined ? { origin: task.origin } : {}),
      ...(task.traceparent ? { traceparent: task.traceparent } : {}),
    },
  };
}
