import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { createAccount, demoTarget, putFunction, shardOf, tenant } from "./helpers";

async function submitDelayed(account: Awaited<ReturnType<typeof createAccount>>, fn: string): Promise<string> {
  const response = await tenant(account, `/v1/functions/${fn}/tasks`, {
    method: "POST",
    headers: { "content-type": "application/json", "sluice-delay": "600" },
    body: JSON.stringify({ echo: 1 }),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

describe("intake: a plain single submission", () => {
  it("is stored on its shard by the time the gateway answers 202 (no queue hop); a burst overflows to the queue", async () => {
    const account = await createAccount("direct");
    await putFunction(account, "later", { target: demoTarget });
    const shard = await shardOf(account, "later");
    for (let i = 1; i <= 3; i++) {
      await submitDelayed(account, "later");
      expect(await shard.countByState(account.id, "later")).toEqual({ queued: i });
    }
    // 40 at once: a few go straight to the shard, the rest through the ingest queue; every one is stored, once.
    const ids = await Promise.all(Array.from({ length: 40 }, () => submitDelayed(account, "later")));
    expect(new Set(ids).size).toBe(40);
    await vi.waitFor(async () => expect(await shard.countByState(account.id, "later")).toEqual({ queued: 43 }), {
      timeout: 10_000,
      interval: 50,
    });
  });

  it("goes through the ingest queue when the direct call fails, and is stored once", async () => {
    const account = await createAccount("fallback");
    await putFunction(account, "later", { target: demoTarget });
    const shard = await shardOf(account, "later");
    // The shard refuses its next accept call (as an overloaded or restarting object would), then works again.
    const restore = await runInDurableObject(shard, (instance) => {
      const proto = Object.getPrototypeOf(instance) as { accept: (...args: unknown[]) => Promise<unknown> };
      const original = proto.accept;
      proto.accept = async function (this: unknown) {
        proto.accept = original;
        throw new Error("overloaded");
      };
      return () => {
        proto.accept = original;
      };
    });
    try {
      const id = await submitDelayed(account, "later");
      await vi.waitFor(async () => expect(await shard.countByState(account.id, "later")).toEqual({ queued: 1 }), {
        timeout: 10_000,
        interval: 50,
      });
      const task = await (await tenant(account, `/v1/tasks/${id}`)).json();
      expect(task).toMatchObject({ id, state: "queued" });
    } finally {
      restore();
    }
  });
});
