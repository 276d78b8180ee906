import { env, evictDurableObject } from "cloudflare:test";
import { expect, it, vi } from "vitest";
import { REGISTRY_NAME } from "../../src/placement";
import { createAccount, demoTarget, getTask, putFunction, submit, waitForState } from "./helpers";

it("AIMD: 429s cut a function's window, the cut survives eviction and caps dispatch, successes grow it back", async () => {
  const account = await createAccount("aimd");
  await putFunction(account, "adaptive", {
    target: demoTarget,
    maxConcurrency: 16,
    maxEventAgeSeconds: 2,
    retry: { maxAttempts: 1, initialBackoffMs: 10, maxBackoffMs: 10 },
  });
  const record = await env.REGISTRY.getByName(REGISTRY_NAME).getFunction(account.id, "adaptive");
  const shard = env.SHARD.getByName(record?.shard ?? "");
  expect(await shard.concurrencyLimit(account.id, "adaptive")).toBe(16);

  // A function that always pushes back: the window halves at most once per second (AIMD_COOLDOWN_MS).
  const throttled = await submit(account, "adaptive", JSON.stringify({ status: 429, retryAfter: 0 }));
  await waitForState(account, throttled, "expired", 10_000);
  const cut = (await shard.concurrencyLimit(account.id, "adaptive")) ?? 16;
  expect(cut).toBeLessThanOrEqual(8);
  expect(cut).toBeGreaterThanOrEqual(1);

  // Windows are state a Durable Object must rebuild after an eviction.
  await evictDurableObject(shard);
  expect(await shard.concurrencyLimit(account.id, "adaptive")).toBe(cut);

  // While the window is small, no more than it run at once.
  const ids: string[] = [];
  for (let i = 0; i < 12; i++) ids.push(await submit(account, "adaptive", JSON.stringify({ sleepMs: 300, echo: i })));
  let peak = 0;
  await vi.waitFor(
    async () => {
      const states = await Promise.all(ids.map(async (id) => (await getTask(account, id)).state));
      peak = Math.max(peak, states.filter((s) => s === "running").length);
      expect(states.every((s) => s === "succeeded")).toBe(true);
    },
    { timeout: 20_000, interval: 30 },
  );
  expect(peak).toBeGreaterThan(0);
  // Successes add about one slot per window of them; the window grew but never past maxConcurrency.
  const grown = (await shard.concurrencyLimit(account.id, "adaptive")) ?? 0;
  expect(grown).toBeGreaterThan(cut);
  expect(grown).toBeLessThanOrEqual(16);
  expect(peak).toBeLessThanOrEqual(grown);
}, 40_000);
