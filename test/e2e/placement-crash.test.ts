/**
 * End to end: `kill -9` of the whole platform while automatic placement moves a flooding function. With the thresholds
 * shrunk (a review every 100 ms, promote at a ready backlog of 40, a partition per 60 ready tasks, at most 3), an
 * `auto` function with a deep backlog is promoted to a dedicated, partitioned shard; the platform is killed as soon as
 * the move is visible (records still being pushed, calls in flight on the old shard), restarted on the same state,
 * fed more tasks that spread over the partitions, killed again mid-drain and restarted. Every task submitted through
 * `tasks:batch` (which stores tasks on their shard before answering, so no local in-memory queue can lose them) must
 * end `succeeded`, and the function must have been called for it at least once and at most once more than the kills
 * can explain (one call per task in flight at each kill).
 */

import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  type Account,
  call,
  createAccount,
  freePort,
  type Platform,
  putFunction,
  startPlatform,
  startRecordingServer,
  waitFor,
} from "./harness";

const VARS = {
  LEASE_GRACE_MS: "1000",
  CACHE_TTL_MS: "1000",
  TASK_LOGS: "off",
  PLACEMENT_REVIEW_MS: "100",
  PLACEMENT_PROMOTE_BACKLOG: "40",
  PLACEMENT_PARTITION_BACKLOG: "60",
  PLACEMENT_MAX_PARTITIONS: "3",
  // No reclaim or shrink within the test: the function stays where the promotion put it.
  PLACEMENT_MIN_DWELL_MS: "600000",
  PLACEMENT_RECLAIM_IDLE_MS: "600000",
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let stateDir: string;
let port: number;
const adminToken = `placement-admin-${randomBytes(12).toString("hex")}`;
let platform: Platform | undefined;
let server: Awaited<ReturnType<typeof startRecordingServer>>;
/** Calls of the tenant function per task id. */
const calls = new Map<string, number>();

async function start(): Promise<void> {
  platform = await startPlatform(VARS, { stateDir, port, adminToken });
}

async function restartAfterKill(): Promise<void> {
  await platform?.kill();
  platform = undefined;
  await sleep(300);
  await start();
}

function base(): string {
  if (!platform) throw new Error("platform not running");
  return platform.url;
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "sluice-placement-crash-"));
  port = await freePort();
  server = await startRecordingServer((request, res) => {
    const id = String(request.headers["sluice-task-id"] ?? "");
    calls.set(id, (calls.get(id) ?? 0) + 1);
    setTimeout(() => {
      if (!res.writableEnded) res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
    }, 40);
  });
  await start();
}, 120_000);

afterAll(async () => {
  await platform?.stop();
  await server?.close();
  await rm(stateDir, { recursive: true, force: true });
});

async function submitBatch(account: Account, count: number, from: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 100) {
    const items = Array.from({ length: Math.min(100, count - i) }, (_, k) => ({ payload: { n: from + i + k } }));
    const answer = await call(base(), "POST", "/v1/functions/flood/tasks:batch", {
      token: account.apiKey,
      json: items,
    });
    expect(answer.status, answer.text).toBe(202);
    ids.push(...(answer.body.tasks as { id: string }[]).map((t) => t.id));
  }
  return ids;
}

async function placement(account: Account): Promise<{ tier: string; partitions: number; moves: number }> {
  const answer = await call(base(), "GET", "/v1/functions/flood/stats", { token: account.apiKey });
  expect(answer.status).toBe(200);
  return answer.body.placement;
}

it("a kill -9 during a promotion and during the drain loses no task and runs none more than the kills explain", async () => {
  const account = await createAccount(base(), adminToken, `pc-${randomBytes(4).toString("hex")}`);
  await putFunction(base(), account.apiKey, "flood", {
    target: { type: "url", url: `${server.url}/fn` },
    maxConcurrency: 4,
  });
  const first = await submitBatch(account, 200, 0);
  const promoted = await waitFor(
    async () => {
      const p = await placement(account);
      return p.tier === "dedicated" ? p : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 50, what: "the flood function promoted" },
  );
  expect(promoted.partitions).toBeGreaterThanOrEqual(2);
  // Kill 1: right when the move is visible (its records may still be travelling to the partitions).
  await restartAfterKill();
  await sleep(1_100);
  const second = await submitBatch(account, 120, 1_000);
  await waitFor(async () => ([...calls.keys()].filter((id) => second.includes(id)).length > 10 ? true : undefined), {
    timeoutMs: 30_000,
    what: "calls of the second batch started",
  });
  // Kill 2: mid-drain, calls in flight on the old shard and on the partitions.
  await restartAfterKill();

  const all = [...first, ...second];
  const states = await waitFor(
    async () => {
      const views = await Promise.all(
        all.map((id) => call(base(), "GET", `/v1/tasks/${id}`, { token: account.apiKey }).then((a) => a.body.state)),
      );
      return views.every((s) => s === "succeeded" || s === "failed") ? views : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 1_000, what: "every task ended" },
  );
  expect(states.filter((s) => s !== "succeeded")).toEqual([]);
  const after = await placement(account);
  expect(after).toMatchObject({ tier: "dedicated", moves: 1 });
  // Every task was called; at most 4 calls per partition-or-old-shard were in flight at each kill (2 kills).
  const uncalled = all.filter((id) => !calls.has(id));
  expect(uncalled).toEqual([]);
  const repeated = all.filter((id) => (calls.get(id) ?? 0) > 1);
  const inFlightBound = 2 * 4 * (after.partitions + 1);
  expect(repeated.length).toBeLessThanOrEqual(inFlightBound);
  for (const id of all) expect(calls.get(id) ?? 0).toBeLessThanOrEqual(3);
  console.log(
    "[placement-crash]",
    JSON.stringify({ tasks: all.length, partitions: after.partitions, repeatedCalls: repeated.length }),
  );
}, 300_000);
