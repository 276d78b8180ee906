/**
 * @module
 * Automatic placement, the shard's side: now and then (at most every PLACEMENT_REVIEW_MS while the shard is busy, and
 * when an idle placement's reclaim time comes) a shard runs the placement policy (src/placement/policy.ts) over the
 * functions placed on it and asks the registry for each move, as a compare-and-set on the version it saw. A move the
 * registry applied is pushed to every shard of the function (its old ones keep and drain their tasks; its new ones
 * take new tasks), logged with its reason, and counted in the function's placement record.
 */

import { readConfig } from "../src/config";
import { REGISTRY_NAME, shardsHolding, tierOf } from "../src/placement";
import { type PlacementMove, planPlacement, type ShardLoad } from "../src/placement/policy";
import { reviewDue } from "../src/placement/review-timing";
import { type PlacementSettings, placementSettings } from "../src/placement/settings";
import { type PlacementTarget, placementOf } from "../src/placement-moves";
import type { FunctionRecord } from "../src/records";
import { functionKey, type ShardStore } from "../src/shard";
import { logError, logEvent } from "../workers/platform/log";
import type { Transactions } from "./shard-effects";

/** What a policy move asks the registry for, per function it moves. */
export function targetsOf(move: PlacementMove): { name: string; target: PlacementTarget }[] {
  switch (move.kind) {
    case "promote":
    case "repartition":
      return [{ name: move.name, target: { tier: "dedicated", partitions: move.partitions, reason: move.reason } }];
    case "promote-account":
      return move.functions.map((name) => ({ name, target: { tier: "account", partitions: 1, reason: move.reason } }));
    case "reclaim":
      return [{ name: move.name, target: { tier: move.to, partitions: 1, reason: move.reason } }];
  }
}

/** A reclaim that could not happen yet is retried this many review intervals later. */
const RETRY_REVIEWS = 10;

/**
 * One shard's placement reviews: at most one at a time and one per `reviewMs` (sooner on a surge of arrivals into a
 * shard neighbours share: src/placement/review-timing.ts), and the time an idle placement's reclaim comes due (the
 * shard's alarm covers it, so an idle dedicated shard is reclaimed without any traffic).
 */
export class PlacementReviews {
  readonly #env: Env;
  readonly #reviewMs: number;
  readonly #settings: PlacementSettings;
  #running: Promise<void> | undefined;
  #reviewedAt = 0;
  /** Tasks stored here since the last review began. */
  #arrived = 0;
  #wakeAt: number | null = null;

  constructor(env: Env, reviewMs: number) {
    this.#env = env;
    this.#reviewMs = reviewMs;
    this.#settings = placementSettings(env as unknown as Record<string, string | undefined>);
  }

  /** `n` tasks were stored here (a surge of them brings the next review nearer). */
  noteArrivals(n: number): void {
    this.#arrived += n;
  }

  /** Review now unless one is running or the last was too recent; resolves to whether this call reviewed. */
  async review(store: ShardStore, storage: Transactions, shard: string): Promise<boolean> {
    const now = Date.now();
    if (this.#running) return false;
    const clock = { reviewedAt: this.#reviewedAt, arrivedSince: this.#arrived };
    const timing = { reviewMs: this.#reviewMs, promoteBacklog: this.#settings.promoteBacklog, tier: tierOf(shard) };
    if (!reviewDue(clock, now, timing)) return false;
    this.#reviewedAt = now;
    this.#arrived = 0;
    this.#running = reviewPlacement(store, storage, this.#env, shard, this.#settings, now)
      .then((next) => {
        // A reclaim that came due but waited (the function still had work elsewhere) is asked again later.
        this.#wakeAt = next === null ? null : Math.max(next, now + RETRY_REVIEWS * this.#reviewMs);
      })
      .finally(() => {
        this.#running = undefined;
      });
    await this.#running;
    return true;
  }

  /** When a review should next run although nothing happens (an idle placement's reclaim), if later than `now`. */
  wakeAt(now: number): number | null {
    return this.#wakeAt !== null && this.#wakeAt > now ? this.#wakeAt : null;
  }
}

function takesCapacity(record: FunctionRecord, target: PlacementTarget): boolean {
  const before = placementOf(record);
  return target.tier !== "dedicated"
    ? before.tier === "dedicated" || before.tier === "account"
    : target.partitions < before.partitions;
}

/** When none of the shards the function left holds work, its shards stop splitting the cap with them. */
async function endDrain(
  store: ShardStore,
  storage: Transactions,
  env: Env,
  shard: string,
  record: FunctionRecord,
): Promise<void> {
  if (await anyHasWork(env, record, record.previousShards ?? [])) return;
  const next = await env.REGISTRY.getByName(REGISTRY_NAME).endDrain(record.account, record.name, record.version);
  if (!next || next.placement?.draining) return;
  storage.transactionSync(() => store.upsertFunction(next));
  logEvent({ event: "placement.drained", shard, account: record.account, function: record.name });
  await pushRecord(env, shard, next);
}

/** Whether any of these shards has ready tasks or calls in flight of the function. */
async function anyHasWork(env: Env, record: FunctionRecord, shards: readonly string[]): Promise<boolean> {
  const answers = await Promise.all(
    shards.map((name) => env.SHARD.getByName(name).hasWork(record.account, record.name)),
  );
  return answers.some(Boolean);
}

/** The highest backlog any decision looks at: counting further would change nothing. */
export function backlogCap(settings: PlacementSettings): number {
  return Math.max(settings.promoteBacklog * settings.dominance, settings.partitionBacklog * settings.maxPartitions) + 1;
}

/**
 * Run the policy over this shard and carry out its moves. Returns when the next review is due although nothing
 * happens (the earliest reclaim of an idle placement here), or null. Never throws: a registry or shard that cannot be
 * reached leaves the function where it is, and the next review asks again.
 */
export async function reviewPlacement(
  store: ShardStore,
  storage: Transactions,
  env: Env,
  shard: string,
  settings: PlacementSettings,
  now: number,
): Promise<number | null> {
  try {
    const { load, records } = store.placementLoad(shard, now, backlogCap(settings));
    const moved = new Set<string>();
    for (const move of planPlacement(load, now, settings)) {
      for (const { name, target } of targetsOf(move)) {
        const key = functionKey(move.account, name);
        const record = records.get(key);
        if (record && (await applyMove(store, storage, env, shard, record, target))) moved.add(key);
      }
    }
    for (const [key, record] of records) {
      if (record.placement?.draining && !moved.has(key)) await endDrain(store, storage, env, shard, record);
    }
    return nextReclaimAt(load, settings);
  } catch (error) {
    logError("placement review failed; the next one retries", error, { shard });
    return null;
  }
}

/** The earliest time an automatically placed function here may be reclaimed if it stays idle. */
export function nextReclaimAt(load: ShardLoad, settings: PlacementSettings): number | null {
  let next: number | null = null;
  for (const fn of load.functions) {
    if (fn.placement.pinned || fn.placement.tier === "shared" || fn.placement.tier !== load.tier) continue;
    const at = Math.max(fn.lastActiveAt + settings.reclaimIdleMs, fn.placement.since + settings.minDwellMs) + 1;
    next = next === null ? at : Math.min(next, at);
  }
  return next;
}

async function applyMove(
  store: ShardStore,
  storage: Transactions,
  env: Env,
  shard: string,
  record: FunctionRecord,
  target: PlacementTarget,
): Promise<boolean> {
  // A move that takes capacity away (fewer partitions, or back to a shared tier) waits until no other shard of the
  // function has work: its partitions and the shards it left (which drain what they hold) see load this one cannot.
  if (takesCapacity(record, target)) {
    const others = shardsHolding(record).filter((name) => name !== shard);
    if (await anyHasWork(env, record, others)) return false;
  }
  const answer = await env.REGISTRY.getByName(REGISTRY_NAME).movePlacement(
    record.account,
    record.name,
    record.version,
    target,
  );
  const next = answer.record;
  // Moved or not, the newest record is what this shard should hold (a refused move: someone else's change won).
  if (next) storage.transactionSync(() => store.upsertFunction(next));
  if (!answer.moved || !next) return false;
  logEvent({
    event: "placement.move",
    shard,
    account: record.account,
    function: record.name,
    from: record.shard,
    to: next.shard,
    tier: target.tier,
    partitions: next.placement?.partitions ?? 1,
    reason: target.reason,
    moves: next.placement?.moves ?? 0,
    sharedShards: readConfig(env).sharedShards,
  });
  await pushRecord(env, shard, next);
  return true;
}

/**
 * Every other shard of the function learns its new record now; a shard that misses it learns it from the next task's
 * message (messages carry the record), and a function's old shards drain what they hold either way.
 */
async function pushRecord(env: Env, shard: string, next: FunctionRecord): Promise<void> {
  await Promise.all(
    shardsHolding(next)
      .filter((name) => name !== shard)
      .map((name) =>
        env.SHARD.getByName(name)
          .upsertFunction(next)
          .catch((error: unknown) => logError("placement push failed", error, { shard: name, function: next.name })),
      ),
  );
}
