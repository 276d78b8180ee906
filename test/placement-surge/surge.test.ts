/**
 * A surge review through the real bindings inside workerd (vitest.config.ts's `placement-surge` project: a review
 * only every 10 minutes, promote at a ready backlog of 40, 1 s dwell). A flood that lands on a shared shard right
 * after a review is promoted within about one batch, not at the next scheduled review: src/placement/review-timing.ts.
 */
import { expect, it } from "vitest";
import { listAll, placedOn, record, waitAllEnded } from "../placement/helpers";
import { createAccount, demoTarget, putFunction, quietPeriod, submitBatch, waitForState } from "../workers/helpers";

it("promotes a flood into a shared shard on its first batch, without waiting for PLACEMENT_REVIEW_MS", async () => {
  const account = await createAccount("surge");
  await putFunction(account, "quiet", { target: demoTarget });
  await putFunction(account, "flood", { target: demoTarget, maxConcurrency: 1 });
  const shared = (await record(account, "flood")).shard;
  expect(shared).toMatch(/^shared:/);

  // A quiet task: the shard runs a review for it (its first), before any function here has dwelt long enough to move.
  const [first] = await submitBatch(account, "quiet", [{ payload: { echo: "q1" } }]);
  await waitForState(account, first as string, "succeeded");
  await quietPeriod(1_100, "past PLACEMENT_MIN_DWELL_MS, well inside PLACEMENT_REVIEW_MS of the first review");

  // 60 tasks in one batch: more than PLACEMENT_PROMOTE_BACKLOG arrived since that review, so the next one runs now.
  const ids = await submitBatch(
    account,
    "flood",
    Array.from({ length: 60 }, (_, i) => ({ payload: { sleepMs: 20, echo: i } })),
  );
  const moved = await placedOn(account, "flood", "dedicated", 10_000);
  expect(moved.placement).toMatchObject({ reason: "backlog", moves: 1 });
  expect(moved.previousShards).toContain(shared);

  // The neighbour stays and is served; every flood task ran exactly once, on whichever shard held it.
  expect((await record(account, "quiet")).shard).toBe(shared);
  const [second] = await submitBatch(account, "quiet", [{ payload: { echo: "q2" } }]);
  await waitForState(account, second as string, "succeeded");
  await waitAllEnded(account, "flood", ids, 40_000);
  const tasks = await listAll(account, "flood");
  expect(tasks).toHaveLength(60);
  for (const task of tasks) expect(task).toMatchObject({ state: "succeeded", attempts: 1 });
}, 90_000);
