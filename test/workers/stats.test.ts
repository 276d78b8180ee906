/** `GET /v1/functions/:name/stats` (minimal): counts per state, in flight, the AIMD window and the placement. */
import { describe, expect, it, vi } from "vitest";
import { createAccount, demoTarget, expectProblem, putFunction, submit, tenant, waitForState } from "./helpers";

type Stats = {
  counts: Record<string, number>;
  inFlight: number;
  queued: number;
  concurrencyLimit: number;
  maxConcurrency: number;
  placement: { tier: string; partitions: number };
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
    expect(stats).toMatchObject({ inFlight: 1, queued: 1, concurrencyLimit: 7, maxConcurrency: 7 });
    expect(stats.placement).toEqual(expect.objectContaining({ tier: "account", partitions: 1 }));
    await expectProblem(await tenant(other, "/v1/functions/counted/stats"), 404, "not-found");
  });
});
