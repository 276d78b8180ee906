/**
 * The API reference against the running gateway: every route the Hono app registers is in /openapi.json with its
 * method, nothing documented is missing from the app, /docs renders Scalar on the document, and real answers parse
 * with the response schemas the document was made from.
 */
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { buildOpenApiDocument } from "../../src/openapi/document";
import * as res from "../../src/openapi/responses";
import { app } from "../../workers/gateway/app";
import {
  admin,
  BASE,
  createAccount,
  demoTarget,
  expectProblem,
  putFunction,
  submit,
  tenant,
  uniqueId,
  waitForState,
} from "./helpers";

/**
 * A Hono path in OpenAPI form: `:name` becomes `{name}`, and a parameter with a pattern that only spells out fixed
 * words (`:op{tasks:(?:cancel|pause)}`) becomes each of those words, checked against the pattern itself.
 */
function openApiPaths(honoPath: string): string[] {
  let paths = [""];
  for (const segment of honoPath.split("/").slice(1)) {
    const param = segment.match(/^:([A-Za-z_][A-Za-z0-9_]*)(?:\{(.+)\})?$/);
    let options: string[];
    if (!param) options = [segment];
    else if (param[2] === undefined) options = [`{${param[1]}}`];
    else {
      const pattern = param[2];
      const group = pattern.match(/^(.*)\(\?:([^()]+)\)(.*)$/);
      options = group
        ? (group[2] ?? "").split("|").map((word) => `${group[1]}${word}${group[3]}`)
        : [pattern.replaceAll("\\", "")];
      const re = new RegExp(`^(?:${pattern})$`);
      for (const word of options) {
        expect(word, `a pattern that is not a list of words: ${segment}`).toMatch(/^[A-Za-z0-9:_-]+$/);
        expect(re.test(word), `${word} against ${pattern}`).toBe(true);
      }
    }
    paths = paths.flatMap((prefix) => options.map((option) => `${prefix}/${option}`));
  }
  return paths.length === 1 && paths[0] === "" ? ["/"] : paths;
}

function appRoutes(): string[] {
  const found = new Set<string>();
  for (const route of app.routes) {
    // use() middleware (and the app-wide handlers) are registered as ALL; they are not routes of the API.
    if (route.method === "ALL" || route.path.includes("*")) continue;
    for (const path of openApiPaths(route.path)) found.add(`${route.method} ${path}`);
  }
  return [...found].sort();
}

function documentedRoutes(): string[] {
  const doc = buildOpenApiDocument() as { paths: Record<string, Record<string, unknown>> };
  return Object.entries(doc.paths)
    .flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`))
    .sort();
}

describe("the OpenAPI document and the app", () => {
  it("the path normaliser expands Hono's patterns as the router matches them", () => {
    expect(openApiPaths("/v1/functions/:name/:op{tasks:(?:cancel|pause|resume)}")).toEqual([
      "/v1/functions/{name}/tasks:cancel",
      "/v1/functions/{name}/tasks:pause",
      "/v1/functions/{name}/tasks:resume",
    ]);
    expect(openApiPaths("/v1/account/:action{webhook-secret:rotate}")).toEqual(["/v1/account/webhook-secret:rotate"]);
    expect(openApiPaths("/")).toEqual(["/"]);
  });

  it("documents every route of the app with its method, and nothing the app does not route", () => {
    const routes = appRoutes();
    for (const known of [
      "GET /v1/metrics",
      "POST /v1/tasks/{id}/heartbeat",
      "DELETE /v1/accounts/{id}/keys/{keyPrefix}",
    ]) {
      expect(routes).toContain(known);
    }
    expect(routes.length).toBeGreaterThan(30);
    const documented = documentedRoutes();
    expect(
      routes.filter((r) => !documented.includes(r)),
      "routes missing from the document",
    ).toEqual([]);
    expect(
      documented.filter((r) => !routes.includes(r)),
      "documented routes the app does not have",
    ).toEqual([]);
  });

  it("each expanded path really reaches its route (a word outside the pattern is the not-found problem)", async () => {
    const response = await SELF.fetch(`${BASE}/v1/functions/x/tasks:explode`, {
      method: "POST",
      headers: { authorization: "Bearer sk_00000000_nope" },
    });
    // Authentication runs first on tenant routes; a route that exists and one that does not both say 401 here.
    expect(response.status).toBe(401);
    const unknown = await SELF.fetch(`${BASE}/v2/nothing`);
    await expectProblem(unknown, 404, "not-found");
  });
});

describe("GET /openapi.json and GET /docs", () => {
  it("serves the document publicly, cacheable, as JSON", async () => {
    const response = await SELF.fetch(`${BASE}/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("application/json");
    expect(response.headers.get("cache-control")).toMatch(/^public/);
    const body = (await response.json()) as { openapi: string };
    expect(body.openapi).toMatch(/^3\.1\./);
    expect(body).toEqual(buildOpenApiDocument());
  });

  it("renders the reference page on /openapi.json", async () => {
    const response = await SELF.fetch(`${BASE}/docs`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/html");
    expect(response.headers.get("cache-control")).toMatch(/^public/);
    const html = await response.text();
    expect(html).toContain('"url": "/openapi.json"');
    expect(html).toMatch(/<script src="[^"]+"><\/script>/);
    expect(html).toContain("Sluice API reference");
  });
});

describe("real answers match the documented response schemas", () => {
  it("accounts, functions, tasks, listings, stats and schedules", async () => {
    const created = await admin("/v1/accounts", { method: "POST", body: JSON.stringify({ id: uniqueId("oas") }) });
    expect(created.status).toBe(201);
    const account = res.createdAccountSchema.parse(await created.json());
    res.accountSchema.parse(await (await admin(`/v1/accounts/${account.id}`)).json());
    res.accountPageSchema.parse(await (await admin("/v1/accounts?limit=2")).json());
    res.issuedKeySchema.parse(await (await admin(`/v1/accounts/${account.id}/keys`, { method: "POST" })).json());

    const tenantAccount = { ...account };
    await putFunction(tenantAccount, "echo", { target: demoTarget });
    res.functionSchema.parse(await (await tenant(tenantAccount, "/v1/functions/echo")).json());
    res.functionPageSchema.parse(await (await tenant(tenantAccount, "/v1/functions")).json());

    const submitted = await tenant(tenantAccount, "/v1/functions/echo/tasks", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ hello: "openapi" }),
    });
    expect(submitted.status).toBe(202);
    const accepted = res.acceptedTaskSchema.parse(await submitted.json());
    await waitForState(tenantAccount, accepted.id, "succeeded");
    res.taskSchema.parse(await (await tenant(tenantAccount, `/v1/tasks/${accepted.id}`)).json());
    const second = await submit(tenantAccount, "echo", "{}");
    // A task still in the ingest queue has a view of its own (no function yet): it too is a documented task.
    res.taskSchema.parse(await (await tenant(tenantAccount, `/v1/tasks/${second}`)).json());
    res.taskPageSchema.parse(await (await tenant(tenantAccount, "/v1/functions/echo/tasks")).json());
    const batch = await tenant(tenantAccount, "/v1/functions/echo/tasks:batch", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify([{ payload: 1 }]),
    });
    res.acceptedBatchSchema.parse(await batch.json());
    const bulk = await tenant(tenantAccount, "/v1/functions/echo/tasks:cancel", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ state: "queued" }),
    });
    res.bulkResultSchema.parse(await bulk.json());

    res.functionStatsSchema.parse(await (await tenant(tenantAccount, "/v1/functions/echo/stats")).json());
    res.accountStatsSchema.parse(await (await tenant(tenantAccount, "/v1/account/stats")).json());

    const schedule = await tenant(tenantAccount, "/v1/functions/echo/schedules/nightly", {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ cron: "0 3 * * *", payload: { nightly: true } }),
    });
    expect(schedule.status).toBe(201);
    res.scheduleSchema.parse(await schedule.json());
    res.scheduleListSchema.parse(await (await tenant(tenantAccount, "/v1/functions/echo/schedules")).json());
    const deleted = await tenant(tenantAccount, "/v1/functions/echo/schedules/nightly", { method: "DELETE" });
    res.deletedSchema.parse(await deleted.json());

    const rotated = await tenant(tenantAccount, "/v1/account/webhook-secret:rotate", { method: "POST" });
    res.rotatedSecretSchema.parse(await rotated.json());
    res.serviceInfoSchema.parse(await (await SELF.fetch(`${BASE}/`)).json());
    res.deletedFunctionSchema.parse(
      await (await tenant(tenantAccount, "/v1/functions/echo", { method: "DELETE" })).json(),
    );
  });

  it("a missing account answers the documented problem", async () => {
    const account = await createAccount("oas-miss");
    await expectProblem(await tenant(account, "/v1/functions/nope"), 404, "not-found");
  });
});
