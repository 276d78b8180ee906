/**
 * @module
 * Side effects of a shard object (durable-objects/shard.ts) besides invoker hand-offs: its transactions with their
 * task-transition log lines, asking account limiters for this shard's share of `maxConcurrency`, sending the
 * outbox of deliveries to the delivery queue, aborting calls, and deleting purged rows' R2 objects.
 * The decisions (who asks for what, which deliveries wait) are src/shard/'s.
 */

import { invokerName, limiterName } from "../src/placement";
import type { AbortOrder, InvocationJob } from "../src/records";
import { GRANT_TTL_MS, type ShardStore } from "../src/shard";
import { logError, logEvent } from "../workers/platform/log";

/** How these effects run a transaction: the shard object's own, which also prints its task transitions. */
export type Transactions = Pick<DurableObjectStorage, "transactionSync">;

/**
 * Ask the limiters of accounts with `maxConcurrency` for this shard's share (only accounts whose need changed or
 * whose grant runs out). A limiter that cannot be reached leaves the old grant to lapse: the limit holds.
 */
export async function refreshGrants(store: ShardStore, env: Env, shard: string): Promise<void> {
  const requests = store.grantRequests(Date.now());
  await Promise.all(
    requests.map(async ({ account, limit, want }) => {
      try {
        const { granted } = await env.LIMITER.getByName(limiterName(account)).acquireConcurrency(
          shard,
          want,
          limit,
          GRANT_TTL_MS,
        );
        store.recordGrant(account, granted, Date.now(), want);
      } catch (error) {
        logError("concurrency grant failed", error, { shard, account });
      }
    }),
  );
}

/** Outbox: send deliveries recorded by transitions to the delivery queue; the alarm retries any that fail. */
export async function handOffDeliveries(
  store: ShardStore,
  storage: Transactions,
  env: Env,
  shard: string,
): Promise<void> {
  const messages = store.pendingHandoffs(shard, 100, Date.now());
  if (messages.length === 0) return;
  const sent = await Promise.all(
    messages.map((message) =>
      env.DELIVERIES.send(message, { contentType: "v8" }).then(
        () => message.deliveryId,
        (error: unknown) => {
          logError("delivery hand-off failed; the alarm retries", error, { shard });
          return undefined;
        },
      ),
    ),
  );
  const handedOff = sent.filter((id): id is string => id !== undefined);
  storage.transactionSync(() => store.markHandedOff(handedOff, Date.now(), messages.length - handedOff.length));
}

/**
 * One transaction, then its task transitions printed as JSON lines (src/shard/events.ts); a transaction that throws
 * rolled back, and so did its transitions, which are dropped unprinted.
 */
export function loggedTransaction<T>(
  storage: DurableObjectStorage,
  store: ShardStore,
  shard: string,
  work: () => T,
): T {
  let result: T;
  try {
    result = storage.transactionSync(work);
  } catch (error) {
    store.drainEvents();
    throw error;
  }
  const { events, dropped } = store.drainEvents();
  for (const event of events) logEvent({ ...event, shard });
  if (dropped > 0) logEvent({ event: "task.transition.dropped", dropped, shard });
  return result;
}

/** Delete from R2 the objects of purged rows (an outbox: keys leave it only once the bucket delete succeeded). */
export async function collectGarbage(store: ShardStore, storage: Transactions, env: Env, shard: string): Promise<void> {
  const keys = store.pendingGarbage();
  if (keys.length === 0) return;
  try {
    await env.BLOBS.delete(keys);
    storage.transactionSync(() => store.forgetGarbage(keys));
  } catch (error) {
    logError("R2 garbage collection failed; the alarm retries", error, { shard });
  }
}

/** Abort calls in flight. Best effort: an abort that does not arrive only lets the call finish; its outcome is ignored. */
export async function abortCalls(env: Env, shard: string, aborts: readonly AbortOrder[]): Promise<void> {
  await Promise.all(
    aborts.map((order) =>
      env.INVOKER.getByName(invokerName(shard, order.invoker))
        .abort(order.taskId, order.invocation)
        .catch((error: unknown) => logError("abort failed", error, { shard, task: order.taskId })),
    ),
  );
}

/** The earlier of two optional times. */
export function earliest(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b);
}

/** Inline payload bytes a job carries (everything else in it is small). */
export function jobBytes(job: InvocationJob): number {
  return 512 + (job.payload.inline?.byteLength ?? 0);
}
