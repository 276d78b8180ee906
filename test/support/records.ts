/**
 * Builders for the records tests hand a shard store directly: a function (spec parsed with the real schema, target
 * DEMO_FN) and the ingest message of one task with a small inline JSON payload.
 */
import type { FunctionRecord, IngestMessage } from "../../src/records";
import { functionSpecSchema } from "../../src/schemas";

export function testFunction(
  account: string,
  name: string,
  shard: string,
  spec: Record<string, unknown> = {},
  createdAt = 0,
): FunctionRecord {
  return {
    account,
    name,
    spec: functionSpecSchema.parse({ target: { type: "service", service: "DEMO_FN" }, ...spec }),
    shard,
    version: 1,
    createdAt,
    updatedAt: createdAt,
  };
}

export function testTask(
  fn: FunctionRecord,
  id: string,
  acceptedAt: number,
  extra: Partial<IngestMessage["task"]> = {},
  message: Partial<IngestMessage> = {},
): IngestMessage {
  return {
    v: 1,
    fn,
    ...message,
    task: {
      id,
      account: fn.account,
      functionName: fn.name,
      shard: fn.shard,
      acceptedAt,
      payload: { contentType: "application/json", size: 2, inline: new TextEncoder().encode("{}") },
      ...extra,
    },
  };
}
