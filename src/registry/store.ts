/**
 * @module
 * The registry: accounts, API keys (stored only as SHA-256 hashes), webhook secrets, functions and the platform's
 * task-id key. It lives in one global Durable Object that the hot path never calls per request: gateways cache
 * what they read from it (src/ttl-cache.ts). Tables are documented in docs/storage-schema.md.
 */

import { randomBytes, sha256Hex, toBase64, toBase64Url, toHex } from "../encoding";
import { drainedRecord, movedRecord, type PlacementTarget, previousShardsAfter } from "../placement-moves";
import type { FunctionRecord } from "../records";
import type { CreateAccountInput } from "../schemas";
import { generateWebhookSecret } from "../signing";
import type { Sql } from "../sql";
import { INT_PARAM } from "../sql";

/** The registry's tables (docs/storage-schema.md). */
export const REGISTRY_SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS accounts (
     id TEXT PRIMARY KEY, limits TEXT NOT NULL, webhook_secret TEXT NOT NULL,
     previous_secret TEXT, previous_secret_until INTEGER, created_at INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS api_keys (
     prefix TEXT PRIMARY KEY, account TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,
     created_at INTEGER NOT NULL, revoked_at INTEGER)`,
  `CREATE INDEX IF NOT EXISTS api_keys_by_account ON api_keys (account)`,
  `CREATE TABLE IF NOT EXISTS functions (
     account TEXT NOT NULL, name TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (account, name))`,
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
];

export interface AccountLimits {
  submitPerSecond?: number;
  maxConcurrency?: number;
}

export interface AccountView {
  id: string;
  limits: AccountLimits;
  createdAt: string;
  keys: { keyPrefix: string; createdAt: string; revokedAt: string | null }[];
}

export interface IssuedKey {
  apiKey: string;
  keyPrefix: string;
}

/** API keys look like `sk_<8 hex prefix>_<43 base64url chars>`; the prefix names the key for revocation. */
async function issueKey(): Promise<IssuedKey & { hash: string }> {
  const keyPrefix = `sk_${toHex(randomBytes(4))}`;
  const secret = toBase64Url(randomBytes(32));
  const apiKey = `${keyPrefix}_${secret}`;
  return { apiKey, keyPrefix, hash: await sha256Hex(apiKey) };
}

export type CreateAccountResult =
  | { ok: true; id: string; apiKey: string; keyPrefix: string; webhookSecret: string }
  | { ok: false; reason: "exists" };

export class RegistryStore {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
    for (const statement of REGISTRY_SCHEMA) sql.exec(statement);
    try {
      // Added after the first release: which change of an account's limits is newest (shards keep the newest).
      sql.exec(`ALTER TABLE accounts ADD COLUMN limits_version INTEGER NOT NULL DEFAULT 0`);
    } catch (error) {
      if (!String(error).includes("duplicate column")) throw error;
    }
  }

  /** Key material for task ids, made once per deployment and kept forever. */
  platformKey(): string {
    const row = this.#sql.exec<{ value: string }>(`SELECT value FROM meta WHERE key = 'task-id-key'`).toArray()[0];
    if (row) return row.value;
    const value = toBase64(randomBytes(32));
    this.#sql.exec(`INSERT INTO meta (key, value) VALUES ('task-id-key', ?)`, value);
    return value;
  }

  /** Insert an account with its first key. The hash is computed by the caller (async) before this transaction. */
  createAccount(input: CreateAccountInput, key: IssuedKey & { hash: string }, now: number): CreateAccountResult {
    const exists = this.#sql.exec(`SELECT 1 FROM accounts WHERE id = ?`, input.id).toArray().length > 0;
    if (exists) return { ok: false, reason: "exists" };
    const webhookSecret = generateWebhookSecret();
    this.#sql.exec(
      `INSERT INTO accounts (id, limits, webhook_secret, created_at) VALUES (?, ?, ?, ?)`,
      input.id,
      JSON.stringify(input.limits ?? {}),
      webhookSecret,
      now,
    );
    this.#insertKey(input.id, key, now);
    return { ok: true, id: input.id, apiKey: key.apiKey, keyPrefix: key.keyPrefix, webhookSecret };
  }

  addKey(account: string, key: IssuedKey & { hash: string }, now: number): IssuedKey | undefined {
    if (!this.#accountExists(account)) return undefined;
    this.#insertKey(account, key, now);
    return { apiKey: key.apiKey, keyPrefix: key.keyPrefix };
  }

  revokeKey(account: string, keyPrefix: string, now: number): boolean {
    return (
      this.#sql.exec(
        `UPDATE api_keys SET revoked_at = ? WHERE account = ? AND prefix = ? AND revoked_at IS NULL`,
        now,
        account,
        keyPrefix,
      ).rowsWritten > 0
    );
  }

  /**
   * Replace an account's limits; undefined for an unknown account. Each change gets a larger `limitsVersion`, so a
   * shard told of limits by a stale cache never undoes a newer change.
   */
  setLimits(
    id: string,
    limits: AccountLimits,
    now = Date.now(),
  ): { view: AccountView; limitsVersion: number } | undefined {
    const row = this.#sql
      .exec<{ limits_version: number }>(
        `UPDATE accounts SET limits = ?, limits_version = MAX(limits_version + 1, ?) WHERE id = ? RETURNING limits_version`,
        JSON.stringify(limits),
        now,
        id,
      )
      .toArray()[0];
    const view = row ? this.getAccount(id) : undefined;
    return row && view ? { view, limitsVersion: row.limits_version } : undefined;
  }

  getAccount(id: string): AccountView | undefined {
    const row = this.#sql
      .exec<{ id: string; limits: string; created_at: number }>(
        `SELECT id, limits, created_at FROM accounts WHERE id = ?`,
        id,
      )
      .toArray()[0];
    if (!row) return undefined;
    const keys = this.#sql
      .exec<{ prefix: string; created_at: number; revoked_at: number | null }>(
        `SELECT prefix, created_at, revoked_at FROM api_keys WHERE account = ? ORDER BY created_at`,
        id,
      )
      .toArray()
      .map((k) => ({
        keyPrefix: k.prefix,
        createdAt: new Date(k.created_at).toISOString(),
        revokedAt: k.revoked_at === null ? null : new Date(k.revoked_at).toISOString(),
      }));
    return {
      id: row.id,
      limits: JSON.parse(row.limits) as AccountLimits,
      createdAt: new Date(row.created_at).toISOString(),
      keys,
    };
  }

  /** Accounts by id, `limit` at a time after `after` (exclusive), without secrets or keys. */
  listAccounts(limit: number, after?: string): { accounts: Omit<AccountView, "keys">[]; next?: string } {
    const rows = this.#sql
      .exec<{ id: string; limits: string; created_at: number }>(
        `SELECT id, limits, created_at FROM accounts WHERE id > ? ORDER BY id LIMIT ${INT_PARAM}`,
        after ?? "",
        limit + 1,
      )
      .toArray();
    const page = rows.slice(0, limit).map((row) => ({
      id: row.id,
      limits: JSON.parse(row.limits) as AccountLimits,
      createdAt: new Date(row.created_at).toISOString(),
    }));
    const last = page[page.length - 1];
    return rows.length > limit && last ? { accounts: page, next: last.id } : { accounts: page };
  }

  /** Functions of an account by name, `limit` at a time after `after` (exclusive). */
  listFunctions(account: string, limit: number, after?: string): { functions: FunctionRecord[]; next?: string } {
    const rows = this.#sql
      .exec<{ name: string; record: string }>(
        `SELECT name, record FROM functions WHERE account = ? AND name > ? ORDER BY name LIMIT ${INT_PARAM}`,
        account,
        after ?? "",
        limit + 1,
      )
      .toArray();
    const page = rows.slice(0, limit).map((row) => JSON.parse(row.record) as FunctionRecord);
    const last = page[page.length - 1];
    return rows.length > limit && last ? { functions: page, next: last.name } : { functions: page };
  }

  /** Which account a key hash belongs to, if the key is live. */
  authenticate(hash: string): { account: string; limits: AccountLimits; limitsVersion: number } | undefined {
    const row = this.#sql
      .exec<{ account: string; limits: string; limits_version: number }>(
        `SELECT k.account AS account, a.limits AS limits, a.limits_version AS limits_version
         FROM api_keys k JOIN accounts a ON a.id = k.account WHERE k.hash = ? AND k.revoked_at IS NULL`,
        hash,
      )
      .toArray()[0];
    return row
      ? { account: row.account, limits: JSON.parse(row.limits) as AccountLimits, limitsVersion: row.limits_version }
      : undefined;
  }

  /** Secrets to sign with now: the current one, plus the previous one while its rotation grace period lasts. */
  signingSecrets(account: string, now: number): string[] {
    const row = this.#sql
      .exec<{ webhook_secret: string; previous_secret: string | null; previous_secret_until: number | null }>(
        `SELECT webhook_secret, previous_secret, previous_secret_until FROM accounts WHERE id = ?`,
        account,
      )
      .toArray()[0];
    if (!row) return [];
    const secrets = [row.webhook_secret];
    if (row.previous_secret && (row.previous_secret_until ?? 0) > now) secrets.push(row.previous_secret);
    return secrets;
  }

  /** New webhook secret; the old one keeps signing beside it until `graceMs` has passed. */
  rotateWebhookSecret(account: string, graceMs: number, now: number): string | undefined {
    const row = this.#sql
      .exec<{ webhook_secret: string }>(`SELECT webhook_secret FROM accounts WHERE id = ?`, account)
      .toArray()[0];
    if (!row) return undefined;
    const webhookSecret = generateWebhookSecret();
    this.#sql.exec(
      `UPDATE accounts SET webhook_secret = ?, previous_secret = ?, previous_secret_until = ? WHERE id = ?`,
      webhookSecret,
      row.webhook_secret,
      now + graceMs,
      account,
    );
    return webhookSecret;
  }

  /**
   * Create or replace. A replacement keeps the creation time and the paused flag, and remembers the shards it leaves.
   * A function that stays `auto` keeps where automatic placement put it (editing its timeout does not move it back).
   */
  putFunction(record: FunctionRecord): { created: boolean; record: FunctionRecord } {
    const existing = this.getFunction(record.account, record.name);
    let stored: FunctionRecord = record;
    if (existing) {
      const keepsPlacement = existing.spec.isolation === "auto" && record.spec.isolation === "auto";
      const where = keepsPlacement
        ? { shard: existing.shard, ...(existing.placement ? { placement: existing.placement } : {}) }
        : { shard: record.shard };
      const { placement: _dropped, ...rest } = record;
      stored = {
        ...rest,
        ...where,
        createdAt: existing.createdAt,
        version: Math.max(record.version, existing.version + 1),
        paused: existing.paused ?? false,
        previousShards: previousShardsAfter(existing, where),
      };
    }
    this.#writeFunction(stored);
    return { created: !existing, record: stored };
  }

  /**
   * Apply an automatic placement move a shard asked for, if the function is still the version that shard saw (a
   * compare-and-set: a concurrent edit, or another partition's move, wins and this one is dropped) and still `auto`.
   */
  movePlacement(
    account: string,
    name: string,
    seenVersion: number,
    target: PlacementTarget,
    sharedShards: number,
    now: number,
  ): { moved: true; record: FunctionRecord } | { moved: false; record?: FunctionRecord } {
    const existing = this.getFunction(account, name);
    if (!existing || existing.version !== seenVersion || existing.spec.isolation !== "auto") {
      return existing ? { moved: false, record: existing } : { moved: false };
    }
    const record = movedRecord(existing, target, sharedShards, now);
    this.#writeFunction(record);
    return { moved: true, record };
  }

  /** A shard saw that no shard the function left holds work: its shards stop sharing the cap with them. */
  endDrain(account: string, name: string, seenVersion: number, now: number): FunctionRecord | undefined {
    const existing = this.getFunction(account, name);
    if (!existing || existing.version !== seenVersion || !existing.placement?.draining) return existing;
    const record = drainedRecord(existing, now);
    this.#writeFunction(record);
    return record;
  }

  #writeFunction(record: FunctionRecord): void {
    this.#sql.exec(
      `INSERT INTO functions (account, name, record) VALUES (?, ?, ?)
       ON CONFLICT (account, name) DO UPDATE SET record = excluded.record`,
      record.account,
      record.name,
      JSON.stringify(record),
    );
  }

  /** Suspend or restart dispatch of a function; returns the new record, or undefined for an unknown function. */
  setPaused(account: string, name: string, paused: boolean, now: number): FunctionRecord | undefined {
    const existing = this.getFunction(account, name);
    if (!existing) return undefined;
    const record: FunctionRecord = {
      ...existing,
      paused,
      version: Math.max(now, existing.version + 1),
      updatedAt: now,
    };
    this.#sql.exec(
      `UPDATE functions SET record = ? WHERE account = ? AND name = ?`,
      JSON.stringify(record),
      account,
      name,
    );
    return record;
  }

  getFunction(account: string, name: string): FunctionRecord | undefined {
    const row = this.#sql
      .exec<{ record: string }>(`SELECT record FROM functions WHERE account = ? AND name = ?`, account, name)
      .toArray()[0];
    return row ? (JSON.parse(row.record) as FunctionRecord) : undefined;
  }

  deleteFunction(account: string, name: string): FunctionRecord | undefined {
    const existing = this.getFunction(account, name);
    if (existing) this.#sql.exec(`DELETE FROM functions WHERE account = ? AND name = ?`, account, name);
    return existing;
  }

  #accountExists(id: string): boolean {
    return this.#sql.exec(`SELECT 1 FROM accounts WHERE id = ?`, id).toArray().length > 0;
  }

  #insertKey(account: string, key: { keyPrefix: string; hash: string }, now: number): void {
    this.#sql.exec(
      `INSERT INTO api_keys (prefix, account, hash, created_at) VALUES (?, ?, ?, ?)`,
      key.keyPrefix,
      account,
      key.hash,
      now,
    );
  }
}

export { issueKey };
