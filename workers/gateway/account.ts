/**
 * @module
 * The caller's own account: `POST /v1/account/webhook-secret:rotate`.
 */

import { Hono } from "hono";
import { readConfig } from "../../src/config";
import { Problem } from "../../src/problem";
import { forgetSigningSecrets, registry } from "../platform/registry-client";
import type { GatewayEnv } from "./middleware";

export const accountRoutes = new Hono<GatewayEnv>().post("/:action{webhook-secret:rotate}", async (c) => {
  const account = c.get("principal").account;
  const graceMs = readConfig(c.env).webhookSecretGraceMs;
  const webhookSecret = await registry(c.env).rotateWebhookSecret(account, graceMs);
  if (!webhookSecret) throw new Problem("not-found", "No such account.");
  forgetSigningSecrets(account);
  return c.json({ webhookSecret, previousSecretValidUntil: new Date(Date.now() + graceMs).toISOString() });
});
