/**
 * @module
 * Gateway middleware: the admin and tenant bearer checks, and the single error boundary that turns every failure
 * into RFC 9457 problem+json without leaking internals.
 */

import type { Context, ErrorHandler, MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import { bytesEqual, utf8 } from "../../src/encoding";
import { Problem } from "../../src/problem";
import { authenticate, type Principal } from "./lookups";

export type GatewayEnv = { Bindings: Env; Variables: { principal: Principal } };

function bearer(c: Context): string | undefined {
  const header = c.req.header("authorization");
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1];
}

export function requireAdmin(): MiddlewareHandler<GatewayEnv> {
  return async function requireAdmin(c, next) {
    const expected = c.env.ADMIN_TOKEN;
    if (!expected) throw new Problem("admin-disabled", "Set the ADMIN_TOKEN secret to enable the admin API.");
    const token = bearer(c);
    if (!token || !bytesEqual(utf8(token), utf8(expected))) {
      throw new Problem("unauthorized", "A valid admin bearer token is required.", {
        headers: { "www-authenticate": 'Bearer realm="sluice-admin"' },
      });
    }
    await next();
  };
}

export function requireTenant(): MiddlewareHandler<GatewayEnv> {
  return async function requireTenant(c, next) {
    const token = bearer(c);
    const principal = token?.startsWith("sk_") ? await authenticate(c.env, token) : null;
    if (!principal) {
      throw new Problem("unauthorized", "A valid API key is required (Authorization: Bearer sk_...).", {
        headers: { "www-authenticate": 'Bearer realm="sluice"' },
      });
    }
    c.set("principal", principal);
    await next();
  };
}

export function problemResponse(problem: Problem): Response {
  return new Response(JSON.stringify(problem.toBody()), {
    status: problem.status,
    headers: { "content-type": "application/problem+json", ...problem.headers },
  });
}

export const onError: ErrorHandler<GatewayEnv> = (error) => {
  if (error instanceof Problem) return problemResponse(error);
  if (error instanceof HTTPException && error.status < 500) {
    return problemResponse(new Problem(error.status === 413 ? "payload-too-large" : "validation", error.message));
  }
  console.error(JSON.stringify({ level: "error", message: "unhandled gateway error", error: String(error) }));
  return problemResponse(new Problem("internal", "Something went wrong; the request may be retried."));
};
