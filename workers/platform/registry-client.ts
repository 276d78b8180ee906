/**
 * @module
 * Per-isolate caches in front of the registry Durable Object, so the submit path makes no call to one global object
 * per request. Functions live for CACHE_TTL_MS (an edit takes at most that long to reach other isolates; this isolate
 * forgets its own copy at once). API keys live at most PRINCIPAL_TTL_MS whatever CACHE_TTL_MS says: a revocation is
 * refused from the next request in the isolate that revoked it and within a second in every other (API.md).
 */

import { readConfig } from "../../src/config";
import { fromBase64, sha256Hex } from "../../src/encoding";
import { functionKey, REGISTRY_NAME } from "../../src/placement";
import type { FunctionRecord } from "../../src/records";
import type { AccountLimits } from "../../src/registry/store";
import { type CachedRecord, refreshDue } from "../../src/route-refresh";
import { TtlCache } from "../../src/ttl-cache";

export interface Principal {
  readonly account: string;
  readonly limits: AccountLimits;
  /** Which change of the limits this is (newer is larger): shards keep the newest they hear of. */
  readonly limitsVersion: number;
  /** `sk_<8 hex>`: names the key for revocation. */
  readonly keyPrefix: string;
}

const principals = new TtlCache<Principal | null>();
const functions = new TtlCache<CachedRecord>();
const secrets = new TtlCache<string[]>();
let platformKey: Promise<Uint8Array> | undefined;

/** Longest a live key is trusted without asking the registry: the bound API.md promises for revocations. */
export const PRINCIPAL_TTL_MS = 1_000;
/** Unknown keys are remembered briefly too, so a client retrying a bad key does not hammer the registry. */
const NEGATIVE_TTL_MS = 1_000;

export function registry(env: Env) {
  return env.REGISTRY.getByName(REGISTRY_NAME);
}

export async function authenticate(env: Env, apiKey: string): Promise<Principal | null> {
  const hash = await sha256Hex(apiKey);
  const cached = principals.get(hash);
  if (cached !== undefined) return cached;
  const live = await registry(env).authenticate(hash);
  const found = live ? { ...live, keyPrefix: apiKey.slice(0, apiKey.indexOf("_", 3)) } : null;
  principals.set(hash, found, found ? Math.min(readConfig(env).cacheTtlMs, PRINCIPAL_TTL_MS) : NEGATIVE_TTL_MS);
  return found;
}

/** This isolate stops trusting a revoked key at once (others within PRINCIPAL_TTL_MS). */
export function forgetKey(account: string, keyPrefix: string): void {
  principals.deleteWhere((principal) => principal?.account === account && principal.keyPrefix === keyPrefix);
}

/**
 * The function's record: cached for CACHE_TTL_MS, and asked for again sooner while this isolate keeps using a record
 * automatic placement may move (src/route-refresh.ts). A registry that cannot answer such an early refresh leaves
 * the cached record in use (and is asked again only a BUSY_REFRESH_MS later).
 */
export async function findFunction(env: Env, account: string, name: string): Promise<FunctionRecord | null> {
  const key = functionKey(account, name);
  const now = Date.now();
  const cached = functions.get(key, now);
  if (cached !== undefined) {
    cached.uses++;
    if (!refreshDue(cached, now)) return cached.record;
    // Marked first: the submissions that arrive while this refresh is out use the cached record instead of each
    // asking the registry too, and if it fails the next try waits another BUSY_REFRESH_MS.
    cached.loadedAt = now;
    try {
      return await load(env, key, account, name, now);
    } catch {
      return cached.record;
    }
  }
  return load(env, key, account, name, now);
}

async function load(env: Env, key: string, account: string, name: string, now: number): Promise<FunctionRecord | null> {
  const found = (await registry(env).getFunction(account, name)) ?? null;
  functions.set(key, { record: found, loadedAt: now, uses: 0 }, found ? readConfig(env).cacheTtlMs : NEGATIVE_TTL_MS);
  return found;
}

export function rememberFunction(env: Env, record: FunctionRecord): void {
  const entry = { record, loadedAt: Date.now(), uses: 0 };
  functions.set(functionKey(record.account, record.name), entry, readConfig(env).cacheTtlMs);
}

/** Cache a record a shard answered with, unless this isolate already holds the same or a newer version. */
export function rememberNewerFunction(env: Env, record: FunctionRecord): void {
  const cached = functions.get(functionKey(record.account, record.name))?.record;
  if (!cached || cached.version < record.version) rememberFunction(env, record);
}

export function forgetFunction(account: string, name: string): void {
  functions.delete(functionKey(account, name));
}

export function taskIdKey(env: Env): Promise<Uint8Array> {
  platformKey ??= registry(env)
    .platformKey()
    .then((encoded) => fromBase64(encoded))
    .catch((error: unknown) => {
      platformKey = undefined;
      throw error;
    });
  return platformKey;
}

export function signingSecrets(env: Env, account: string): Promise<string[]> {
  return secrets.getOrLoad(account, readConfig(env).cacheTtlMs, () => registry(env).signingSecrets(account));
}

export function forgetSigningSecrets(account: string): void {
  secrets.delete(account);
}
