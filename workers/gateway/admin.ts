/**
 * @module
 * Admin API (`Authorization: Bearer $ADMIN_TOKEN`): accounts and their API keys.
 */

import { Hono } from "hono";
import { Problem } from "../../src/problem";
import type { ShardAccountLimits } from "../../src/records";
import { ACCOUNT_ID, createAccountSchema, updateAccountSchema } from "../../src/schemas";
import { forgetKey, registry } from "../platform/registry-client";
import { type GatewayEnv, requireAdmin } from "./middleware";
import { encodeNameCursor, pageQuery } from "./paging";
import { shard, shardsOfAccount } from "./shards";
import { parseJsonBody } from "./validation";

function accountId(id: string): string {
  if (!ACCOUNT_ID.test(id)) throw new Problem("not-found", `No account ${JSON.stringify(id)}.`);
  return id;
}

/**
 * Every shard holding the account's functions (and their earlier shards) learns the new concurrency limit now, not
 * with the account's next submission.
 */
async function tellShards(env: Env, account: string, limits: ShardAccountLimits): Promise<void> {
  const names = await shardsOfAccount(env, account);
  await Promise.all(names.map((name) => shard(env, name).setAccountLimits(account, limits)));
}

export const adminRoutes = new Hono<GatewayEnv>()
  .use(requireAdmin())
  .post("/", async (c) => {
    const input = await parseJsonBody(c, createAccountSchema);
    const created = await registry(c.env).createAccount(input);
    if (!created.ok) throw new Problem("conflict", `Account ${input.id} already exists.`);
    const { ok: _ok, ...body } = created;
    return c.json(body, 201, { location: `/v1/accounts/${created.id}` });
  })
  .get("/", async (c) => {
    const { limit, after } = pageQuery(c);
    const page = await registry(c.env).listAccounts(limit, after);
    return c.json({ accounts: page.accounts, nextCursor: encodeNameCursor(page.next) });
  })
  .get("/:id", async (c) => {
    const account = await registry(c.env).getAccount(accountId(c.req.param("id")));
    if (!account) throw new Problem("not-found", `No account ${c.req.param("id")}.`);
    return c.json(account);
  })
  .patch("/:id", async (c) => {
    const id = accountId(c.req.param("id"));
    const { limits } = await parseJsonBody(c, updateAccountSchema);
    const updated = await registry(c.env).setLimits(id, limits);
    if (!updated) throw new Problem("not-found", `No account ${id}.`);
    await tellShards(c.env, id, { maxConcurrency: limits.maxConcurrency ?? null, version: updated.limitsVersion });
    return c.json(updated.view);
  })
  .post("/:id/keys", async (c) => {
    const key = await registry(c.env).addKey(accountId(c.req.param("id")));
    if (!key) throw new Problem("not-found", `No account ${c.req.param("id")}.`);
    return c.json(key, 201);
  })
  .delete("/:id/keys/:keyPrefix", async (c) => {
    const revoked = await registry(c.env).revokeKey(accountId(c.req.param("id")), c.req.param("keyPrefix"));
    forgetKey(c.req.param("id"), c.req.param("keyPrefix"));
    if (!revoked)
      throw new Problem("not-found", `No live key ${c.req.param("keyPrefix")} on account ${c.req.param("id")}.`);
    return c.body(null, 204);
  });
