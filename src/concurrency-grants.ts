/**
 * @module
 * An account's `limits.maxConcurrency` across shards: the account's limiter holds one grant per shard (calls that
 * shard may have in flight), and never grants more in total than the limit. A shard asks for what it wants (its calls
 * in flight plus its ready tasks) and gets at most what the other shards leave; a grant that is not renewed within
 * its TTL lapses, so a shard that stopped asking (evicted, idle, gone) frees its share.
 */

export interface Grant {
  readonly granted: number;
  readonly expiresAt: number;
}

/**
 * Set `shard`'s grant to as much of `want` as the limit allows next to the other shards' live grants.
 * @example grantConcurrency({ a: { granted: 6, expiresAt: 9e9 } }, "b", 10, 8, 0, 30000).granted // 2
 */
export function grantConcurrency(
  grants: Readonly<Record<string, Grant>>,
  shard: string,
  want: number,
  limit: number,
  now: number,
  ttlMs: number,
): { granted: number; grants: Record<string, Grant> } {
  const live: Record<string, Grant> = {};
  let others = 0;
  for (const [name, grant] of Object.entries(grants)) {
    if (name === shard || grant.expiresAt <= now) continue;
    live[name] = grant;
    others += grant.granted;
  }
  const granted = Math.max(0, Math.min(Math.floor(want), Math.floor(limit) - others));
  if (granted > 0) live[shard] = { granted, expiresAt: now + ttlMs };
  return { granted, grants: live };
}
