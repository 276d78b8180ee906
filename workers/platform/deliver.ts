/**
 * @module
 * One delivery attempt: sends an envelope to its destination (a webhook signed the Standard Webhooks way, a queue
 * binding, an R2 object, or a new task of another function) and says how it went. Shared by the delivery lane
 * Durable Object, which runs attempts, and anything else that has to deliver; it never retries by itself.
 */

import type { PlatformConfig } from "../../src/config";
import { classifyReceiver, type DeliveryAttempt, type DeliveryMessage, r2DestinationKey } from "../../src/delivery";
import { utf8 } from "../../src/encoding";
import { mintDerivedTaskId } from "../../src/ids";
import { routeTask } from "../../src/placement";
import { signWebhook } from "../../src/signing";
import { outboundUrlProblem } from "../../src/ssrf";
import { traceHeader } from "../../src/trace";
import { isQueue, namedBinding } from "./bindings";
import { acceptDirect } from "./direct-accept";
import { logWarn } from "./log";
import { findFunction, signingSecrets, taskIdKey } from "./registry-client";
import { ingestMessage } from "./tasks";

async function deliverWebhook(
  env: Env,
  config: PlatformConfig,
  message: DeliveryMessage,
  url: string,
): Promise<DeliveryAttempt> {
  const problem = outboundUrlProblem(url, config.allowPrivateTargets);
  if (problem) return { verdict: "stop", error: `webhook URL ${problem}` };
  const body = utf8(JSON.stringify(message.envelope));
  const headers = await signWebhook(
    await signingSecrets(env, message.account),
    message.deliveryId,
    Math.floor(Date.now() / 1000),
    body,
  );
  const timeout = AbortSignal.timeout(config.deliveryTimeoutMs);
  try {
    const response = await fetch(url, {
      method: "POST",
      body,
      // A redirect could point anywhere, including places the SSRF rules forbid: never follow one.
      redirect: "manual",
      signal: timeout,
      headers: {
        "content-type": "application/json",
        "user-agent": "Sluice-Webhooks/1",
        ...traceHeader(message.traceparent),
        ...headers,
      },
    });
    await response.body?.cancel();
    const verdict = classifyReceiver(response.status);
    return verdict === "delivered" ? { verdict } : { verdict, error: `receiver answered ${response.status}` };
  } catch (error) {
    // As for function calls: one message for every network failure, the detail only in the log.
    if (!timeout.aborted) logDeliveryError(message, error);
    return {
      verdict: "retry",
      error: timeout.aborted
        ? `the receiver did not answer within ${config.deliveryTimeoutMs} ms`
        : "the receiver could not be reached (no HTTP response)",
    };
  }
}

function logDeliveryError(message: DeliveryMessage, error: unknown): void {
  logWarn("delivery attempt failed", error, { task: message.taskId });
}

async function deliverToFunction(
  env: Env,
  config: PlatformConfig,
  message: DeliveryMessage,
  name: string,
): Promise<DeliveryAttempt> {
  if (message.chainDepth + 1 > config.maxChainDepth) {
    return { verdict: "stop", error: `chain depth limit (${config.maxChainDepth}) reached; not submitted to ${name}` };
  }
  const fn = await findFunction(env, message.account, name);
  if (!fn) return { verdict: "retry", error: `no function ${name}` };
  const key = await taskIdKey(env);
  // The same delivery always makes the same task id, so a repeated delivery cannot create a second task on its shard.
  const finishedAt = Date.parse(message.envelope.data.timeline.finishedAt ?? message.envelope.timestamp);
  // The seed also picks the partition, so a repeated delivery meets its first task on the same shard; and it is the
  // task's idempotency key, so a repeated delivery after the function moved meets its first task where that is
  // (direct-accept.ts; within the function's dedupWindowSeconds, unless that is 0).
  const seed = `chain\n${message.deliveryId}`;
  const shard = routeTask(fn, seed);
  const id = await mintDerivedTaskId(key, fn.account, shard, finishedAt, seed);
  const ingest = await ingestMessage(env, fn, {
    id,
    bytes: utf8(JSON.stringify(message.envelope)),
    contentType: "application/json",
    acceptedAt: Date.now(),
    chainDepth: message.chainDepth + 1,
    origin: message.origin,
    traceparent: message.traceparent,
    idempotencyKey: seed,
    shard,
  });
  await acceptDirect(env, fn, [ingest]);
  return { verdict: "delivered" };
}

/** Make one attempt at `message`'s destination. Never throws: a failure is a `retry` (or `stop`) with why. */
export async function deliver(env: Env, config: PlatformConfig, message: DeliveryMessage): Promise<DeliveryAttempt> {
  const destination = message.destination;
  try {
    switch (destination.type) {
      case "webhook":
        return await deliverWebhook(env, config, message, destination.url);
      case "queue": {
        const binding = namedBinding(env, destination.queue, config.resultQueues, isQueue);
        if (!binding) return { verdict: "stop", error: `queue binding ${destination.queue} is not available` };
        await binding.send(message.envelope);
        return { verdict: "delivered" };
      }
      case "r2":
        await env.RESULTS_BUCKET.put(
          r2DestinationKey(destination.prefix, message.account, message.functionName, message.taskId),
          JSON.stringify(message.envelope),
          { httpMetadata: { contentType: "application/json" } },
        );
        return { verdict: "delivered" };
      case "function":
        return await deliverToFunction(env, config, message, destination.name);
    }
  } catch (error) {
    logDeliveryError(message, error);
    return { verdict: "retry", error: `the ${destination.type} destination failed; retrying` };
  }
}
