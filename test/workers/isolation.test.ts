/**
 * Tenant isolation through the real bindings inside workerd: a flood of one account on a shared shard and a quiet
 * task of another, fairness keys on one function, and account `maxConcurrency` summed over two functions on two
 * shards (with PATCH lifting it). Assertions count tasks and dispatch order, never wall-clock time, and every test
 * ends by counting each task's terminal state.
 */
import { env } from "cloudflare:test";
import { expect, it, vi } from "vitest";
import { fnv1a, REGISTRY_NAME } from "../../src/placement";
import { admin, demoTarget, putFunction, submitBatch, type TestAccount, tenant, uniqueId } from "./helpers";

type Summary = { id: string; state: string; timeline: { firstDispatchedAt: string | null } };

/** An account whose shared shard is `shared:<slot>` (SHARED_SHARDS is 16 here). */
async function accountOnSharedShard(prefix: string, slot: number, limits?: Record<string, number>) {
  let id = uniqueId(prefix);
  while (fnv1a(id) % 16 !== slot) id = uniqueId(prefix);
  const response = await admin("/v1/accounts", { method: "POST", body: JSON.stringify({ id, limits }) });
  expect(response.status).toBe(201);
  return (await response.json()) as TestAccount;
}

async function list(account: TestAccount, fn: string): Promise<Summary[]> {
  const response = await tenant(account, `/v1/functions/${fn}/tasks?limit=1000`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { tasks: Summary[] }).tasks;
}

async function waitAllSucceeded(account: TestAccount, fn: string, count: number, timeout = 30_000) {
  await vi.waitFor(
    async () => {
      const tasks = await list(account, fn);
      expect(tasks.length).toBe(count);
      expect(tasks.filter((t) => t.state !== "succeeded")).toEqual([]);
    },
    { timeout, interval: 200 },
  );
}

const dispatchedAt = (t: Summary) => Date.parse(t.timeline.firstDispatchedAt ?? "");

it("a flood of one account on a shared shard does not hold back another account's task", async () => {
  const flood = await accountOnSharedShard("flood", 7);
  const quiet = await accountOnSharedShard("quiet", 7);
  await putFunction(flood, "slow", { target: demoTarget, maxConcurrency: 1000, isolation: "shared" });
  await putFunction(quiet, "fast", { target: demoTarget, isolation: "shared" });
  // 1,000 calls of 300 ms against 384 call slots (64 invokers x 6): the shard stays full for about a second.
  await submitBatch(
    flood,
    "slow",
    Array.from({ length: 1000 }, (_, i) => ({ payload: { sleepMs: 300, echo: i } })),
  );
  const [quietId] = await submitBatch(quiet, "fast", [{ payload: { echo: "quiet" } }]);
  await waitAllSucceeded(quiet, "fast", 1);
  await waitAllSucceeded(flood, "slow", 1000, 60_000);
  const quietTask = (await list(quiet, "fast")).find((t) => t.id === quietId) as Summary;
  const before = (await list(flood, "slow")).filter((t) => dispatchedAt(t) <= dispatchedAt(quietTask)).length;
  // In one arrival-order queue all 1,000 would go first; with the fair share at most the calls already running
  // (the slots) and what the next pass handed out.
  expect(before).toBeLessThan(384 + 100);
}, 90_000);

it("fairness keys: small customers are not queued behind one customer's backlog", async () => {
  const account = await accountOnSharedShard("keys", 3);
  await putFunction(account, "work", { target: demoTarget, maxConcurrency: 2, isolation: "account" });
  await submitBatch(
    account,
    "work",
    Array.from({ length: 200 }, (_, i) => ({ payload: { sleepMs: 20, echo: i }, fairnessKey: "big" })),
  );
  const small = await submitBatch(
    account,
    "work",
    ["c1", "c2", "c3"].map((key) => ({ payload: { echo: key }, fairnessKey: key })),
  );
  await waitAllSucceeded(account, "work", 203, 60_000);
  const tasks = await list(account, "work");
  const bigTimes = tasks.filter((t) => !small.includes(t.id)).map(dispatchedAt);
  for (const id of small) {
    const at = dispatchedAt(tasks.find((t) => t.id === id) as Summary);
    // A round gives each key with work one call: a small key waits about one round, not 200 calls.
    expect(bigTimes.filter((t) => t < at).length).toBeLessThan(20);
  }
  // The view names the lane.
  const view = await tenant(account, `/v1/tasks/${small[0]}`);
  expect(((await view.json()) as { fairnessKey?: string }).fairnessKey).toBe("c1");
}, 90_000);

it("account maxConcurrency caps calls summed over two functions on two shards, and PATCH lifts it", async () => {
  const account = await accountOnSharedShard("capped", 5, { maxConcurrency: 3 });
  await putFunction(account, "f", { target: demoTarget, isolation: "dedicated" });
  await putFunction(account, "g", { target: demoTarget, isolation: "account" });
  const registry = env.REGISTRY.getByName(REGISTRY_NAME);
  const shards = await Promise.all(
    ["f", "g"].map(async (name) => env.SHARD.getByName((await registry.getFunction(account.id, name))?.shard ?? "")),
  );
  for (const fn of ["f", "g"]) {
    await submitBatch(
      account,
      fn,
      Array.from({ length: 8 }, (_, i) => ({ payload: { sleepMs: 250, echo: i } })),
    );
  }
  const inFlight = async () => {
    const [f, g] = await Promise.all([
      shards[0]?.countByState(account.id, "f"),
      shards[1]?.countByState(account.id, "g"),
    ]);
    return (f?.running ?? 0) + (g?.running ?? 0);
  };
  let peak = 0;
  await vi.waitFor(
    async () => {
      const running = await inFlight();
      peak = Math.max(peak, running);
      expect(running).toBeLessThanOrEqual(3);
      const done = (await list(account, "f")).concat(await list(account, "g"));
      expect(done.filter((t) => t.state === "succeeded").length).toBe(16);
    },
    { timeout: 40_000, interval: 25 },
  );
  expect(peak).toBe(3);

  // Lifted: both shards hear it at once and run the next batch wider than 3.
  const patched = await admin(`/v1/accounts/${account.id}`, {
    method: "PATCH",
    body: JSON.stringify({ limits: {} }),
  });
  expect(patched.status).toBe(200);
  for (const fn of ["f", "g"]) {
    await submitBatch(
      account,
      fn,
      Array.from({ length: 6 }, (_, i) => ({ payload: { sleepMs: 400, echo: i } })),
    );
  }
  let widened = 0;
  await vi.waitFor(
    async () => {
      widened = Math.max(widened, await inFlight());
      const done = (await list(account, "f")).concat(await list(account, "g"));
      expect(done.filter((t) => t.state === "succeeded").length).toBe(28);
    },
    { timeout: 40_000, interval: 25 },
  );
  expect(widened).toBeGreaterThan(3);
}, 120_000);
