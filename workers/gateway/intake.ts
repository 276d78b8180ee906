/**
 * @module
 * How a plain single submission reaches its shard: straight there in an `accept` RPC while this isolate has fewer than
 * DIRECT_PER_SHARD of them in flight to that shard, so the task is stored when the gateway answers 202 and waits for
 * no queue. Beyond that (a burst), or when the direct call fails or takes too long, the ingest queue takes it: the
 * queue absorbs the burst and its consumer hands the shard batches of up to 100 in one RPC, so a shard's write rate
 * is bounded by batches, not by submissions. Accept is idempotent by task id, so a task that arrives both ways (a call
 * that timed out here but did land) is stored once.
 */

import { KeyedSlots } from "../../src/keyed-slots";
import { ingestPartition } from "../../src/placement";
import type { FunctionRecord, IngestMessage } from "../../src/records";
import { logError } from "../platform/log";
import { shard } from "./shards";

/** Number of ingest queue partitions bound in wrangler.toml (INGEST_0 ... INGEST_3). */
const INGEST_PARTITIONS = 4;
/** Direct accept calls one isolate keeps in flight per shard; more submissions at once go through the queue. */
const DIRECT_PER_SHARD = 4;
/** How long a submission waits for its shard before the queue takes it instead (a slow shard must not hold it). */
const DIRECT_WAIT_MS = 2_000;

const direct = new KeyedSlots(DIRECT_PER_SHARD);

function ingestQueue(env: Env, partition: number): Queue<IngestMessage> {
  const queue = [env.INGEST_0, env.INGEST_1, env.INGEST_2, env.INGEST_3][partition];
  if (!queue) throw new Error(`no ingest queue ${partition}`);
  return queue as Queue<IngestMessage>;
}

/** Store a single task without an idempotency key: on its shard if it can take it now, else through the queue. */
export async function submitTask(env: Env, fn: FunctionRecord, message: IngestMessage): Promise<void> {
  const name = message.task.shard;
  if (direct.tryTake(name)) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${DIRECT_WAIT_MS} ms`)), DIRECT_WAIT_MS);
      });
      const call = shard(env, name).accept([message]);
      // Lost the race to the timer: its failure, if any, comes after the queue took the task.
      call.catch(() => {});
      await Promise.race([call, late]);
      return;
    } catch (error) {
      logError("direct accept failed; the ingest queue takes the task", error, { shard: name });
    } finally {
      clearTimeout(timer);
      direct.release(name);
    }
  }
  // Awaited before answering: `waitUntil(send())` would drop a failed send and lose the task.
  await ingestQueue(env, ingestPartition(fn.account, fn.name, INGEST_PARTITIONS)).send(message, {
    contentType: "v8",
  });
}
