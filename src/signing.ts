/**
 * @module
 * Standard Webhooks signatures (https://www.standardwebhooks.com): `webhook-signature: v1,<base64 HMAC-SHA256>` over
 * `"<webhook-id>.<webhook-timestamp>.<body>"`, keyed with the base64 part of a `whsec_` secret. Used both for calls
 * to tenant functions and for webhook deliveries, so any Standard Webhooks library verifies them.
 */

import { concatBytes, fromBase64, hmacSha256, randomBytes, toBase64, utf8 } from "./encoding";

const SECRET_PREFIX = "whsec_";

export function generateWebhookSecret(): string {
  return SECRET_PREFIX + toBase64(randomBytes(32));
}

function secretKey(secret: string): Uint8Array {
  return fromBase64(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret);
}

export interface SignatureHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

/**
 * Sign `body` for delivery. Several secrets (during a rotation's grace period) give several space-separated
 * signatures, which the spec allows.
 * @example await signWebhook(["whsec_..."], "msg_1", 1700000000, utf8("{}"))
 */
export async function signWebhook(
  secrets: readonly string[],
  id: string,
  timestampSeconds: number,
  body: Uint8Array,
): Promise<SignatureHeaders> {
  const signed = concatBytes(utf8(`${id}.${timestampSeconds}.`), body);
  const signatures = await Promise.all(
    secrets.map(async (secret) => `v1,${toBase64(await hmacSha256(secretKey(secret), signed))}`),
  );
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestampSeconds),
    "webhook-signature": signatures.join(" "),
  };
}
