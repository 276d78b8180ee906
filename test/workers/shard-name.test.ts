/**
 * A shard reads its own name from `ctx.id.name` instead of being told it on every RPC: check that the local runtime
 * keeps it across an eviction and inside `alarm()`, where the shard needs it to address its invokers.
 */
import { env, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { expect, it, vi } from "vitest";
import { REGISTRY_NAME } from "../../src/placement";
import { createAccount, demoTarget, getTask, putFunction, submit, waitForState } from "./helpers";

it("a shard knows its name after an eviction and in its alarm, and dispatches from there", async () => {
  const account = await createAccount("named");
  await putFunction(account, "named-fn", { target: demoTarget, isolation: "dedicated" });
  const record = await env.REGISTRY.getByName(REGISTRY_NAME).getFunction(account.id, "named-fn");
  const name = record?.shard ?? "";
  expect(name).toBe(`dedicated:${account.id}:named-fn`);
  const stub = env.SHARD.getByName(name);
  expect(await runInDurableObject(stub, (_instance, state) => state.id.name)).toBe(name);
  await evictDurableObject(stub);
  expect(await runInDurableObject(stub, (_instance, state) => state.id.name)).toBe(name);
  // Queued while the shard is evicted; only its alarm dispatches it, naming its invokers by the shard's name.
  const id = await submit(account, "named-fn", JSON.stringify({ echo: "after eviction" }), {
    "content-type": "application/json",
    "sluice-delay": "1",
  });
  await waitForState(account, id, "queued");
  await evictDurableObject(stub);
  // The delay ends: run the alarm (again) until it has dispatched the task.
  await vi.waitFor(
    async () => {
      await runDurableObjectAlarm(stub);
      expect((await getTask(account, id)).state).toBe("succeeded");
    },
    { timeout: 8000, interval: 200 },
  );
});
