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
