/**
 * Idempotency keys across placement moves, through the real bindings inside workerd (the `placement` project): a key
 * used before a move still names its first task after it, and two gateways holding different records of a moving
 * function (one from before the move, one from after) still take one task per key: the shard a key no longer belongs
 * to refuses it (`moved`) and the gateway sends it on by the current record, also when 40 such submissions race. A
 * chained task's repeated delivery after the next function moved finds its first task, and so does an event-source
 * message redelivered after a move. Every test counts the function's tasks.
 */
import { createExecutionContext, createMessageBatch, env, getQueueResult } from "cloudflare:test";
import { expect, it, vi } from "vitest";
import { readConfig } from "../../src/config";
import type { DeliveryMessage, Envelope } from "../../src/delivery";
import { mintTaskId, shardOfTaskId } from "../../src/ids";
import { currentShards, routeTask } from "../../src/placement";
import type { FunctionRecord } from "../../src/records";
import { routeQueueBatch } from "../../workers/index";
import { deliver } from "../../workers/platform/deliver";
import { acceptDirect } from "../../workers/platform/direct-accept";
import { rememberFunction, taskIdKey } from "../../workers/platform/registry-client";
import { ingestMessage } from "../../workers/platform/tasks";
import {
  admin,
  createAccount,
  demoTarget,
  putFunction,
  quietPeriod,
  submitBatch,
  type TestAccount,
  tenant,
} from "../workers/helpers";
import { listAll, placedOn, promotedByBacklog, record, registry } from "./helpers";

function submitKeyed(account: TestAccount, fn: string, key: string, payload: unknown = { sleepMs: 5 }) {
  return tenant(account, `/v1/functions/${fn}/tasks`, {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": key },
    body: JSON.stringify(payload),
  });
}

/** Every task of the function, once none is queued or running. */
function allEnded(account: TestAccount, fn: string) {
  return vi.waitFor(
    async () => {
      const tasks = await listAll(account, fn);
      expect(tasks.filter((t) => t.state === "queued" || t.state === "running")).toEqual([]);
      return tasks;
    },
    { timeout: 40_000, interval: 250 },
  );
}

it("an idempotency key used before a move still names its first task after it (single and batch)", async () => {
  const account = await createAccount("idem");
  await putFunction(account, "f", { target: demoTarget, maxConcurrency: 1 });
  const once = (key: string) =>
    tenant(account, "/v1/functions/f/tasks", {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": key },
      body: JSON.stringify({ sleepMs: 5 }),
    });
  const first = (await (await once("k1")).json()) as { id: string };
  const [batchFirst] = await submitBatch(account, "f", [{ payload: { sleepMs: 5 }, idempotencyKey: "k2" }]);
  await submitBatch(
    account,
    "f",
    Array.from({ length: 80 }, (_, i) => ({ payload: { sleepMs: 10, echo: i } })),
  );
  await placedOn(account, "f", "dedicated");
  await quietPeriod(1_100, "the gateway caches function records for CACHE_TTL_MS");
  const again = await once("k1");
  expect(again.status).toBe(200);
  expect(await again.json()).toMatchObject({ id: first.id, deduplicated: true });
  const [batchAgain] = await submitBatch(account, "f", [
    { payload: { sleepMs: 5 }, idempotencyKey: "k2" },
    { payload: { sleepMs: 5 }, idempotencyKey: "k3" },
  ]);
  expect(batchAgain).toBe(batchFirst);
  const all = await allEnded(account, "f");
  // One task per key (k1, k2, k3) and the 80 of the flood: nothing duplicated by the move.
  expect(all.length).toBe(83);
}, 90_000);

it("a gateway still holding the record from before a move takes no second task for a key the new shard took", async () => {
  const { account, before, ids } = await promotedByBacklog("stale-key", "f", 5);
  const moved = await record(account, "f");
  // A gateway that knows the move takes key "x" on the shard the key belongs to now.
  rememberFunction(env, moved);
  const first = await submitKeyed(account, "f", "x");
  expect(first.status).toBe(202);
  const { id } = (await first.json()) as { id: string };
  expect(currentShards(moved)).toContain(shardOfTaskId(id));
  // A gateway still routing by the old record sends "x" to the shard the function left: that shard refuses the key,
  // and the gateway sends it on by the record it answered with, where the key names the first task.
  rememberFunction(env, before);
  const again = await submitKeyed(account, "f", "x");
  expect(again.status).toBe(200);
  expect(await again.json()).toMatchObject({ id, deduplicated: true });
  // The same in a batch, the stale gateway first this time: its key "y" still ends on the key's current shard.
  rememberFunction(env, before);
  const [y] = await submitBatch(account, "f", [{ payload: { sleepMs: 5 }, idempotencyKey: "y" }]);
  expect(currentShards(await record(account, "f"))).toContain(shardOfTaskId(y as string));
  rememberFunction(env, moved);
  expect(await submitBatch(account, "f", [{ payload: { sleepMs: 5 }, idempotencyKey: "y" }])).toEqual([y]);
  // One task per key and the 80 of the backlog: nothing duplicated.
  const tasks = await allEnded(account, "f");
  expect(tasks.map((t) => t.id).sort()).toEqual([...ids, id, y as string].sort());
  // `Prefer: wait` on a repeated key waits on the shard holding the first task (its id names it), not the one the
  // stale record routed to.
  rememberFunction(env, before);
  const waited = await tenant(account, "/v1/functions/f/tasks", {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": "x", prefer: "wait=5" },
    body: JSON.stringify({ sleepMs: 5 }),
  });
  expect(waited.status).toBe(200);
  expect(waited.headers.get("preference-applied")).toBe("wait=5");
  expect(await waited.json()).toMatchObject({ id, state: "succeeded", deduplicated: true });
}, 90_000);

it("a shard the move was not yet pushed to learns it from the first gateway that asks it about a key", async () => {
  const account = await createAccount("unpushed");
  await putFunction(account, "g", { target: demoTarget, maxConcurrency: 1 });
  const [warm] = await submitBatch(account, "g", [{ payload: { sleepMs: 1 } }]);
  const before = await record(account, "g");
  // The registry applies a move that no shard has heard of yet (as between its commit and the mover's push).
  const answer = await registry().movePlacement(account.id, "g", before.version, {
    tier: "dedicated",
    partitions: 1,
    reason: "test",
  });
  expect(answer.moved).toBe(true);
  const moved = answer.record as FunctionRecord;
  // A gateway with the new record checks the old shard for the key (within the dedup window of a move) and hands it
  // the record; so the old shard refuses the key to a gateway that still routes by the old record.
  rememberFunction(env, moved);
  const first = await submitKeyed(account, "g", "z");
  expect(first.status).toBe(202);
  const { id } = (await first.json()) as { id: string };
  expect(shardOfTaskId(id)).toBe(moved.shard);
  rememberFunction(env, before);
  const again = await submitKeyed(account, "g", "z");
  expect(again.status).toBe(200);
  expect(await again.json()).toMatchObject({ id, deduplicated: true });
  const tasks = await allEnded(account, "g");
  expect(tasks.map((t) => t.id).sort()).toEqual([warm as string, id].sort());
}, 60_000);

it("a chained task's delivery repeated after the next function moved makes no second task", async () => {
  const account = await createAccount("chain");
  await putFunction(account, "next", { target: demoTarget, maxConcurrency: 1 });
  const before = await record(account, "next");
  const finishedAt = new Date().toISOString();
  const message: DeliveryMessage = {
    v: 1,
    shard: "shared:0",
    deliveryId: `dlv-${crypto.randomUUID()}`,
    account: account.id,
    functionName: "first",
    taskId: "tsk_parent",
    destination: { type: "function", name: "next" },
    envelope: {
      type: "task.succeeded",
      timestamp: finishedAt,
      data: {
        id: "tsk_parent",
        account: account.id,
        function: "first",
        state: "succeeded",
        attempts: 1,
        result: { sleepMs: 1 },
        timeline: { acceptedAt: finishedAt, finishedAt } as Envelope["data"]["timeline"],
      },
    },
    chainDepth: 0,
    origin: "https://sluice.test",
  };
  rememberFunction(env, before);
  expect(await deliver(env, readConfig(env), message)).toEqual({ verdict: "delivered" });
  // The next function moves (the registry's move, not yet pushed to its old shard) and the delivery is repeated, as
  // after a lane lost the first attempt's answer: the task is found on the old shard, not made again on the new one.
  const answer = await registry().movePlacement(account.id, "next", before.version, {
    tier: "dedicated",
    partitions: 1,
    reason: "test",
  });
  rememberFunction(env, answer.record as FunctionRecord);
  expect(await deliver(env, readConfig(env), message)).toEqual({ verdict: "delivered" });
  const tasks = await allEnded(account, "next");
  expect(tasks).toHaveLength(1);
  expect(shardOfTaskId(tasks[0]?.id as string)).toBe(before.shard);
}, 60_000);

it("an event-source message redelivered after its function moved makes no second task", async () => {
  // vitest.config.ts names this account and function as the `sluice-events` queue's (EVENT_SOURCES).
  const created = await admin("/v1/accounts", { method: "POST", body: JSON.stringify({ id: "events-acct" }) });
  expect(created.status).toBe(201);
  const account = (await created.json()) as TestAccount;
  await putFunction(account, "events", { target: demoTarget, maxConcurrency: 1 });
  const before = await record(account, "events");
  const message = { id: "evt-moved", timestamp: new Date(), attempts: 1, body: { echo: "once" } };
  const deliverBatch = async (attempts: number) => {
    const batch = createMessageBatch("sluice-events", [{ ...message, attempts }]);
    const ctx = createExecutionContext();
    await routeQueueBatch(batch, env);
    expect((await getQueueResult(batch, ctx)).ackAll).toBe(true);
  };
  rememberFunction(env, before);
  await deliverBatch(1);
  // The function moves (not yet pushed to its old shard), and the queue delivers the message again.
  const answer = await registry().movePlacement(account.id, "events", before.version, {
    tier: "dedicated",
    partitions: 1,
    reason: "test",
  });
  rememberFunction(env, answer.record as FunctionRecord);
  await deliverBatch(2);
  const tasks = await allEnded(account, "events");
  expect(tasks).toHaveLength(1);
  expect(shardOfTaskId(tasks[0]?.id as string)).toBe(before.shard);
}, 60_000);

it("racing submissions of one key through the record from before a move and the one after make one task per key", async () => {
  const account = await createAccount("race");
  // Two partitions after the move, so keys also cross between the new shards' partitions.
  await putFunction(account, "r", { target: demoTarget, maxConcurrency: 4 });
  const before = await record(account, "r");
  const [warm] = await submitBatch(account, "r", [{ payload: { sleepMs: 1 } }]);
  const answer = await registry().movePlacement(account.id, "r", before.version, {
    tier: "dedicated",
    partitions: 2,
    reason: "test",
  });
  const after = answer.record as FunctionRecord;
  const key = await taskIdKey(env);
  const submitWith = async (fn: FunctionRecord, idempotencyKey: string) => {
    const shard = routeTask(fn, idempotencyKey);
    const message = await ingestMessage(env, fn, {
      id: await mintTaskId(key, fn.account, shard, Date.now()),
      bytes: new TextEncoder().encode(JSON.stringify({ sleepMs: 1 })),
      contentType: "application/json",
      acceptedAt: Date.now(),
      idempotencyKey,
      shard,
    });
    const [result] = await acceptDirect(env, fn, [message]);
    return result?.id;
  };
  // 20 keys, each sent once by a gateway holding each record, all at once and in a shuffled order.
  const sends = Array.from({ length: 20 }, (_, i) => `race-${i}`).flatMap((k) => [
    { k, fn: before },
    { k, fn: after },
  ]);
  sends.sort(() => Math.random() - 0.5);
  const answers = await Promise.all(sends.map(async ({ k, fn }) => ({ k, id: await submitWith(fn, k) })));
  // Both submissions of a key name one task: 20 tasks from 40 submissions.
  const byKey = new Map<string, Set<string | undefined>>();
  for (const { k, id } of answers) byKey.set(k, new Set([...(byKey.get(k) ?? []), id]));
  expect([...byKey.values()].map((ids) => ids.size)).toEqual(Array(20).fill(1));
  const ids = answers.map((a) => a.id as string);
  const tasks = await allEnded(account, "r");
  expect(tasks.map((t) => t.id).sort()).toEqual([warm as string, ...new Set(ids)].sort());
}, 60_000);
