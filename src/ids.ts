/**
 * @module
 * Task ids: opaque to users, but they encode the shard that holds the task (so a read goes straight there) and carry
 * an HMAC over the owning account, so an id cannot be forged or pointed at another account's shard.
 *
 * Layout: `tsk_<base64url(shard)>.<base64url(6-byte ms timestamp + 10 random bytes)>.<base64url(12-byte MAC)>`
 */

import { bytesEqual, concatBytes, fromBase64Url, hmacSha256, randomBytes, toBase64Url, utf8 } from "./encoding";

const PREFIX = "tsk_";
const MAC_BYTES = 12;

export interface TaskIdParts {
  readonly shard: string;
  readonly createdAt: number;
}

function macInput(account: string, shard: string, nonce: Uint8Array): Uint8Array {
  return concatBytes(utf8(`sluice-task-id\n${account}\n${shard}\n`), nonce);
}

function timestampBytes(ms: number): Uint8Array {
  const out = new Uint8Array(6);
  let rest = ms;
  for (let i = 5; i >= 0; i--) {
    out[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  return out;
}

function readTimestamp(bytes: Uint8Array): number {
  let ms = 0;
  for (let i = 0; i < 6; i++) ms = ms * 256 + (bytes[i] ?? 0);
  return ms;
}

/**
 * Mint a new id for a task of `account` stored in `shard`. Pass `seed` (10 bytes) and a fixed `now` to mint the same
 * id again for the same event, e.g. a chained task re-delivered after a crash.
 */
export async function mintTaskId(
  key: Uint8Array,
  account: string,
  shard: string,
  now = Date.now(),
  seed?: Uint8Array,
): Promise<string> {
  const nonce = concatBytes(timestampBytes(now), seed ? seed.subarray(0, 10) : randomBytes(10));
  if (nonce.length !== 16) throw new Error("a task id seed needs 10 bytes");
  const mac = (await hmacSha256(key, macInput(account, shard, nonce))).subarray(0, MAC_BYTES);
  return `${PREFIX}${toBase64Url(utf8(shard))}.${toBase64Url(nonce)}.${toBase64Url(mac)}`;
}

/**
 * The id of a task made for an event that may arrive more than once (a queue message, a delivery): derived from
 * `label` with the same key, so every arrival of the same event names the same task and accept stays idempotent.
 */
export async function mintDerivedTaskId(
  key: Uint8Array,
  account: string,
  shard: string,
  at: number,
  label: string,
): Promise<string> {
  const seed = (await hmacSha256(key, utf8(`derived\n${label}`))).subarray(0, 10);
  return mintTaskId(key, account, shard, at, seed);
}

/** Verify an id against the caller's account. Returns undefined for anything malformed, forged or foreign. */
export async function verifyTaskId(key: Uint8Array, account: string, id: string): Promise<TaskIdParts | undefined> {
  if (!id.startsWith(PREFIX) || id.length > 400) return undefined;
  const parts = id.slice(PREFIX.length).split(".");
  if (parts.length !== 3) return undefined;
  try {
    const shardBytes = fromBase64Url(parts[0] ?? "");
    const shard = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(shardBytes);
    const nonce = fromBase64Url(parts[1] ?? "");
    const mac = fromBase64Url(parts[2] ?? "");
    // base64 decoding ignores a last character's unused bits; only the one canonical spelling of an id is valid.
    if (toBase64Url(shardBytes) !== parts[0] || toBase64Url(nonce) !== parts[1] || toBase64Url(mac) !== parts[2]) {
      return undefined;
    }
    if (nonce.length !== 16 || mac.length !== MAC_BYTES || shard.length === 0) return undefined;
    const expected = (await hmacSha256(key, macInput(account, shard, nonce))).subarray(0, MAC_BYTES);
    if (!bytesEqual(mac, expected)) return undefined;
    return { shard, createdAt: readTimestamp(nonce) };
  } catch {
    return undefined;
  }
}

/**
 * The shard an id names, without checking its MAC. Only for callbacks authenticated by their own per-invocation
 * token (a tenant function holds that token, not the account's key); everything else uses {@link verifyTaskId}.
 */
export function shardOfTaskId(id: string): string | undefined {
  if (!id.startsWith(PREFIX) || id.length > 400) return undefined;
  const encoded = id.slice(PREFIX.length).split(".")[0] ?? "";
  try {
    const bytes = fromBase64Url(encoded);
    if (toBase64Url(bytes) !== encoded || bytes.length === 0) return undefined;
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return undefined;
  }
}
