/**
 * Automatic placement through the real bindings inside workerd, with the thresholds of vitest.config.ts's
 * `placement` project (promote at a ready backlog of 40, a partition per 60, at most 3, reclaim after 2 s idle, 1 s
 * dwell, a review every 100 ms): a flooding `auto` function is promoted to a dedicated, partitioned shard while its
 * neighbour keeps being served; new tasks spread over the partitions; tasks from before the move drain where they
 * are; GET, the merged listing, cancel and bulk find tasks wherever they live; a stale route is still served; the idle
 * placement is reclaimed; a pinned isolation never moves. Every test counts each task's terminal state.
 */
import { env } from "cloudflare:test";
import { expect, it } from "vitest";
import { fromBase64 } from "../../src/encoding";
import { mintTaskId, shardOfTaskId } from "../../src/ids";
import type { IngestMessage } from "../../src/records";
import { rememberFunction } from "../../workers/platform/registry-client";
import {
  createAccount,
  demoTarget,
  getTask,
  putFunction,
  quietPeriod,
  submitBatch,
  tenant,
  waitForState,
} from "../workers/helpers";
import { listAll, placedOn, promotedByBacklog, record, registry, stats, waitAllEnded } from "./helpers";

it("promotes a flooding auto function to a dedicated, partitioned shard; reclaims it when idle; nothing lost", async () => {
  const account = await createAccount("flood");
  await putFunction(account, "flood", { target: demoTarget, maxConcurrency: 2 });
  await putFunction(account, "quiet", { target: demoTarget });
  const shared = (await record(account, "flood")).shard;
  expect(shared).toMatch(/^shared:/);

  // Delayed tasks queued before the move stay on the shared shard (not ready, so not backlog).
  const delayedBefore = await submitBatch(
    account,
    "flood",
    Array.from({ length: 3 }, (_, i) => ({ payload: { echo: `late-${i}` }, delaySeconds: 600 })),
  );
  const first = await submitBatch(
    account,
    "flood",
    Array.from({ length: 150 }, (_, i) => ({ payload: { sleepMs: 15, echo: i } })),
  );
  const quietBefore = await submitBatch(account, "quiet", [{ payload: { echo: "q1" } }]);

  // Promoted for its backlog, with one partition per 60 ready tasks (at most 3).
  const promoted = await placedOn(account, "flood", "dedicated");
  expect(promoted.shard).toBe(`dedicated:${account.id}:flood`);
  // The shared shard still holds the backlog: until it is drained, it and the partitions split maxConcurrency.
  expect(promoted.placement).toMatchObject({ reason: "backlog", moves: 1, draining: true });
  expect(promoted.placement?.partitions).toBeGreaterThanOrEqual(2);
  expect(promoted.previousShards).toContain(shared);
  // Its neighbour was not moved and keeps being served.
  expect((await record(account, "quiet")).shard).toBe(shared);
  await waitForState(account, quietBefore[0] as string, "succeeded");

  // After the gateway's cache (CACHE_TTL_MS 1 s) new tasks spread over the partitions.
  await quietPeriod(1_100, "the gateway caches function records for CACHE_TTL_MS");
  const second = await submitBatch(
    account,
    "flood",
    Array.from({ length: 60 }, (_, i) => ({ payload: { sleepMs: 5, echo: 1000 + i } })),
  );
  const partitions = new Set(second.map((id) => shardOfTaskId(id)));
  for (const shard of partitions) expect(shard).toMatch(new RegExp(`^dedicated:${account.id}:flood(#\\d)?$`));
  expect(partitions.size).toBeGreaterThan(1);
  const delayedAfter = await submitBatch(account, "flood", [{ payload: { echo: "late-new" }, delaySeconds: 600 }]);
  const quietAfter = await submitBatch(account, "quiet", [{ payload: { echo: "q2" } }]);
  await waitForState(account, quietAfter[0] as string, "succeeded");

  // A task from before the move is found by id on the shard it stayed on, and ran exactly once.
  const old = await getTask(account, first[0] as string);
  expect(shardOfTaskId(old.id)).toBe(shared);

  // Bulk cancel reaches the delayed tasks on the old shard and on the new one.
  const cancel = await tenant(account, "/v1/functions/flood/tasks:cancel", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ids: [...delayedBefore, ...delayedAfter] }),
  });
  expect(cancel.status, await cancel.clone().text()).toBe(200);
  expect(((await cancel.json()) as { affected: number }).affected).toBe(4);

  const all = [...delayedBefore, ...first, ...second, ...delayedAfter];
  const ended = await waitAllEnded(account, "flood", all, 40_000);
  const byId = new Map(ended.map((t) => [t.id, t]));
  for (const id of [...delayedBefore, ...delayedAfter]) expect(byId.get(id)?.state).toBe("cancelled");
  // Every flood task ran, once: no call repeated across the move (the backend never failed).
  for (const id of [...first, ...second]) {
    expect(byId.get(id)).toMatchObject({ state: "succeeded", attempts: 1 });
  }

  // Stats show the placement and the history marks the move. PLACEMENT_RECLAIM_IDLE_MS (2 s) after the last task the
  // function goes back to the shared tier; under load that may already have happened. A review between the end of
  // the backlog and the reclaim may first shrink the partitions to 1 (reason "load"): one move more.
  const seen = await stats(account, "flood");
  const placement = seen.placement as { tier: string; reason: string; moves: number };
  expect(["dedicated/backlog/1", "dedicated/load/2", "shared/idle/2", "shared/idle/3"]).toContain(
    `${placement.tier}/${placement.reason}/${placement.moves}`,
  );
  expect(seen.history.some((p) => p.move?.reason === "backlog")).toBe(true);

  // Idle for PLACEMENT_RECLAIM_IDLE_MS: reclaimed to the shared tier by the dedicated shard's own alarm.
  const reclaimed = await placedOn(account, "flood", "shared", 20_000);
  expect(reclaimed.shard).toBe(shared);
  expect(reclaimed.placement).toMatchObject({ reason: "idle", partitions: 1 });
  const moves = reclaimed.placement?.moves ?? 0;
  expect([2, 3]).toContain(moves);
  expect(new Set(reclaimed.previousShards)).toEqual(new Set([...partitions, promoted.shard]));
  await quietPeriod(1_100, "the gateway caches function records for CACHE_TTL_MS");
  const back = await submitBatch(account, "flood", [{ payload: { echo: "back" } }]);
  expect(shardOfTaskId(back[0] as string)).toBe(shared);
  await waitForState(account, back[0] as string, "succeeded");
  expect((await stats(account, "flood")).placement).toMatchObject({ tier: "shared", moves });
  await waitAllEnded(account, "flood", [...all, ...back]);
}, 90_000);

it("a task routed to a shard the function left (a stale gateway cache) is served there, once, and the answer names the current record", async () => {
  const { account, before, moved, ids } = await promotedByBacklog("stale", "f", 10);
  // What a gateway still holding the old record would send: a task whose id names the old shard.
  const key = fromBase64(await registry().platformKey());
  const id = await mintTaskId(key, account.id, before.shard, Date.now());
  const message: IngestMessage = {
    v: 1,
    fn: before,
    task: {
      id,
      account: account.id,
      functionName: "f",
      shard: before.shard,
      payload: { contentType: "application/json", size: 2, inline: new TextEncoder().encode("{}") },
      acceptedAt: Date.now(),
    },
  };
  const { results, newer } = await env.SHARD.getByName(before.shard).accept([message]);
  expect(results).toEqual([{ id, deduplicated: false }]);
  // The sender learns where the function lives now (its next submissions go there, not after its cache's TTL).
  expect(newer).toHaveLength(1);
  expect(newer[0]?.shard).toBe(moved.shard);
  expect(newer[0]?.version).toBeGreaterThanOrEqual(moved.version);
  expect(newer[0]?.shard).not.toBe(before.shard);
  // A sender whose record is current hears nothing back.
  const current = {
    ...message,
    fn: moved,
    task: { ...message.task, id: await mintTaskId(key, account.id, moved.shard, Date.now()), shard: moved.shard },
  };
  const again = await env.SHARD.getByName(moved.shard).accept([current]);
  expect(again.newer).toEqual([]);
  const task = await waitForState(account, id, "succeeded", 30_000);
  expect(task.attempts).toBe(1);
  await waitAllEnded(account, "f", [...ids, id, current.task.id], 40_000);
}, 90_000);

it("a gateway that routed by a stale record learns the current one from the shard's answer", async () => {
  const { account, before, moved, ids } = await promotedByBacklog("learn", "g", 5);
  // This isolate's gateway still holds the record from before the move (as one would for up to CACHE_TTL_MS).
  rememberFunction(env, before);
  const [stale] = await submitBatch(account, "g", [{ payload: { echo: "stale" } }]);
  expect(shardOfTaskId(stale as string)).toBe(before.shard);
  // The old shard's answer carried the current record: the very next batch goes where the function lives now.
  const [fresh] = await submitBatch(account, "g", [{ payload: { echo: "fresh" } }]);
  expect(shardOfTaskId(fresh as string)).toBe(moved.shard);
  await waitAllEnded(account, "g", [...ids, stale as string, fresh as string], 40_000);
}, 90_000);

it("a pinned isolation never moves, however deep its backlog", async () => {
  const account = await createAccount("pinned");
  await putFunction(account, "p", { target: demoTarget, maxConcurrency: 1, isolation: "shared" });
  const before = await record(account, "p");
  const ids = await submitBatch(
    account,
    "p",
    Array.from({ length: 120 }, (_, i) => ({ payload: { sleepMs: 5, echo: i } })),
  );
  await quietPeriod(1_500, "several placement reviews (every 100 ms) see the backlog");
  const after = await record(account, "p");
  expect(after.shard).toBe(before.shard);
  expect(after.placement).toBeUndefined();
  expect((await stats(account, "p")).placement).toMatchObject({ tier: "shared", partitions: 1, reason: "pinned" });
  await waitAllEnded(account, "p", ids, 40_000);
}, 90_000);

it("several busy functions of one account, none dominant, move together to an account shard and come back idle", async () => {
  const account = await createAccount("busy");
  const names = ["a", "b", "c"];
  for (const name of names) await putFunction(account, name, { target: demoTarget, maxConcurrency: 1 });
  const shared = (await record(account, "a")).shard;
  const ids: Record<string, string[]> = {};
  // 20 ready tasks each: busy (≥ 4, a tenth of the promote backlog), none 4× another's, none at the backlog of 40.
  for (const name of names) {
    ids[name] = await submitBatch(
      account,
      name,
      Array.from({ length: 20 }, (_, i) => ({ payload: { sleepMs: 20, echo: i } })),
    );
  }
  for (const name of names) {
    const moved = await placedOn(account, name, "account");
    expect(moved).toMatchObject({
      shard: `account:${account.id}`,
      placement: { reason: "busy-account", partitions: 1 },
    });
    expect(moved.previousShards).toEqual([shared]);
  }
  for (const name of names) await waitAllEnded(account, name, ids[name] as string[], 40_000);
  for (const name of names) {
    for (const task of await listAll(account, name)) expect(task).toMatchObject({ state: "succeeded", attempts: 1 });
    await placedOn(account, name, "shared", 20_000);
  }
}, 90_000);
