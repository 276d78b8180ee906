import {
  abortAllDurableObjects,
  createExecutionContext,
  createMessageBatch,
  env,
  getQueueResult,
  runDurableObjectAlarm,
  runInDurableObject,
} from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { fromBase64 } from "../../src/encoding";
import { mintTaskId } from "../../src/ids";
import { REGISTRY_NAME } from "../../src/placement";
import type { IngestMessage } from "../../src/records";
import worker from "../../workers/index";
import {
  createAccount,
  demoTarget,
  fastRetry,
  getTask,
  putFunction,
  quietPeriod,
  submit,
  waitForState,
} from "./helpers";

async function ingestMessageFor(account: string, fnName: string, payload: unknown): Promise<IngestMessage> {
  const registry = env.REGISTRY.getByName(REGISTRY_NAME);
  const fn = await registry.getFunction(account, fnName);
  if (!fn) throw new Error("function missing");
  const key = fromBase64(await registry.platformKey());
  const now = Date.now();
  return {
    v: 1,
    fn,
    task: {
      id: await mintTaskId(key, account, fn.shard, now),
      account,
      functionName: fnName,
      shard: fn.shard,
      acceptedAt: now,
      payload: { contentType: "application/json", size: 1, inline: new TextEncoder().encode(JSON.stringify(payload)) },
    },
  };
}

/** The caller "vanished": make a running task's lease run out now and let its shard's alarm find it. */
async function expireLease(account: string, fnName: string, id: string): Promise<void> {
  const fn = await env.REGISTRY.getByName(REGISTRY_NAME).getFunction(account, fnName);
  const shard = env.SHARD.getByName(fn?.shard ?? "");
  await runInDurableObject(shard, (_instance, state) => {
    state.storage.sql.exec("UPDATE tasks SET lease_until = ? WHERE id = ?", Date.now() - 1, id);
  });
  await runDurableObjectAlarm(shard);
}

describe("invariant: no task lost, exactly-once transitions", () => {
  it("a redelivered ingest message creates one task, and both deliveries are acked", async () => {
    const account = await createAccount();
    await putFunction(account, "once", { target: demoTarget });
    const message = await ingestMessageFor(account.id, "once", { echo: "once" });
    for (let delivery = 1; delivery <= 2; delivery++) {
      const batch = createMessageBatch<IngestMessage>("sluice-ingest-0", [
        { id: `m-${delivery}`, timestamp: new Date(), attempts: delivery, body: message },
      ]);
      const ctx = createExecutionContext();
      await worker.queue(batch, env);
      const result = await getQueueResult(batch, ctx);
      expect(result.explicitAcks).toEqual([`m-${delivery}`]);
      expect(result.retryMessages).toEqual([]);
    }
    const task = await waitForState(account, message.task.id, "succeeded");
    expect(task.attempts).toBe(1);
    const shard = env.SHARD.getByName(message.task.shard);
    const rows = await runInDurableObject(
      shard,
      (_instance, state) =>
        state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM tasks WHERE id = ?", message.task.id).one().n,
    );
    expect(rows).toBe(1);
  });

  it("two shards' messages in one batch each get one accept; a bad message is acked, not retried forever", async () => {
    const account = await createAccount();
    await putFunction(account, "mixed", { target: demoTarget });
    const good = await ingestMessageFor(account.id, "mixed", { echo: 1 });
    const batch = createMessageBatch<IngestMessage>("sluice-ingest-1", [
      { id: "good", timestamp: new Date(), attempts: 1, body: good },
      { id: "junk", timestamp: new Date(), attempts: 1, body: { nonsense: true } as unknown as IngestMessage },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env);
    const result = await getQueueResult(batch, ctx);
    expect([...result.explicitAcks].sort()).toEqual(["good", "junk"]);
    await waitForState(account, good.task.id, "succeeded");
  });

  it("an id just returned by submit reads as accepted, never 404, before the shard has it", async () => {
    const account = await createAccount();
    await putFunction(account, "fresh", { target: demoTarget });
    const message = await ingestMessageFor(account.id, "fresh", { echo: 1 });
    // Minted but never sent: exactly the window between submit and the shard's accept.
    const task = await getTask(account, message.task.id);
    expect(task.state).toBe("accepted");
    expect(task.timeline.acceptedAt).toEqual(expect.any(String));
  });

  it("a running task whose lease expires goes back to queued, counts the attempt, and the stale outcome is ignored", async () => {
    const account = await createAccount();
    await putFunction(account, "vanish", { target: demoTarget, timeoutMs: 10_000, retry: fastRetry });
    const id = await submit(account, "vanish", JSON.stringify({ sleepMs: 1500, echo: "late" }));
    await waitForState(account, id, "running");
    await expireLease(account.id, "vanish", id);
    const recovered = await getTask(account, id);
    expect(recovered.attemptLog[0]).toMatchObject({ attempt: 1, error: { kind: "lease_expired" } });
    expect(["queued", "running"]).toContain(recovered.state);
    const done = await waitForState(account, id, "succeeded");
    // Attempt 1 lost its lease; attempt 2 succeeded; attempt 1's late answer changed nothing.
    expect(done.attempts).toBe(2);
    expect(done.attemptLog.map((a) => a.attempt)).toEqual([1, 2]);
    expect(done.result).toMatchObject({ echo: "late", attempt: 2 });
  });

  it("a lease that expires on the last attempt fails the task instead of losing it", async () => {
    const account = await createAccount();
    await putFunction(account, "vanish-last", {
      target: demoTarget,
      timeoutMs: 10_000,
      retry: { maxAttempts: 1, initialBackoffMs: 10, maxBackoffMs: 10 },
    });
    const id = await submit(account, "vanish-last", JSON.stringify({ sleepMs: 1500 }));
    await waitForState(account, id, "running");
    await expireLease(account.id, "vanish-last", id);
    const task = await getTask(account, id);
    expect(task.state).toBe("failed");
    expect(task.error).toMatchObject({ kind: "lease_expired" });
    // The call still finishes later; its outcome must not flip the terminal state.
    await quietPeriod(1800, "the vanished call still ends; its outcome must not flip the terminal state");
    expect((await getTask(account, id)).state).toBe("failed");
  });

  it("tasks survive every Durable Object being torn down mid-call and all reach succeeded", async () => {
    const account = await createAccount();
    await putFunction(account, "crashy", {
      target: demoTarget,
      timeoutMs: 2_000,
      maxConcurrency: 3,
      retry: { maxAttempts: 5, initialBackoffMs: 10, maxBackoffMs: 100 },
    });
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push(await submit(account, "crashy", JSON.stringify({ sleepMs: 300, echo: i })));
    await vi.waitFor(
      async () => {
        const states = await Promise.all(ids.map(async (id) => (await getTask(account, id)).state));
        expect(states).toContain("running");
      },
      { timeout: 5_000, interval: 20 },
    );
    // Shards, invokers and the registry lose their in-memory state and in-flight calls; storage and alarms remain.
    await abortAllDurableObjects();
    for (const id of ids) {
      const task = await waitForState(account, id, "succeeded", 30_000);
      expect(task.attempts).toBeLessThanOrEqual(5);
    }
  });
});
