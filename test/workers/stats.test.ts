/** `GET /v1/functions/:name/stats` (minimal): counts per state, in flight, the AIMD window and the placement. */
import { describe, expect, it, vi } from "vitest";
import {
  admin,
  createAccount,
  demoTarget,
  expectProblem,
  putFunction,
  submit,
  type TestAccount,
  tenant,
  uniqueId,
  waitForState,
} from "./helpers";

type Stats = {
  counts: Record<string, number>;
  inFlight: number;
  queued: number;
  concurrencyLimit: number;
  maxConcurrency: number;
  placement: { tier: string; partitions: number };
  fairnessLanes: number;
  account: { inFlight: number; maxConcurrency: number | null; submitPerSecond: number | null };
};

describe("function stats", () => {
  it("counts tasks per state, shows calls in flight, the window and the tier; another account's function is a 404", async () => {
    const account = await createAccount();
    const other = await createAccount();
    await putFunction(account, "counted", { target: demoTarget, maxConcurrency: 7, isolation: "account" });
    const done = await submit(account, "counted", JSON.stringify({ echo: 1 }));
    await waitForState(account, done, "succeeded");
    const slow = await submit(account, "counted", JSON.stringify({ sleepMs: 3000 }));
    await waitForState(account, slow, "running");
    await submit(account, "counted", JSON.stringify({ echo: 2 }), {
      "content-type": "application/json",
      "sluice-delay": "600",
    });
    const stats = await vi.waitFor(
      async () => {
        const response = await tenant(account, "/v1/functions/counted/stats");
        expect(response.status).toBe(200);
        const body = (await response.json()) as Stats;
        expect(body.counts).toEqual({ succeeded: 1, running: 1, queued: 1 });
        return body;
      },
      { timeout: 5000, interval: 100 },
    );
    // A new function starts slow (AIMD_INITIAL_WINDOW 4), and a trickle does not widen the window.
    expect(stats).toMatchObject({ inFlight: 1, queued: 1, concurrencyLimit: 4, maxConcurrency: 7 });
    expect(stats.placement).toEqual(expect.objectContaining({ tier: "account", partitions: 1 }));
    // The delayed task waits outside the lanes; the running call counts against the account.
    expect(stats.fairnessLanes).toBe(0);
    expect(stats.account).toEqual({ inFlight: 1, maxConcurrency: null, submitPerSecond: null });
    await expectProblem(await tenant(other, "/v1/functions/counted/stats"), 404, "not-found");
  });

  it("shows the fairness-key lanes with work and the account's limits in use", async () => {
    const response = await admin("/v1/accounts", {
      method: "POST",
      body: JSON.stringify({ id: uniqueId("limited"), limits: { maxConcurrency: 2, submitPerSecond: 50 } }),
    });
    const account = (await response.json()) as TestAccount;
    await putFunction(account, "keyed", { target: demoTarget, maxConcurrency: 1, isolation: "account" });
    for (const key of ["a", "b", "c"]) {
      for (let i = 0; i < 2; i++) {
        await submit(account, "keyed", JSON.stringify({ sleepMs: 1500 }), {
          "content-type": "application/json",
          "sluice-fairness-key": key,
        });
      }
    }
    const stats = await vi.waitFor(
      async () => {
        const body = (await (await tenant(account, "/v1/functions/keyed/stats")).json()) as Stats;
        expect(body.inFlight).toBe(1);
        return body;
      },
      { timeout: 5000, interval: 100 },
    );
    // One call runs (window 1); the three keys still have work queued.
    expect(stats.fairnessLanes).toBe(3);
    expect(stats.account).toEqual({ inFlight: 1, maxConcurrency: 2, submitPerSecond: 50 });
  });
});
