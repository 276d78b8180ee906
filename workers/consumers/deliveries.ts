/**
 * @module
 * The delivery queue consumer: sends each envelope to its destination (signed webhook, queue, R2 object, or a new task
 * of another function), follows DELIVERY_SCHEDULE_SECONDS on failure, and reports every attempt to the task's shard so
 * `GET /v1/tasks/:id` shows the delivery's state. It runs apart from dispatch, so a dead receiver slows no task.
 */

import { type PlatformConfig, readConfig } from "../../src/config";
import { classifyReceiver, type DeliveryMessage, nextDeliveryDelay, r2DestinationKey } from "../../src/delivery";
import { utf8 } from "../../src/encoding";
import { mintDerivedTaskId } from "../../src/ids";
import { CONNECTIONS_PER_INVOCATION } from "../../src/limits";
import { signWebhook } from "../../src/signing";
import { outboundUrlProblem } from "../../src/ssrf";
import { isQueue, namedBinding } from "../platform/bindings";
import { logError, logWarn } from "../platform/log";
import { findFunction, signingSecrets, taskIdKey } from "../platform/registry-client";
import { ingestMessage } from "../platform/tasks";

/** Deliveries run at most this many at a time per batch (Cloudflare's open connections per invocation). */
const PARALLEL_DELIVERIES = CONNECTIONS_PER_INVOCATION;

type Attempt = { verdict: "delivered" } | { verdict: "gone" | "retry" | "stop"; error: string };

async function deliverWebhook(
  env: Env,
  config: PlatformConfig,
  message: DeliveryMessage,
  url: string,
): Promise<Attempt> {
  const problem = outboundUrlProblem(url, config.allowPrivateTargets);
  if (problem) return { verdict: "stop", error: `webhook URL ${problem}` };
  const body = utf8(JSON.stringify(message.envelope));
  const headers = await signWebhook(
    await signingSecrets(env, message.account),
    message.deliveryId,
    Math.floor(Date.now() / 1000),
    body,
  );
  try {
    const response = await fetch(url, {
      method: "POST",
      body,
      // A redirect could point anywhere, including places the SSRF rules forbid: never follow one.
      redirect: "manual",
      signal: AbortSignal.timeout(config.deliveryTimeoutMs),
      headers: { "content-type": "application/json", "user-agent": "Sluice-Webhooks/1", ...headers },
    });
    await response.body?.cancel();
    const verdict = classifyReceiver(response.status);
    return verdict === "delivered" ? { verdict } : { verdict, error: `receiver answered ${response.status}` };
  } catch (error) {
    // As for function calls: one message for every network failure, the detail only in the log.
    logDeliveryError(message, error);
    return { verdict: "retry", error: "the receiver could not be reached (no HTTP response)" };
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
): Promise<Attempt> {
  if (message.chainDepth + 1 > config.maxChainDepth) {
    return { verdict: "stop", error: `chain depth limit (${config.maxChainDepth}) reached; not submitted to ${name}` };
  }
  const fn = await findFunction(env, message.account, name);
  if (!fn) return { verdict: "retry", error: `no function ${name}` };
  const key = await taskIdKey(env);
  // The same delivery always makes the same task id, so a repeated delivery cannot create a second task.
  const finishedAt = Date.parse(message.envelope.data.timeline.finishedAt ?? message.envelope.timestamp);
  const id = await mintDerivedTaskId(key, fn.account, fn.shard, finishedAt, `chain\n${message.deliveryId}`);
  const ingest = await ingestMessage(env, fn, {
    id,
    bytes: utf8(JSON.stringify(message.envelope)),
    contentType: "application/json",
    acceptedAt: Date.now(),
    chainDepth: message.chainDepth + 1,
    origin: message.origin,
  });
  await env.SHARD.getByName(fn.shard).accept([ingest]);
  return { verdict: "delivered" };
}

export async function deliver(env: Env, config: PlatformConfig, message: DeliveryMessage): Promise<Attempt> {
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

async function handleOne(env: Env, config: PlatformConfig, message: Message<DeliveryMessage>): Promise<void> {
  const body = message.body;
  const attempt = (body.priorAttempts ?? 0) + message.attempts;
  const result = await deliver(env, config, body);
  const shard = env.SHARD.getByName(body.shard);
  const report = (state: "pending" | "delivered" | "failed", error?: string) =>
    shard.reportDelivery({
      taskId: body.taskId,
      deliveryId: body.deliveryId,
      state,
      attempts: attempt,
      at: Date.now(),
      ...(error ? { error } : {}),
    });
  if (result.verdict === "delivered") {
    await report("delivered");
    message.ack();
    return;
  }
  const delay = result.verdict === "retry" ? nextDeliveryDelay(config.deliverySchedule, attempt) : undefined;
  if (delay === undefined) {
    await report("failed", result.error);
    message.ack();
    return;
  }
  await report("pending", result.error);
  message.retry({ delaySeconds: delay });
}

export async function handleDeliveryBatch(batch: MessageBatch<DeliveryMessage>, env: Env): Promise<void> {
  const config = readConfig(env);
  const queue = [...batch.messages];
  const workers = Array.from({ length: Math.min(PARALLEL_DELIVERIES, queue.length) }, async () => {
    for (let message = queue.shift(); message; message = queue.shift()) {
      try {
        await handleOne(env, config, message);
      } catch (error) {
        // The report did not reach the shard: try the whole delivery again (receivers dedup on webhook-id).
        logError("delivery bookkeeping failed", error, { task: message.body.taskId });
        message.retry({ delaySeconds: 5 });
      }
    }
  });
  await Promise.all(workers);
}
