import { createExecutionContext, env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { app } from "../../workers/gateway/app";
import { createAccount, expectProblem } from "./helpers";

/** The gateway as production runs it: ALLOW_PRIVATE_TARGETS is "false" (the test pool sets it to "true"). */
function productionPut(apiKey: string, name: string, spec: unknown): Promise<Response> {
  const request = new Request(`https://sluice.test/v1/functions/${name}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify(spec),
  });
  return Promise.resolve(app.fetch(request, { ...env, ALLOW_PRIVATE_TARGETS: "false" }, createExecutionContext()));
}

describe("SSRF rules with ALLOW_PRIVATE_TARGETS=false", () => {
  it.each([
    "http://fn.example.com/run",
    "https://127.0.0.1/run",
    "https://localhost:8443/run",
    "https://10.0.0.5/run",
    "https://192.168.1.10/run",
    "https://169.254.169.254/latest/meta-data",
    "https://[::1]/run",
    "https://2130706433/run",
    "https://metadata.internal/run",
  ])("refuses the function URL %s", async (url) => {
    const account = await createAccount("ssrf");
    const problem = await expectProblem(
      await productionPut(account.apiKey, "f", { target: { type: "url", url } }),
      400,
      "validation",
    );
    expect(problem.errors).toEqual([expect.objectContaining({ path: "target.url" })]);
  });

  it("refuses a private webhook destination and accepts public https targets", async () => {
    const account = await createAccount("ssrf");
    const refused = await productionPut(account.apiKey, "g", {
      target: { type: "url", url: "https://fn.example.com/run" },
      destinations: { onFailure: { type: "webhook", url: "http://127.0.0.1:9999/hook" } },
    });
    const problem = await expectProblem(refused, 400, "validation");
    expect(problem.errors).toEqual([expect.objectContaining({ path: "destinations.onFailure.url" })]);
    const accepted = await productionPut(account.apiKey, "g", {
      target: { type: "url", url: "https://fn.example.com/run" },
      destinations: { onSuccess: { type: "webhook", url: "https://hooks.example.com/done" } },
    });
    expect(accepted.status).toBe(201);
  });
});
