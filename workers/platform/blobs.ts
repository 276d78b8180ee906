/**
 * @module
 * Bodies (payloads and results) are kept inline up to INLINE_LIMIT_BYTES and in the BLOBS bucket beyond that, because
 * Queue messages are capped at 128 KB and SQLite rows are best kept small. Every writer goes through here.
 */

import { readConfig } from "../../src/config";
import type { BodyRef } from "../../src/records";

/** Keys in BLOBS: `payloads/<task id>` and `results/<task id>/<invocation, or "callback-<random>">`. */
export const payloadKey = (taskId: string): string => `payloads/${taskId}`;
export const resultKey = (taskId: string, which: number | string): string => `results/${taskId}/${which}`;

/** Inline small bodies; put larger ones in R2 under `r2Key`. */
export async function storeBody(env: Env, r2Key: string, bytes: Uint8Array, contentType: string): Promise<BodyRef> {
  if (bytes.byteLength <= readConfig(env).inlineLimitBytes)
    return { contentType, size: bytes.byteLength, inline: bytes };
  await env.BLOBS.put(r2Key, bytes, { httpMetadata: { contentType } });
  return { contentType, size: bytes.byteLength, r2Key };
}
