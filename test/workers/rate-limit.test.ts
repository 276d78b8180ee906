import { describe, expect, it, vi } from "vitest";
import {
  admin,
  blobKeys,
  demoTarget,
  expectProblem,
  post,
  putFunction,
  type TestAccount,
  tenant,
  uniqueId,
} from "./helpers";

async function limitedAccount(submitPerSecond: number): Promise<TestAccount> {
  const response = await admin("/v1/accounts", {
    method: "POST",
    body: JSON.stringify({ id: uniqueId("limited"), limits: { submitPerSecond } }),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as TestAccount;
}

async function blobCount(): Promise<number> {
  return (await blobKeys("payloads/")).length;
}

describe("submitPerSecond", () => {
  it("accepts about one second's worth of 40 simultaneous submissions, refuses the rest with 429, stores nothing for them", async () => {
    const account = await limitedAccount(5);
    await putFunction(account, "metered", { target: demoTarget });
    const blobsBefore = await blobCount();
    const started = Date.now();
    const big = { echo: "b".repeat(70 * 1024) };
    const responses = await Promise.all(
      Array.from({ length: 40 }, () => post(account, "/v1/functions/metered/tasks", big)),
    );
    const elapsedS = (Date.now() - started) / 1000;
    const accepted = responses.filter((r) => r.status === 202);
    const refused = responses.filter((r) => r.status === 429);
    expect(accepted.length + refused.length).toBe(40);
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    expect(accepted.length).toBeLessThanOrEqual(5 + Math.ceil(5 * elapsedS));
    for (const response of refused.slice(0, 3)) {
      const retryAfter = Number(response.headers.get("retry-after"));
      expect(Number.isInteger(retryAfter) && retryAfter >= 1).toBe(true);
      const problem = await expectProblem(response, 429, "rate-limited");
      expect(problem.limit).toBe(5);
    }
    // Only the accepted ones became tasks, and only they left a payload in R2.
    await vi.waitFor(
      async () => {
        const listed = (await (await tenant(account, "/v1/functions/metered/tasks?limit=100")).json()) as {
          tasks: unknown[];
        };
        expect(listed.tasks).toHaveLength(accepted.length);
      },
      { timeout: 5000, interval: 100 },
    );
    expect(await blobCount()).toBe(blobsBefore + accepted.length);
  });

  it("lets submissions through again once the bucket refills; batches count each item, and one larger than a second's worth is a 400", async () => {
    const account = await limitedAccount(3);
    await putFunction(account, "batchy", { target: demoTarget });
    const first = await post(account, "/v1/functions/batchy/tasks:batch", [
      { payload: 1 },
      { payload: 2 },
      { payload: 3 },
    ]);
    expect(first.status).toBe(202);
    await expectProblem(await post(account, "/v1/functions/batchy/tasks:batch", [{ payload: 4 }]), 429, "rate-limited");
    await expectProblem(
      await post(account, "/v1/functions/batchy/tasks:batch", [
        { payload: 1 },
        { payload: 2 },
        { payload: 3 },
        { payload: 4 },
      ]),
      400,
      "validation",
    );
    await vi.waitFor(
      async () => expect((await post(account, "/v1/functions/batchy/tasks", { echo: "later" })).status).toBe(202),
      {
        timeout: 3000,
        interval: 200,
      },
    );
  });

  it("an account without the limit is never refused; removing it with PATCH lifts it within a second", async () => {
    const account = await limitedAccount(1);
    await putFunction(account, "free", { target: demoTarget });
    expect((await post(account, "/v1/functions/free/tasks", { echo: 1 })).status).toBe(202);
    await expectProblem(await post(account, "/v1/functions/free/tasks", { echo: 2 }), 429, "rate-limited");
    const patched = await admin(`/v1/accounts/${account.id}`, {
      method: "PATCH",
      body: JSON.stringify({ limits: {} }),
    });
    expect(patched.status).toBe(200);
    await vi.waitFor(
      async () => {
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => post(account, "/v1/functions/free/tasks", { echo: i })),
        );
        expect(results.every((r) => r.status === 202)).toBe(true);
      },
      { timeout: 3000, interval: 250 },
    );
  });
});
