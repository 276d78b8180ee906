/**
 * @module
 * Tenant function management: `PUT/GET/DELETE /v1/functions/:name`, `GET /v1/functions`, and
 * `POST /v1/functions/:name/pause|resume`.
 */

import { Hono } from "hono";
import { readConfig } from "../../src/config";
import { shardFor } from "../../src/placement";
import { type FieldError, Problem, validationProblem } from "../../src/problem";
import type { FunctionRecord } from "../../src/records";
import { FUNCTION_NAME, type FunctionSpec, functionSpecSchema } from "../../src/schemas";
import { outboundUrlProblem } from "../../src/ssrf";
import { isFetcher, namedBinding } from "../platform/bindings";
import { findFunction, forgetFunction, registry, rememberFunction } from "../platform/registry-client";
import type { GatewayEnv } from "./middleware";
import { encodeNameCursor, pageQuery } from "./paging";
import { shard, shardsOf } from "./shards";
import { parseJsonBody } from "./validation";

/** A name in a path: one that cannot exist is simply not found. */
export function functionName(name: string): string {
  if (!FUNCTION_NAME.test(name)) throw new Problem("not-found", `No function ${JSON.stringify(name.slice(0, 100))}.`);
  return name;
}

/** A name to create: a bad one is the caller's mistake, so a 400 naming the rule. */
function newFunctionName(name: string): string {
  if (!FUNCTION_NAME.test(name)) {
    throw validationProblem(
      [{ path: "name", message: "must match ^[a-z0-9][a-z0-9-]{0,62}$" }],
      "The function name is not valid.",
    );
  }
  return name;
}

/** The caller's function, or a 404 problem. */
export async function requireFunction(env: Env, account: string, name: string): Promise<FunctionRecord> {
  const record = await findFunction(env, account, functionName(name));
  if (!record) throw new Problem("not-found", `No function ${name}.`);
  return record;
}

/** Checks that need the deployment's configuration: SSRF rules and which service bindings exist. */
function targetProblems(env: Env, spec: FunctionSpec): FieldError[] {
  const config = readConfig(env);
  const errors: FieldError[] = [];
  if (spec.target.type === "url") {
    const problem = outboundUrlProblem(spec.target.url, config.allowPrivateTargets);
    if (problem) errors.push({ path: "target.url", message: problem });
  } else {
    if (!namedBinding(env, spec.target.service, config.serviceTargets, isFetcher)) {
      errors.push({
        path: "target.service",
        message: `unknown service binding; available: ${config.serviceTargets.join(", ") || "none"}`,
      });
    }
  }
  for (const which of ["onSuccess", "onFailure"] as const) {
    const destination = spec.destinations[which];
    if (destination?.type === "webhook") {
      const problem = outboundUrlProblem(destination.url, config.allowPrivateTargets);
      if (problem) errors.push({ path: `destinations.${which}.url`, message: problem });
    }
    if (destination?.type === "queue" && !config.resultQueues.includes(destination.queue)) {
      errors.push({
        path: `destinations.${which}.queue`,
        message: `unknown queue binding; available: ${config.resultQueues.join(", ") || "none"}`,
      });
    }
  }
  return errors;
}

/** The public shape of a function. */
export function functionView(record: FunctionRecord) {
  return {
    name: record.name,
    ...record.spec,
    paused: record.paused ?? false,
    submitUrl: `/v1/functions/${record.name}/tasks`,
    createdAt: new Date(record.createdAt).toISOString(),
    updatedAt: new Date(record.updatedAt).toISOString(),
  };
}

/** Send the newest record to every shard holding the function's tasks, so queued tasks see it at once. */
async function pushToShards(env: Env, record: FunctionRecord): Promise<void> {
  await Promise.all(shardsOf(record).map((name) => shard(env, name).upsertFunction(record)));
  rememberFunction(env, record);
}

export const functionRoutes = new Hono<GatewayEnv>()
  .get("/", async (c) => {
    const { limit, after } = pageQuery(c);
    const page = await registry(c.env).listFunctions(c.get("principal").account, limit, after);
    return c.json({ functions: page.functions.map(functionView), nextCursor: encodeNameCursor(page.next) });
  })
  .put("/:name", async (c) => {
    const name = newFunctionName(c.req.param("name"));
    const spec = await parseJsonBody(c, functionSpecSchema);
    const errors = targetProblems(c.env, spec);
    if (errors.length > 0) throw validationProblem(errors);
    const account = c.get("principal").account;
    const now = Date.now();
    const saved = await registry(c.env).putFunction({
      account,
      name,
      spec,
      shard: shardFor(account, name, spec.isolation, readConfig(c.env).sharedShards),
      version: now,
      createdAt: now,
      updatedAt: now,
    });
    await pushToShards(c.env, saved.record);
    return c.json(functionView(saved.record), saved.created ? 201 : 200);
  })
  .get("/:name", async (c) => {
    const record = await requireFunction(c.env, c.get("principal").account, c.req.param("name"));
    return c.json(functionView(record));
  })
  .delete("/:name", async (c) => {
    const account = c.get("principal").account;
    const name = functionName(c.req.param("name"));
    const removed = await registry(c.env).deleteFunction(account, name);
    forgetFunction(account, name);
    if (!removed) throw new Problem("not-found", `No function ${name}.`);
    const results = await Promise.all(
      shardsOf(removed).map((where) => shard(c.env, where).deleteFunction(account, name)),
    );
    return c.json({ deleted: name, cancelledTasks: results.reduce((n, r) => n + r.cancelled, 0) });
  })
  .post("/:name/:action{(?:pause|resume)}", async (c) => {
    const account = c.get("principal").account;
    const name = functionName(c.req.param("name"));
    const record = await registry(c.env).setPaused(account, name, c.req.param("action") === "pause");
    if (!record) throw new Problem("not-found", `No function ${name}.`);
    await pushToShards(c.env, record);
    return c.json(functionView(record));
  });
