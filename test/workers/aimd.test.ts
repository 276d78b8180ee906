import { env, evictDurableObject } from "cloudflare:test";
import { expect, it, vi } from "vitest";
import { REGISTRY_NAME } from "../../src/placement";
import { createAccount, demoTarget, getTask, putFunction, submit, tenant, waitForState } from "./helpers";

it("AIMD: a new function starts slow, 429s cut its window, the cut survives eviction and caps dispatch, successes grow it back", async () => {
  const account = await createAccount("aimd");
  await putFunction(account, "adaptive", {
    target: demoTarget,
    maxConcurrency: 16,
    maxEventAgeSeconds: 2,
    retry: { maxAttempts: 1, initialBackoffMs: 10, maxBackoffMs: 10 },
  });
  const record = await env.REGISTRY.getByName(REGISTRY_NAME).getFunction(account.id, "adaptive");
  const shard = env.SHARD.getByName(record?.shard ?? "");
  // Slow start: a new function opens with AIMD_INITIAL_WINDOW (4) calls, not its maxConcurrency of 16.
  expect(await shard.concurrencyLimit(account.id, "adaptive")).toBe(4);

  // A function that always pushes back: the first 429 ends slow start (the window the call was sent under, here the
  // initial 4, × AIMD_DECREASE_FACTOR), later ones cut it by that factor at most once per round trip.
  const throttled = await submit(account, "adaptive", JSON.stringify({ status: 429, retryAfter: 0 }));
  await waitForState(account, throttled, "expired", 10_000);
  const cut = (await shard.concurrencyLimit(account.id, "adaptive")) ?? 16;
  // One task retried for 2 s: a handful of cuts (4 × 0.9 at the exit, then × 0.9 per round trip): 2 or 3.
  expect(cut).toBeLessThanOrEqual(3);
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

it("AIMD: a backend's Retry-After pauses every call of the function, not only the throttled one", async () => {
  const account = await createAccount("retry-after");
  await putFunction(account, "busy", {
    target: demoTarget,
    maxConcurrency: 8,
    maxEventAgeSeconds: 30,
    retry: { maxAttempts: 1, initialBackoffMs: 10, maxBackoffMs: 10 },
  });
  const throttled = await submit(account, "busy", JSON.stringify({ status: 429, retryAfter: 2 }));
  // Once the backend said "come back in 2 s" ...
  const throttledAt = await vi.waitFor(
    async () => {
      const view = await getTask(account, throttled);
      const log = (view.attemptLog ?? []) as unknown as { status?: number; startedAt: string }[];
      expect(log.some((a) => a.status === 429)).toBe(true);
      return Date.now();
    },
    { timeout: 10_000, interval: 20 },
  );
  // ... another task of the same function waits for the pause to end, though the window has room for it.
  const other = await submit(account, "busy", JSON.stringify({ echo: "after the pause" }));
  await waitForState(account, other, "succeeded", 15_000);
  const view = await getTask(account, other);
  const timeline = view.timeline as { firstDispatchedAt: string; acceptedAt: string };
  const firstThrottle = Date.parse(
    ((await getTask(account, throttled)).attemptLog as unknown as { status?: number; startedAt: string }[]).find(
      (a) => a.status === 429,
    )?.startedAt ?? "",
  );
  expect(Date.parse(timeline.firstDispatchedAt) - firstThrottle).toBeGreaterThanOrEqual(1_900);
  expect(Date.parse(timeline.firstDispatchedAt)).toBeGreaterThan(throttledAt);
  const cancel = await tenant(account, `/v1/tasks/${throttled}/cancel`, { method: "POST" });
  expect(cancel.status).toBeLessThan(300);
}, 40_000);
