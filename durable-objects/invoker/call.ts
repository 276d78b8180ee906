/**
 * @module
 * One call to a tenant function: build the request of API.md ("Calling a tenant function"), sign it the Standard
 * Webhooks way, enforce the timeout, never follow redirects, and classify the answer. Large results go to R2 so the
 * report to the shard stays small.
 */

import { readBounded, readPrefix } from "../../src/bounded-body";
import type { PlatformConfig } from "../../src/config";
import { ERROR_EXCERPT_BYTES, MAX_CONTENT_TYPE_LENGTH, MAX_RESULT_BYTES } from "../../src/limits";
import { type InvocationOutcome, outcomeOfError, outcomeOfStatus } from "../../src/outcome";
import type { BodyRef, InvocationJob } from "../../src/records";
import { signWebhook } from "../../src/signing";
import { outboundUrlProblem } from "../../src/ssrf";
import { isFetcher, namedBinding } from "../../workers/platform/bindings";
import { resultKey, storeBody } from "../../workers/platform/blobs";
import { logWarn } from "../../workers/platform/log";
import { signingSecrets } from "../../workers/platform/registry-client";

export interface CallResult {
  readonly startedAt: number;
  readonly durationMs: number;
  readonly outcome: InvocationOutcome;
}

async function payloadBytes(env: Env, payload: BodyRef): Promise<Uint8Array> {
  if (payload.inline) return payload.inline;
  if (!payload.r2Key) return new Uint8Array();
  const object = await env.BLOBS.get(payload.r2Key);
  if (!object) throw new Error(`payload object ${payload.r2Key} is missing`);
  return new Uint8Array(await object.arrayBuffer());
}

type Caller = Pick<Fetcher, "fetch">;

/** The global fetch, shaped like a service binding so both targets are called the same way. */
const internet: Caller = { fetch: (input, init) => fetch(input, init) };

function resolveTarget(env: Env, config: PlatformConfig, job: InvocationJob): { fetcher: Caller; url: string } {
  if (job.target.type === "url") {
    const problem = outboundUrlProblem(job.target.url, config.allowPrivateTargets);
    if (problem) throw new PermanentCallError(`function URL ${problem}`);
    return { fetcher: internet, url: job.target.url };
  }
  const binding = namedBinding(env, job.target.service, config.serviceTargets, isFetcher);
  if (!binding) throw new PermanentCallError(`service binding ${job.target.service} is not available`);
  return { fetcher: binding, url: `https://${job.target.service.toLowerCase()}.service.sluice/` };
}

class PermanentCallError extends Error {
  override readonly name = "PermanentCallError";
}

export async function invokeTenant(
  env: Env,
  config: PlatformConfig,
  job: InvocationJob,
  cancelled?: AbortSignal,
): Promise<CallResult> {
  const startedAt = Date.now();
  const done = (outcome: InvocationOutcome): CallResult => ({ startedAt, durationMs: Date.now() - startedAt, outcome });
  let timedOut = false;
  try {
    const { fetcher, url } = resolveTarget(env, config, job);
    const body = await payloadBytes(env, job.payload);
    const signature = await signWebhook(
      await signingSecrets(env, job.account),
      `${job.taskId}.${job.invocation}`,
      Math.floor(startedAt / 1000),
      body,
    );
    const controller = new AbortController();
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, job.timeoutMs);
    cancelled?.addEventListener("abort", () => controller.abort(cancelled.reason));
    try {
      const response = await fetcher.fetch(url, {
        method: "POST",
        body,
        redirect: "manual",
        signal: controller.signal,
        headers: {
          "content-type": job.payload.contentType,
          "sluice-task-id": job.taskId,
          "sluice-attempt": String(job.attempt),
          "sluice-deadline": String(job.deadline),
          "sluice-callback-token": job.callbackToken,
          ...(job.scheduleId ? { "sluice-schedule-id": job.scheduleId } : {}),
          ...signature,
        },
      });
      const contentType = (response.headers.get("content-type") ?? "application/octet-stream").slice(
        0,
        MAX_CONTENT_TYPE_LENGTH,
      );
      const asyncRequested = response.headers.get("sluice-async") === "1";
      const keepsBody = response.status >= 200 && response.status < 300 && !(response.status === 202 && asyncRequested);
      let resultBody: BodyRef = { contentType, size: 0 };
      let excerpt = "";
      if (keepsBody) {
        // Read with a running cap: a 400 MB answer must not fill the isolate that runs other tenants' calls.
        const read = await readBounded(response.body, MAX_RESULT_BYTES, response.headers.get("content-length"));
        if (!read.ok) {
          return done({
            kind: "permanent",
            error: { kind: "http", status: response.status, message: `result larger than ${MAX_RESULT_BYTES} bytes` },
          });
        }
        resultBody = await storeBody(env, resultKey(job.taskId, job.invocation), read.bytes, contentType);
      } else {
        excerpt = new TextDecoder().decode(await readPrefix(response.body, ERROR_EXCERPT_BYTES));
      }
      return done(
        outcomeOfStatus(
          response.status,
          response.headers.get("retry-after"),
          resultBody,
          excerpt,
          Date.now(),
          asyncRequested,
        ),
      );
    } finally {
      clearTimeout(timer);
    }
  } catch (error) {
    if (error instanceof PermanentCallError) {
      return done({ kind: "permanent", error: { kind: "internal", message: error.message } });
    }
    // The detail (which may name hosts, ports or runtime internals) goes to the log, never to the tenant.
    if (!timedOut && !cancelled?.aborted) {
      logWarn("tenant call failed", error, { task: job.taskId });
    }
    return done(outcomeOfError(error, timedOut));
  }
}
