/**
 * Delivery lanes inside workerd, through the real delivery queue, lane Durable Objects and a local receiver
 * (webhook-receiver.global.ts): a receiver of one account that hangs costs only its own lane; retries keep to the
 * schedule; a lane restarted mid-attempt loses nothing; every delivery ends delivered or failed, and leaves its lane.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, inject, it, vi } from "vitest";
import { laneOf } from "../../src/delivery-lanes";
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
});
