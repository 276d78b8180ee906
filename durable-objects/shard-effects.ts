/**
 * @module
 * Side effects a shard's dispatch runs make besides invoker hand-offs (durable-objects/shard.ts): asking account
 * limiters for this shard's share of `maxConcurrency`, and sending the outbox of deliveries to the delivery queue.
 * The decisions (who asks for what, which deliveries wait) are src/shard/'s.
 */

import { limiterName } from "../src/placement";
import { GRANT_TTL_MS, type ShardStore } from "../src/shard";
import { logError } from "../workers/platform/log";

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
  storage: DurableObjectStorage,
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
  storage.transactionSync(() => store.markHandedOff(handedOff, Date.now()));
}
