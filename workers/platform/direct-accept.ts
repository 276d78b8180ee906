/**
 * @module
 * The direct path to the shards (the gateway's idempotent submissions and batches, chained tasks of a `function`
 * destination, event-source messages): one `accept` RPC per shard the tasks were routed to, answered in their order.
 * Only the shard that owns a key can say whether it was used, so after a placement move:
 *
 * - a key may have been used on a shard the function left (or on another partition while the count changed) within
 *   its dedup window: those shards are asked first, and handed the current record, so they refuse that key from a
 *   sender still routing by the old one from then on;
 * - a shard answers `moved` for a key it no longer owns (the record the sender routed by is from before a move):
 *   the task is minted again for the shard the current record (in the answer's `newer`) routes it to, and sent there.
 *
 * So two isolates that hold different records of a moving function still send each key to one shard, which decides
 * it in one transaction.
 */

import { mintTaskId } from "../../src/ids";
import { routeTask, shardsHolding } from "../../src/placement";
import type { AcceptResult, FunctionRecord, IngestMessage, SubmitResult } from "../../src/records";
import { rememberNewerFunction, taskIdKey } from "./registry-client";

/** Times one submission is routed again because its function moved under it (each move needs a dwell to pass). */
const MAX_REROUTES = 3;

/**
 * Store these tasks of `fn` through their shards (keys used elsewhere name their first task), answering in order.
 * A key that a move took to another shard is sent there, by the current record. A message whose key names an earlier
 * task stored its payload for nothing: that R2 object is deleted before the answer.
 */
export async function acceptDirect(
  env: Env,
  fn: FunctionRecord,
  messages: readonly IngestMessage[],
): Promise<SubmitResult[]> {
  const results: SubmitResult[] = new Array(messages.length);
  let record = fn;
  let pending = messages.map((message, index) => ({ message, index }));
  for (let round = 0; ; round++) {
    const earlier = await keysUsedElsewhere(
      env,
      record,
      pending.map((p) => p.message.task),
    );
    const fresh = pending.filter(({ message, index }) => {
      const id = message.task.idempotencyKey ? earlier[message.task.idempotencyKey] : undefined;
      if (id) results[index] = { id, deduplicated: true };
      return !id;
    });
    const { answers, newer } = await acceptByShard(
      env,
      fresh.map((p) => p.message),
    );
    const moved = fresh.filter(({ index }, k) => {
      const answer = answers[k] as AcceptResult;
      if ("moved" in answer) return true;
      results[index] = answer;
      return false;
    });
    if (moved.length === 0) {
      await discardUnusedPayloads(env, messages, results);
      return results;
    }
    const current = newer
      .filter((r) => r.account === fn.account && r.name === fn.name && r.version > record.version)
      .reduce<FunctionRecord | undefined>((best, r) => (best && best.version >= r.version ? best : r), undefined);
    if (!current || round >= MAX_REROUTES) {
      throw new Error(`function ${fn.name} kept moving while ${moved.length} submissions were routed`);
    }
    record = current;
    pending = await Promise.all(
      moved.map(async ({ message, index }) => ({ message: await routedAgain(env, current, message), index })),
    );
  }
}

/** The payloads stored in R2 for messages answered with an earlier task (a repeated key): they belong to no task. */
async function discardUnusedPayloads(
  env: Env,
  messages: readonly IngestMessage[],
  results: readonly SubmitResult[],
): Promise<void> {
  const unused = results.flatMap((r, i) => (r.deduplicated ? [messages[i]?.task.payload.r2Key] : []));
  const keys = unused.filter((key): key is string => typeof key === "string");
  if (keys.length > 0) await env.BLOBS.delete(keys);
}

/** The same task minted for the shard `fn` (a newer record) routes its key to: a new id naming that shard. */
async function routedAgain(env: Env, fn: FunctionRecord, message: IngestMessage): Promise<IngestMessage> {
  const { task } = message;
  const where = routeTask(fn, task.idempotencyKey ?? task.fairnessKey);
  const id = await mintTaskId(await taskIdKey(env), fn.account, where, task.acceptedAt);
  // The payload stays where it was stored (its R2 key, if any, is kept in the task's row).
  return { ...message, fn, task: { ...task, id, shard: where } };
}

/**
 * After a placement move within the function's dedup window, an idempotency key may have been used on another of its
 * shards (one it left, or another partition while the count changed): the task it named there, if any. Asked only
 * then, so a function that stays put pays nothing. Each shard asked is handed `fn`, so a shard that still held an
 * older record refuses these keys from now on (see the module's comment).
 */
async function keysUsedElsewhere(
  env: Env,
  fn: FunctionRecord,
  tasks: readonly { shard: string; idempotencyKey?: string | undefined }[],
): Promise<Record<string, string>> {
  const window = fn.spec.dedupWindowSeconds * 1000;
  const movedAt = Math.max(fn.placement?.since ?? 0, (fn.previousShards ?? []).length > 0 ? fn.updatedAt : 0);
  const keyed = tasks.filter((t) => t.idempotencyKey !== undefined);
  if (window === 0 || keyed.length === 0 || Date.now() - movedAt >= window) return {};
  const found: Record<string, string> = {};
  await Promise.all(
    shardsHolding(fn).map(async (name) => {
      const keys = keyed.filter((t) => t.shard !== name).map((t) => t.idempotencyKey as string);
      if (keys.length === 0) return;
      Object.assign(found, await env.SHARD.getByName(name).idempotentTasks(fn.account, fn.name, keys, fn));
    }),
  );
  return found;
}

/**
 * Hand messages to the shards they were routed to (one RPC per shard, in parallel), answering in their order, with
 * every newer record the shards answered with (also remembered: this isolate routes its next submissions by them).
 */
async function acceptByShard(
  env: Env,
  messages: readonly IngestMessage[],
): Promise<{ answers: AcceptResult[]; newer: FunctionRecord[] }> {
  const groups = new Map<string, number[]>();
  for (const [index, message] of messages.entries()) {
    groups.set(message.task.shard, [...(groups.get(message.task.shard) ?? []), index]);
  }
  const answers: AcceptResult[] = new Array(messages.length);
  const newer: FunctionRecord[] = [];
  await Promise.all(
    [...groups].map(async ([where, indexes]) => {
      const answer = await env.SHARD.getByName(where).accept(
        indexes.map((i) => messages[i] as IngestMessage),
        { reroute: true },
      );
      for (const record of answer.newer) rememberNewerFunction(env, record);
      newer.push(...answer.newer);
      for (const [k, index] of indexes.entries()) {
        const result = answer.results[k];
        if (!result) throw new Error("shard returned too few results");
        answers[index] = result;
      }
    }),
  );
  return { answers, newer };
}
