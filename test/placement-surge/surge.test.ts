/**
 * A surge review through the real bindings inside workerd (vitest.config.ts's `placement-surge` project: a review
 * only every 10 minutes, promote at a ready backlog of 40, 1 s dwell, function records cached for a minute). A flood
 * that lands on a shared shard right after a review is promoted within about one batch, not at the next scheduled
 * review (src/placement/review-timing.ts); a gateway that keeps submitting single tasks of it asks for its record
 * again within a second or so instead of after the cache's minute (src/route-refresh.ts).
 */
import { env } from "cloudflare:test";
import { expect, it } from "vitest";
import { shardOfTaskId } from "../../src/ids";
import { BUSY_REFRESH_MS, BUSY_USES } from "../../src/route-refresh";
import { rememberFunction } from "../../workers/platform/registry-client";
import { listAll, placedOn, record, waitAllEnded } from "../placement/helpers";
import {
  createAccount,
  demoTarget,
  post,
  putFunction,
  quietPeriod,
  submitBatch,
  type TestAccount,
  waitForState,
} from "../workers/helpers";

/**
 * An account with a `quiet` and an `auto` `flood` function on a shared shard; a quiet task (the shard runs its first
 * review for it, before any function here has dwelt long enough to move), then, past the dwell and well inside
 * PLACEMENT_REVIEW_MS of that review, 60 flood tasks in one batch: more than PLACEMENT_PROMOTE_BACKLOG arrived since
 * that review, so the next one runs now. Returns the flood's record before and once promoted, and its tasks' ids.
 */
async function surge(label: string, maxConcurrency: number, sleepMs: number) {
  const account = await createAccount(label);
  await putFunction(account, "quiet", { target: demoTarget });
  await putFunction(account, "flood", { target: demoTarget, maxConcurrency });
  const before = await record(account, "flood");
  expect(before.shard).toMatch(/^shared:/);
  const [first] = await submitBatch(account, "quiet", [{ payload: { echo: "q1" } }]);
  await waitForState(account, first as string, "succeeded");
  await quietPeriod(1_100, "past PLACEMENT_MIN_DWELL_MS, well inside PLACEMENT_REVIEW_MS of the first review");
  const ids = await submitBatch(
    account,
    "flood",
    Array.from({ length: 60 }, (_, i) => ({ payload: { sleepMs, echo: i } })),
  );
  const moved = await placedOn(account, "flood", "dedicated", 10_000);
  return { account, before, moved, ids };
}

/** Every one of `ids` ran exactly once and succeeded, on whichever shard held it. */
async function expectEachRanOnce(account: TestAccount, ids: readonly string[], timeout: number) {
  await waitAllEnded(account, "flood", ids, timeout);
  const tasks = await listAll(account, "flood");
  expect(tasks).toHaveLength(ids.length);
  for (const task of tasks) expect(task).toMatchObject({ state: "succeeded", attempts: 1 });
}

it("promotes a flood into a shared shard on its first batch, without waiting for PLACEMENT_REVIEW_MS", async () => {
  const { account, before, moved, ids } = await surge("surge", 1, 20);
  expect(moved.placement).toMatchObject({ reason: "backlog", moves: 1 });
  expect(moved.previousShards).toContain(before.shard);

  // The neighbour stays and is served.
  expect((await record(account, "quiet")).shard).toBe(before.shard);
  const [second] = await submitBatch(account, "quiet", [{ payload: { echo: "q2" } }]);
  await waitForState(account, second as string, "succeeded");
  expect(ids).toHaveLength(60);
  await expectEachRanOnce(account, ids, 40_000);
}, 90_000);

it("a gateway busy with single submissions of a moved function asks for its record again, not after the cache's minute", async () => {
  const { account, before, moved, ids: batch } = await surge("singles", 2, 5);

  // This isolate still holds the record from before the move, as a gateway that cached it would for a minute.
  rememberFunction(env, before);
  const singles: string[] = [];
  const started = Date.now();
  while (singles.length < BUSY_USES + 10 || Date.now() - started < BUSY_REFRESH_MS + 500) {
    const response = await post(account, "/v1/functions/flood/tasks", { echo: `single-${singles.length}` });
    expect(response.status).toBe(202);
    singles.push(((await response.json()) as { id: string }).id);
    await quietPeriod(40, "spread the singles over more than BUSY_REFRESH_MS");
    if (singles.length > 200) break;
  }
  const shards = singles.map((id) => shardOfTaskId(id));
  // The first ones follow the stale record; once it was busy and a second old, the registry's record is used.
  expect(shards[0]).toBe(before.shard);
  expect(shards.at(-1)).toBe(moved.shard);
  const switched = shards.indexOf(moved.shard);
  expect(switched).toBeGreaterThanOrEqual(BUSY_USES - 1);
  expect(shards.slice(switched).every((shard) => shard === moved.shard)).toBe(true);

  // Every task ran exactly once, on whichever shard its id names.
  await expectEachRanOnce(account, [...batch, ...singles], 60_000);
}, 120_000);
