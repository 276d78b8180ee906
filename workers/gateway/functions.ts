/**
 * @module
 * Tenant function management: `PUT/GET/DELETE /v1/functions/:name` and `GET /v1/functions`.
 */

import { Hono } from "hono";
import { readConfig } from "../../src/config";
import { Problem, validationProblem, type FieldError } from "../../src/problem";
import { shardFor } from "../../src/placement";
import type { FunctionRecord } from "../../src/records";
import { FUNCTION_NAME, functionSpecSchema, type FunctionSpec } from "../../src/schemas";
import { outboundUrlProblem } from "../../src/ssrf";
import { findFunction, forgetFunction, registry, rememberFunction } from "./lookups";
import { requireTenant, type GatewayEnv } from "./middleware";
import { parseJsonBody } from "./validation";

export function functionName(name: string): string {
  if (!FUNCTION_NAME.test(name)) throw new Problem("not-found", `No function ${JSON.stringify(name)}.`);
  return name;
}

/** Checks that need the deployment's configuration: SSRF rules and which service bindings exist. */
function targetProblems(env: Env, spec: FunctionSpec): FieldError[] {
  const config = readConfig(env);
  const errors: FieldError[] = [];
  if (spec.target.type === "url") {
    const problem = outboundUrlProblem(spec.target.url, config.allowPrivateTargets);
    if (problem) errors.push({ path: "target.url", message: problem });
  } else {
    const binding = (env as unknown as Record<string, unknown>)[spec.target.service];
    if (!config.serviceTargets.includes(spec.target.service) || typeof (binding as Fetcher | undefined)?.fetch !== "function") {
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
  }
  return errors;
}

/** The public shape of a function. */
export function functionView(record: FunctionRecord) {
  return {
    name: record.name,
    ...record.spec,
    submitUrl: `/v1/functions/${record.name}/tasks`,
    createdAt: new Date(record.createdAt).toISOString(),
    updatedAt: new Date(record.updatedAt).toISOString(),
  };
}

export const functionRoutes = new Hono<GatewayEnv>()
  .use(requireTenant())
  .get("/", async (c) => {
    const records = await registry(c.env).listFunctions(c.get("principal").account);
    return c.json({ functions: records.map(functionView) });
  })
  .put("/:name", async (c) => {
    const name = functionName(c.req.param("name"));
    const spec = await parseJsonBody(c, functionSpecSchema);
    const errors = targetProblems(c.env, spec);
    if (errors.length > 0) throw validationProblem(errors);
    const account = c.get("principal").account;
    const now = Date.now();
    const record: FunctionRecord = {
      account,
      name,
      spec,
      shard: shardFor(account, name, spec.isolation, readConfig(c.env).sharedShards),
      version: now,
      createdAt: now,
      updatedAt: now,
    };
    const saved = await registry(c.env).putFunction(record);
    // Tell the shard now, so queued tasks run with the new settings without waiting for the next submission.
    await c.env.SHARD.getByName(saved.record.shard).upsertFunction(saved.record.shard, saved.record);
    rememberFunction(c.env, saved.record);
    return c.json(functionView(saved.record), saved.created ? 201 : 200);
  })
  .get("/:name", async (c) => {
    const record = await findFunction(c.env, c.get("principal").account, functionName(c.req.param("name")));
    if (!record) throw new Problem("not-found", `No function ${c.req.param("name")}.`);
    return c.json(functionView(record));
  })
  .delete("/:name", async (c) => {
    const account = c.get("principal").account;
    const name = functionName(c.req.param("name"));
    const removed = await registry(c.env).deleteFunction(account, name);
    forgetFunction(account, name);
    if (!removed) throw new Problem("not-found", `No function ${name}.`);
    const { cancelled } = await c.env.SHARD.getByName(removed.shard).deleteFunction(removed.shard, account, name);
    return c.json({ deleted: name, cancelledTasks: cancelled });
  });
