/**
 * @module
 * A function's placement record and what a move does to it: the registry applies a move (asked for by a shard that
 * ran the placement policy, src/placement/policy.ts) as a compare-and-set on the record's version, and every shard of
 * the function learns the new record. Pure, so the registry's store and the tests share it.
 */

import { currentShards, partitionsOf, shardFor, tierOf } from "./placement";
import type { FunctionRecord, PlacementRecord } from "./records";

/** Moves a record remembers (stats history marks them). */
export const PLACEMENT_LOG_LENGTH = 10;

/** Where a move sends a function. */
export interface PlacementTarget {
  readonly tier: PlacementRecord["tier"];
  readonly partitions: number;
  readonly reason: string;
}

/** A function's placement: the record's, or the one its isolation gave it at creation. */
export function placementOf(fn: FunctionRecord): PlacementRecord {
  return (
    fn.placement ?? {
      tier: tierOf(fn.shard),
      partitions: 1,
      since: fn.createdAt,
      reason: fn.spec.isolation === "auto" ? "initial" : "pinned",
      moves: 0,
      log: [],
    }
  );
}

/**
 * Shards that still hold tasks of the function after it leaves `before` for `after`: every shard it was ever on
 * (its old partitions included) that is not one of its shards now. Shard names are deterministic per tier and
 * partition index, so the list is bounded (one shared shard, one account shard, the partitions).
 */
export function previousShardsAfter(
  before: FunctionRecord,
  after: Pick<FunctionRecord, "shard" | "placement">,
): string[] {
  const now = new Set(currentShards(after));
  return [...new Set([...(before.previousShards ?? []), ...currentShards(before)])].filter((s) => !now.has(s));
}

/**
 * The record after moving `record` to `target` at `now`. Its tasks already queued stay where they are and drain
 * there (their ids name their shard); new tasks go to the new shards.
 */
export function movedRecord(
  record: FunctionRecord,
  target: PlacementTarget,
  sharedShards: number,
  now: number,
): FunctionRecord {
  const before = placementOf(record);
  const shard = shardFor(record.account, record.name, target.tier, sharedShards);
  // Never more partitions than calls the function may run at once: each partition runs at least one.
  const partitions =
    target.tier === "dedicated" ? Math.max(1, Math.min(Math.floor(target.partitions), record.spec.maxConcurrency)) : 1;
  const placement: PlacementRecord = {
    tier: target.tier,
    partitions,
    since: now,
    reason: target.reason,
    moves: before.moves + 1,
    log: [
      ...before.log,
      {
        at: now,
        from: `${before.tier}×${before.partitions}`,
        to: `${target.tier}×${partitions}`,
        partitions,
        reason: target.reason,
      },
    ].slice(-PLACEMENT_LOG_LENGTH),
  };
  const previousShards = previousShardsAfter(record, { shard, placement });
  return {
    ...record,
    shard,
    placement: { ...placement, draining: previousShards.length > 0 },
    previousShards,
    version: Math.max(now, record.version + 1),
  };
}

/** The record once no shard the function left holds work any more (its shards stop splitting the cap with them). */
export function drainedRecord(record: FunctionRecord, now: number): FunctionRecord {
  const placement = placementOf(record);
  return { ...record, placement: { ...placement, draining: false }, version: Math.max(now, record.version + 1) };
}

/**
 * Calls one shard of the function may run at once. Its partitions split `maxConcurrency` (rounded down, so together
 * they never exceed it); while shards it left still drain, those count as partitions too, so the old shard and the
 * new ones together stay within the cap during a move.
 */
export function shardCap(fn: FunctionRecord): number {
  const sharing = partitionsOf(fn) + (fn.placement?.draining ? (fn.previousShards ?? []).length : 0);
  return partitionShare(fn.spec.maxConcurrency, sharing);
}

/**
 * One partition's share of a function-wide cap (`maxConcurrency`): the cap split evenly, rounded down (so the
 * partitions together never exceed it), at least 1 (a move never makes more partitions than the cap).
 */
export function partitionShare(cap: number, partitions: number): number {
  return Math.max(1, Math.floor(cap / Math.max(1, partitions)));
}
