/**
 * @module
 * When a shard runs its next placement review. Normally at most one per PLACEMENT_REVIEW_MS. A surge comes sooner:
 * on a shard that neighbours share (the shared tier, or an account shard), once PLACEMENT_PROMOTE_BACKLOG tasks have
 * arrived since the last review, the next may run SURGE_REVIEW_MS after it. A flood that lands on a shared shard is then
 * promoted within about one batch instead of up to a whole review interval later, while its accepts and calls load
 * the shard its neighbours run on. A dedicated shard never reviews early (it has no neighbours to spare, and its
 * review counts its own backlog, which there may be deep).
 */

import type { Tier } from "./policy";

/** The shortest time between two reviews of one shard, whatever arrives. */
export const SURGE_REVIEW_MS = 500;

export interface ReviewClock {
  /** When the last review started (0: never). */
  readonly reviewedAt: number;
  /** Tasks stored on the shard since then. */
  readonly arrivedSince: number;
}

/** Whether a review may start at `now`. */
export function reviewDue(
  clock: ReviewClock,
  now: number,
  settings: { readonly reviewMs: number; readonly promoteBacklog: number; readonly tier: Tier },
): boolean {
  const since = now - clock.reviewedAt;
  if (since >= settings.reviewMs) return true;
  const surge = settings.tier !== "dedicated" && clock.arrivedSince >= settings.promoteBacklog;
  return surge && since >= SURGE_REVIEW_MS;
}
