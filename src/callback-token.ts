/**
 * @module
 * The `Sluice-Callback-Token` a long-running call carries: `cb_<account>.<32 random base64url chars>`, new for every
 * invocation and stored by the shard. The account part lets the gateway verify the task id's MAC (and so route only
 * to a shard Sluice minted) before it reads a body; the random part is the secret the shard compares.
 */

import { randomBytes, toBase64Url } from "./encoding";
import { ACCOUNT_ID } from "./schemas";

const PREFIX = "cb_";
const SECRET = /^[A-Za-z0-9_-]{32}$/;

export function mintCallbackToken(account: string): string {
  return `${PREFIX}${account}.${toBase64Url(randomBytes(24))}`;
}

/** The account a token names, or undefined for anything that is not shaped like a token Sluice mints. */
export function callbackTokenAccount(token: string): string | undefined {
  if (!token.startsWith(PREFIX) || token.length > 120) return undefined;
  const dot = token.indexOf(".");
  const account = token.slice(PREFIX.length, dot);
  const secret = token.slice(dot + 1);
  return dot > 0 && ACCOUNT_ID.test(account) && SECRET.test(secret) ? account : undefined;
}
