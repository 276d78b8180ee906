import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { REGISTRY_NAME } from "../../src/placement";
import { createAccount, demoTarget, expectProblem, putFunction, submit, tenant, waitForState } from "./helpers";

function put(account: Awaited<ReturnType<typeof createAccount>>, name: string, body: string) {
  return tenant(account, `/v1/functions/${name}`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body,
  });
}

describe("functions API", () => {
  it("creates (201) with documented defaults, replaces (200), lists, reads and deletes", async () => {
    const account = await createAccount();
    const created = await put(account, "resize", JSON.stringify({ target: demoTarget }));
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({
      name: "resize",
      target: demoTarget,
      timeoutMs: 30_000,
      maxConcurrency: 100,
      retry: { maxAttempts: 3, initialBackoffMs: 1000, maxBackoffMs: 300_000 },
      maxEventAgeSeconds: 21_600,
      dedupWindowSeconds: 86_400,
      destinations: {},
      isolation: "auto",
      submitUrl: "/v1/functions/resize/tasks",
    });
    const replaced = await put(account, "resize", JSON.stringify({ target: demoTarget, timeoutMs: 5000 }));
    expect(replaced.status).toBe(200);
    expect(((await replaced.json()) as { timeoutMs: number }).timeoutMs).toBe(5000);
    const list = (await (await tenant(account, "/v1/functions")).json()) as { functions: { name: string }[] };
    expect(list.functions.map((f) => f.name)).toEqual(["resize"]);
    const deleted = await tenant(account, "/v1/functions/resize", { method: "DELETE" });
    expect(deleted.status).toBe(200);
    await expectProblem(await tenant(account, "/v1/functions/resize"), 404, "not-found");
    await expectProblem(await tenant(account, "/v1/functions/resize", { method: "DELETE" }), 404, "not-found");
  });

  it("accepts every documented field, including destinations and isolation", async () => {
    const account = await createAccount();
    const spec = {
      target: { type: "url", url: "https://fn.example.com/run" },
      timeoutMs: 30000,
      maxConcurrency: 100,
      retry: { maxAttempts: 3, initialBackoffMs: 1000, maxBackoffMs: 300000 },
      maxEventAgeSeconds: 21600,
      dedupWindowSeconds: 86400,
      destinations: {
        onSuccess: { type: "webhook", url: "https://hooks.example.com/done" },
        onFailure: { type: "queue", queue: "RESULTS" },
      },
      isolation: "dedicated",
    };
    const response = await put(account, "full", JSON.stringify(spec));
    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject(spec);
  });

  it("rejects schema violations field by field and changes nothing", async () => {
    const account = await createAccount();
    await putFunction(account, "keep", { target: demoTarget, timeoutMs: 4000 });
    const response = await put(
      account,
      "keep",
      JSON.stringify({
        target: { type: "service", service: "NOT_BOUND" },
        timeoutMs: 5,
        retry: { maxAttempts: 0 },
        surprise: true,
        isolation: "sideways",
      }),
    );
    const problem = await expectProblem(response, 400, "validation");
    const paths = (problem.errors as { path: string }[]).map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(["timeoutMs", "retry.maxAttempts", "isolation"]));
    expect(JSON.stringify(problem.errors)).toContain("surprise");
    const kept = (await (await tenant(account, "/v1/functions/keep")).json()) as { timeoutMs: number };
    expect(kept.timeoutMs).toBe(4000);
  });

  it("rejects an unknown service binding with 400", async () => {
    const account = await createAccount();
    const problem = await expectProblem(
      await put(account, "svc", JSON.stringify({ target: { type: "service", service: "NOT_BOUND" } })),
      400,
      "validation",
    );
    expect(problem.errors).toEqual([expect.objectContaining({ path: "target.service" })]);
    // A binding that exists but is not a service target (the R2 bucket) is refused too.
    await expectProblem(
      await put(account, "svc", JSON.stringify({ target: { type: "service", service: "BLOBS" } })),
      400,
      "validation",
    );
  });

  it("answers malformed JSON with 400 problem+json", async () => {
    const account = await createAccount();
    await expectProblem(await put(account, "bad", "{not json"), 400, "malformed-json");
    // A name that cannot be created is the caller's mistake (400 naming it); reading one that cannot exist is a 404.
    const bad = await expectProblem(
      await tenant(account, "/v1/functions/Bad_Name", { method: "PUT", body: "{}" }),
      400,
      "validation",
    );
    expect(bad.errors).toEqual([expect.objectContaining({ path: "name" })]);
    await expectProblem(await tenant(account, "/v1/functions/Bad_Name"), 404, "not-found");
  });

  it("GET /v1/functions is paginated with an opaque cursor", async () => {
    const account = await createAccount();
    const names = ["fa", "fb", "fc", "fd", "fe"];
    for (const name of names) await putFunction(account, name, { target: demoTarget });
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const response = await tenant(account, `/v1/functions?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(response.status).toBe(200);
      const page = (await response.json()) as { functions: { name: string }[]; nextCursor: string | null };
      expect(page.functions.length).toBeLessThanOrEqual(2);
      seen.push(...page.functions.map((f) => f.name));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(seen).toEqual(names);
    expect(pages).toBe(3);
    await expectProblem(await tenant(account, "/v1/functions?limit=0"), 400, "validation");
    await expectProblem(await tenant(account, "/v1/functions?cursor=%%%"), 400, "validation");
  });

  it("deleting a function cancels its queued tasks instead of dropping them", async () => {
    const account = await createAccount();
    await putFunction(account, "doomed", { target: demoTarget });
    const id = await submit(account, "doomed", JSON.stringify({ echo: 1 }), {
      "content-type": "application/json",
      "sluice-delay": "600",
    });
    await waitForState(account, id, "queued");
    const deleted = await tenant(account, "/v1/functions/doomed", { method: "DELETE" });
    expect(await deleted.json()).toMatchObject({ deleted: "doomed", cancelledTasks: 1 });
    const task = await waitForState(account, id, "cancelled");
    expect(task.error).toMatchObject({ kind: "function_deleted" });
  });

  it("a function's edits reach its shard, so queued tasks run with the new target settings", async () => {
    const account = await createAccount();
    await putFunction(account, "edit", { target: demoTarget, maxEventAgeSeconds: 60 });
    const fn = await env.REGISTRY.getByName(REGISTRY_NAME).getFunction(account.id, "edit");
    expect(fn?.shard).toMatch(/^shared:\d+$/);
    await putFunction(account, "edit", { target: demoTarget, isolation: "account" });
    const moved = await env.REGISTRY.getByName(REGISTRY_NAME).getFunction(account.id, "edit");
    expect(moved?.shard).toBe(`account:${account.id}`);
    const id = await submit(account, "edit", JSON.stringify({ echo: 2 }));
    await waitForState(account, id, "succeeded");
  });
});

describe("SSRF rules for function URLs", () => {
  it("refuses http and private targets unless ALLOW_PRIVATE_TARGETS is true (it is true in this test pool)", async () => {
    const account = await createAccount();
    // The test pool sets ALLOW_PRIVATE_TARGETS=true so local receivers work; credentials are refused regardless.
    await expectProblem(
      await put(account, "creds", JSON.stringify({ target: { type: "url", url: "https://user:pw@example.com/" } })),
      400,
      "validation",
    );
    const ok = await put(account, "local", JSON.stringify({ target: { type: "url", url: "http://127.0.0.1:9/x" } }));
    expect(ok.status).toBe(201);
  });
});
