/**
 * @module
 * Where a function's tasks live, and which ingest queue partition carries them. Pure and deterministic so the gateway,
 * the ingest consumer and the shard agree without asking anyone.
 */

import type { Isolation } from "./schemas";

/** 32-bit FNV-1a: cheap, stable across runtimes, good enough spread for hashing accounts onto shards. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * Shard name for a function's new tasks. `auto` and `shared` hash the account onto one of the shared shards; `account`
 * gives the account a shard of its own; `dedicated` gives the function one. (Automatic promotion of a noisy `auto`
 * function is a later step; ids encode the shard, so moving new tasks never strands old ones.)
 * @example shardFor("acme", "resize", "auto", 16) // "shared:15"
 */
export function shardFor(account: string, functionName: string, isolation: Isolation, sharedShards: number): string {
  switch (isolation) {
    case "auto":
    case "shared":
      return `shared:${fnv1a(account) % Math.max(1, sharedShards)}`;
    case "account":
      return `account:${account}`;
    case "dedicated":
      return `dedicated:${account}:${functionName}`;
  }
}

/**
 * The `index`-th partition of a function placed on `shard`: partition 0 is the shard itself, the others are named
 * `<shard>#<index>` (each its own Durable Object, with its share of the function's window and limits).
 */
export function partitionShard(shard: string, index: number): string {
  return index === 0 ? shard : `${shard}#${index}`;
}

/** Partitions a function's new tasks are spread over (1 unless placement gave it more). */
export function partitionsOf(fn: { readonly placement?: { readonly partitions: number } | undefined }): number {
  return Math.max(1, Math.floor(fn.placement?.partitions ?? 1));
}

/** Every shard a function's new tasks may go to now: its shard and its other partitions. */
export function currentShards(fn: {
  readonly shard: string;
  readonly placement?: { readonly partitions: number } | undefined;
}): string[] {
  return Array.from({ length: partitionsOf(fn) }, (_, index) => partitionShard(fn.shard, index));
}

/** Every shard holding tasks of a function: its current shards first, then the ones it left (newest first). */
export function shardsHolding(fn: {
  readonly shard: string;
  readonly placement?: { readonly partitions: number } | undefined;
  readonly previousShards?: readonly string[] | undefined;
}): string[] {
  return [...currentShards(fn), ...[...(fn.previousShards ?? [])].reverse()];
}

/**
 * The shard a new task goes to. With one partition, the function's shard. With several, a task with a routing key
 * (its idempotency key, so a retried submission meets its first one; else its fairness key, so one customer's lane
 * stays in one partition) hashes onto a partition; a task without one goes to a random partition.
 */
export function routeTask(
  fn: { readonly shard: string; readonly placement?: { readonly partitions: number } | undefined },
  routingKey: string | undefined,
  random: () => number = Math.random,
): string {
  const partitions = partitionsOf(fn);
  if (partitions === 1) return fn.shard;
  const index = routingKey === undefined ? Math.floor(random() * partitions) : fnv1a(routingKey) % partitions;
  return partitionShard(fn.shard, Math.min(index, partitions - 1));
}

export function tierOf(shard: string): "shared" | "account" | "dedicated" {
  const tier = shard.slice(0, shard.indexOf(":"));
  return tier === "account" || tier === "dedicated" ? tier : "shared";
}

/** Ingest queue partition (0-based) for a function, so one function's messages stay on one queue. */
export function ingestPartition(account: string, functionName: string, partitions: number): number {
  return fnv1a(`${account}/${functionName}`) % partitions;
}

/** Name of the `index`-th invoker of a shard's pool. */
export function invokerName(shard: string, index: number): string {
  return `invoker:${shard}:${index}`;
}

/** The shard and index an invoker's name stands for (`invokerName`'s inverse), or undefined. */
export function parseInvokerName(name: string | undefined): { shard: string; index: number } | undefined {
  const match = name === undefined ? null : /^invoker:(.+):(\d+)$/.exec(name);
  return match ? { shard: match[1] as string, index: Number(match[2]) } : undefined;
}

/** The name of an account's limiter (submission rate and concurrency grants). */
export function limiterName(account: string): string {
  return `limiter:${account}`;
}

/** The one registry Durable Object's name. */
export const REGISTRY_NAME = "global";

/** A function's key in caches and maps: `<account>/<name>`. */
export function functionKey(account: string, name: string): string {
  return `${account}/${name}`;
}
