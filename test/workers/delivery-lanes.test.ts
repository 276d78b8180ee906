/**
 * Delivery lanes inside workerd, through the real delivery queue, lane Durable Objects and a local receiver
 * (webhook-receiver.global.ts): a receiver of one account that hangs costs only its own lane; retries keep to the
 * schedule; a lane restarted mid-attempt loses nothing; every delivery ends delivered or failed, and leaves its lane.
 */
import { createExecutionContext, createMessageBatch, env, getQueueResult, runInDurableObject } from "cloudflare:test";
import { describe, expect, inject, it, vi } from "vitest";
import type { DeliveryMessage } from "../../src/delivery";
import { LANE_MAX_DELIVERIES, laneOf } from "../../src/delivery-lanes";
import { routeQueueBatch } from "../../workers/index";
import {
  createAccount,
  demoTarget,
  getTask,
  putFunction,
  shardOf,
  submit,
  type TestAccount,
  uniqueId,
} from "./helpers";

const receiver = () => inject("receiverUrl");

const EMPTY_TIMELINE = {
  acceptedAt: null,
  queuedAt: null,
  firstDispatchedAt: null,
  lastDispatchedAt: null,
  finishedAt: null,
  deliveredAt: null,
};

interface Received {
  headers: Record<string, string>;
  status: number;
  at: number;
}

async function received(name: string): Promise<Received[]> {
  return (await (await fetch(`${receiver()}/log/${name}`)).json()) as Received[];
}

type Delivery = { state: string; attempts: number; lastError?: string };

async function deliveryOf(account: TestAccount, id: string): Promise<Delivery | undefined> {
  return ((await getTask(account, id)) as { delivery?: Delivery }).delivery;
}

/** A function whose successes go to the receiver's /hook/<hook>. */
async function hookedFunction(account: TestAccount, fn: string, hook: string): Promise<string> {
  const url = `${receiver()}/hook/${hook}`;
  await putFunction(account, fn, { target: demoTarget, destinations: { onSuccess: { type: "webhook", url } } });
  return url;
}

/** Wait until every task's delivery is in `state`; returns the deliveries. */
async function waitForAll(account: TestAccount, ids: readonly string[], state: string, timeout = 30_000) {
  return vi.waitFor(
    async () => {
      const deliveries = await Promise.all(ids.map((id) => deliveryOf(account, id)));
      expect(deliveries.map((d) => d?.state)).toEqual(ids.map(() => state));
      return deliveries;
    },
    { timeout, interval: 200 },
  );
}

function lane(account: TestAccount, url: string) {
  return env.DELIVERY_LANES.getByName(laneOf({ account: account.id, destination: { type: "webhook", url } }));
}

describe("delivery lanes", () => {
  it("a receiver of account A that hangs does not delay account B's delivery to the same host", async () => {
    const a = await createAccount("hung");
    const hook = uniqueId("hang");
    const url = await hookedFunction(a, "to-hung", hook);
    const slow: string[] = [];
    for (let i = 0; i < 20; i++) slow.push(await submit(a, "to-hung", JSON.stringify({ echo: i })));
    // A's lane holds all its connections on the hung receiver.
    await vi.waitFor(async () => expect((await received(hook)).length).toBeGreaterThanOrEqual(6), {
      timeout: 15_000,
      interval: 100,
    });

    const b = await createAccount("quiet");
    const okHook = uniqueId("ok-quiet");
    await hookedFunction(b, "to-ok", okHook);
    const quiet = await submit(b, "to-ok", JSON.stringify({ echo: "b" }));
    await waitForAll(b, [quiet], "delivered", 15_000);
    // B was delivered while every one of A's deliveries still waits for the hung receiver.
    const pending = await Promise.all(slow.map((id) => deliveryOf(a, id)));
    expect(pending.map((d) => d?.state)).toEqual(slow.map(() => "pending"));
    // A's lane told the shard it holds them, so the shard does not take waiting for silence (lane promise >= 60 s).
    const silentAt = await runInDurableObject(await shardOf(a, "to-hung"), (_i, state) =>
      state.storage.sql
        .exec<{ silent_at: number | null }>(
          `SELECT silent_at FROM deliveries WHERE task_id IN (${slow.map(() => "?").join(",")})`,
          ...slow,
        )
        .toArray(),
    );
    expect(silentAt).toHaveLength(20);
    for (const row of silentAt) expect(row.silent_at ?? 0).toBeGreaterThan(Date.now() + 30_000);

    // The receiver recovers: every delivery of A ends delivered, and leaves the lane.
    await fetch(`${receiver()}/release/${hook}`, { method: "POST" });
    const done = await waitForAll(a, slow, "delivered", 40_000);
    expect(done.every((d) => (d?.attempts ?? 0) >= 1)).toBe(true);
    await vi.waitFor(async () => expect(await lane(a, url).size()).toBe(0), { timeout: 10_000 });
    // Each of A's deliveries kept its one webhook-id through the retries.
    const ids = new Set((await received(hook)).map((r) => r.headers["webhook-id"]));
    expect(ids.size).toBe(20);
  }, 90_000);

  it("retries a failing receiver on the schedule (1 s apart in tests), never sooner", async () => {
    const account = await createAccount();
    const hook = uniqueId("fail3");
    await hookedFunction(account, "flaky", hook);
    const id = await submit(account, "flaky", JSON.stringify({ echo: 1 }));
    const [delivery] = await waitForAll(account, [id], "delivered");
    expect(delivery?.attempts).toBe(4);
    const times = (await received(hook)).map((r) => r.at);
    expect(times).toHaveLength(4);
    for (let i = 1; i < times.length; i++) expect((times[i] ?? 0) - (times[i - 1] ?? 0)).toBeGreaterThanOrEqual(950);
  });

  it("stops at a 410 and ends every delivery delivered or failed: a mixed batch, counted", async () => {
    const account = await createAccount();
    const gone = uniqueId("gone");
    const ok = uniqueId("ok-mixed");
    const goneUrl = await hookedFunction(account, "to-gone", gone);
    await hookedFunction(account, "to-ok", ok);
    const toGone: string[] = [];
    const toOk: string[] = [];
    for (let i = 0; i < 8; i++) {
      toGone.push(await submit(account, "to-gone", JSON.stringify({ echo: i })));
      toOk.push(await submit(account, "to-ok", JSON.stringify({ echo: i })));
    }
    const failed = await waitForAll(account, toGone, "failed");
    expect(failed.map((d) => d?.attempts)).toEqual(toGone.map(() => 1));
    expect(failed[0]?.lastError).toContain("410");
    await waitForAll(account, toOk, "delivered");
    expect((await received(gone)).length).toBe(8);
    await vi.waitFor(async () => expect(await lane(account, goneUrl).size()).toBe(0), { timeout: 10_000 });
  }, 60_000);

  it("a lane restarted in the middle of an attempt loses nothing: the attempt counts and is retried after its lease", async () => {
    const account = await createAccount();
    const hook = uniqueId("hang");
    const url = await hookedFunction(account, "restarted", hook);
    const id = await submit(account, "restarted", JSON.stringify({ echo: 1 }));
    await vi.waitFor(async () => expect((await received(hook)).length).toBe(1), { timeout: 15_000, interval: 50 });
    // Throw the lane's instance away mid-attempt (its in-memory state and the running fetch go with it).
    await runInDurableObject(lane(account, url), (_i, state) => state.abort("simulated eviction")).catch(() => {});
    await fetch(`${receiver()}/release/${hook}`, { method: "POST" });
    const [delivery] = await waitForAll(account, [id], "delivered", 20_000);
    expect(delivery?.attempts).toBeGreaterThanOrEqual(2);
    const requests = await received(hook);
    expect(new Set(requests.map((r) => r.headers["webhook-id"])).size).toBe(1);
    await vi.waitFor(async () => expect(await lane(account, url).size()).toBe(0), { timeout: 10_000 });
  }, 40_000);

  it("a full lane refuses new deliveries and the consumer offers them again later (back-pressure, nothing acked)", async () => {
    const account = await createAccount("full");
    const url = `${receiver()}/hook/${uniqueId("ok-full")}`;
    const full = lane(account, url);
    // Fill the lane to its bound with finished rows nothing will look at (a lane stuck behind its receiver).
    await runInDurableObject(full, (_i, state) => {
      state.storage.sql.exec(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
         INSERT INTO lane_deliveries (delivery_id, shard, task_id, message, bytes, state, attempts, due_at, enqueued_at)
         SELECT 'filler-' || i, 'shared:0', 'filler-' || i, '{}', 2, 'delivered', 1, 0, 0 FROM n`,
        LANE_MAX_DELIVERIES,
      );
    });
    const body = (n: number): DeliveryMessage => ({
      v: 1,
      shard: "shared:0",
      deliveryId: `dlv_1_refused-${n}`,
      account: account.id,
      functionName: "f",
      taskId: `refused-${n}`,
      destination: { type: "webhook", url },
      envelope: {
        type: "task.succeeded",
        timestamp: new Date().toISOString(),
        data: {
          id: `refused-${n}`,
          account: account.id,
          function: "f",
          state: "succeeded",
          attempts: 1,
          timeline: EMPTY_TIMELINE,
        },
      },
      chainDepth: 0,
      origin: "https://sluice.test",
    });
    const filler = { ...body(0), deliveryId: "filler-1" };
    const batch = createMessageBatch("sluice-deliveries", [
      { id: "m1", timestamp: new Date(), attempts: 1, body: body(1) },
      { id: "m2", timestamp: new Date(), attempts: 3, body: body(2) },
      // One the lane already holds is accepted again (idempotent by delivery id), full or not.
      { id: "m3", timestamp: new Date(), attempts: 1, body: filler },
    ]);
    const ctx = createExecutionContext();
    await routeQueueBatch(batch, env);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toEqual(["m3"]);
    // Retried with refusedRetryDelay (30 s, then longer; test/unit/delivery-lanes.test.ts); the test harness records
    // which messages were retried, not their delays.
    expect(result.retryMessages.map((m) => m.msgId)).toEqual(["m1", "m2"]);
    expect(await full.size()).toBe(LANE_MAX_DELIVERIES);
  });
});
