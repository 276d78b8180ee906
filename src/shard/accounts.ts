/**
 * @module
 * Account limits a shard enforces: `limits.maxConcurrency` caps the calls in flight summed over all the account's
 * functions and shards. The account's limiter Durable Object is the authority: each shard holding ready work of a
 * limited account asks it for a grant (calls this shard may have in flight), renews it while it holds calls, and
 * gives back what it no longer needs; a grant lapses if not renewed, so a shard that dies frees its share. The shard
 * learns an account's limit from the submissions it receives and when the account is changed (PATCH).
 */

import type { ShardAccountLimits } from "../records";
import type { ShardContext } from "./context";
import { readyCount } from "./lanes";
import { runningCalls } from "./running";

/** Tables this part owns; applied by schema.ts. */
export const ACCOUNT_LIMITS_SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS account_limits (
     account TEXT PRIMARY KEY, max_concurrency INTEGER, version INTEGER NOT NULL)`,
];

/** How long a grant holds unless renewed (the limiter's TTL is the same). */
export const GRANT_TTL_MS = 30_000;
/** A grant is renewed when less than this is left of it. */
const RENEW_BEFORE_MS = GRANT_TTL_MS / 2;
/** After the limiter gave less than asked (other shards hold the rest), the shard asks again no sooner than this. */
export const UNMET_RETRY_MS = 250;

export function loadAccountLimits(ctx: ShardContext): void {
  for (const row of ctx.sql
    .exec<{ account: string; max_concurrency: number | null; version: number }>(`SELECT * FROM account_limits`)
    .toArray()) {
    ctx.accountVersions.set(row.account, row.version);
    if (row.max_concurrency !== null) ctx.accountLimits.set(row.account, row.max_concurrency);
  }
}

/**
 * Remember an account's limits unless a newer version is known (a submission that went through a stale cache must
 * not undo a PATCH). Returns whether the concurrency limit changed.
 */
export function setAccountLimits(ctx: ShardContext, account: string, limits: ShardAccountLimits): boolean {
  const known = ctx.accountVersions.get(account);
  if (known !== undefined && known >= limits.version) return false;
  ctx.accountVersions.set(account, limits.version);
  ctx.sql.exec(
    `INSERT INTO account_limits (account, max_concurrency, version) VALUES (?, ?, ?)
     ON CONFLICT (account) DO UPDATE SET max_concurrency = excluded.max_concurrency, version = excluded.version`,
    account,
    limits.maxConcurrency,
    limits.version,
  );
  const before = ctx.accountLimits.get(account);
  if (limits.maxConcurrency === null) {
    ctx.accountLimits.delete(account);
    ctx.concurrencyGrants.delete(account);
  } else {
    ctx.accountLimits.set(account, limits.maxConcurrency);
  }
  return before !== (limits.maxConcurrency ?? undefined);
}

/** What one limited account's limiter is asked: this shard wants `want` calls in flight (at most `limit`). */
export interface GrantRequest {
  readonly account: string;
  readonly limit: number;
  readonly want: number;
}

/**
 * The grants to ask for before a pass: for each limited account, the calls it has in flight plus its ready tasks (up
 * to the limit), when that differs from its grant or the grant is running out. Touches only limited accounts.
 */
export function grantRequests(ctx: ShardContext, now: number): GrantRequest[] {
  if (ctx.accountLimits.size === 0) return [];
  const want = new Map(runningCalls(ctx).accountRunning);
  // One walk over the functions with queued work (attention.ts), never every function of the shard.
  for (const key of ctx.attention.keys()) {
    const fn = ctx.functions.get(key);
    const limit = fn ? ctx.accountLimits.get(fn.account) : undefined;
    if (!fn || limit === undefined || fn.paused) continue;
    const so = want.get(fn.account) ?? 0;
    if (so < limit) want.set(fn.account, so + readyCount(ctx, fn, limit - so));
  }
  const requests: GrantRequest[] = [];
  for (const [account, limit] of ctx.accountLimits) {
    const wanted = Math.min(limit, want.get(account) ?? 0);
    const grant = ctx.concurrencyGrants.get(account);
    const held = grant && grant.expiresAt > now ? grant.granted : 0;
    const expiring = grant !== undefined && grant.expiresAt - now < RENEW_BEFORE_MS;
    // More is worth asking for unless the limiter just said no; giving back waits until half of it is unused (or
    // all), so a draining backlog does not cost a call per pass.
    const needMore = wanted > held && (grant === undefined || grant.unmetUntil <= now);
    const giveBack = held > 0 && (wanted === 0 || wanted <= held / 2);
    if (needMore || giveBack || (expiring && wanted > 0)) requests.push({ account, limit, want: wanted });
  }
  return requests;
}

export function recordGrant(ctx: ShardContext, account: string, granted: number, now: number, wanted = granted): void {
  ctx.concurrencyGrants.set(account, {
    granted,
    expiresAt: now + GRANT_TTL_MS,
    unmetUntil: granted < wanted ? now + UNMET_RETRY_MS : 0,
  });
}

/** How many more calls `account` may start on this shard now (Infinity without a limit). */
export function accountRoom(ctx: ShardContext, account: string, running: number, now: number): number {
  if (!ctx.accountLimits.has(account)) return Number.POSITIVE_INFINITY;
  const grant = ctx.concurrencyGrants.get(account);
  const granted = grant && grant.expiresAt > now ? grant.granted : 0;
  return Math.max(0, granted - running);
}
