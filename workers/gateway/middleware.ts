/**
 * @module
 * Gateway middleware: the admin and tenant bearer checks, and the single error boundary that turns every failure
 * into RFC 9457 problem+json without leaking internals.
 */

import type { Context, ErrorHandler, MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import { bytesEqual, utf8 } from "../../src/encoding";
import { MAX_CONTENT_TYPE_LENGTH } from "../../src/limits";
import { Problem, validationProblem } from "../../src/problem";
import { logError } from "../platform/log";
import { authenticate, type Principal } from "../platform/registry-client";

export type GatewayEnv = { Bindings: Env; Variables: { principal: Principal } };

/** The bearer token, or why there is none (each reason gets its own 401 text). */
function bearer(c: Context): { token: string } | { missing: "header" | "malformed" } {
  const header = c.req.header("authorization");
  if (header === undefined || header.trim() === "") return { missing: "header" };
  const match = header.match(/^Bearer[ \t]+([!-~]{1,512})[ \t]*$/i);
  return match?.[1] ? { token: match[1] } : { missing: "malformed" };
}

function isAdminToken(c: Context<GatewayEnv>, token: string): boolean {
  const expected = c.env.ADMIN_TOKEN;
  return Boolean(expected) && bytesEqual(utf8(token), utf8(expected ?? ""));
}

function unauthorized(detail: string, realm: string): Problem {
  return new Problem("unauthorized", detail, { headers: { "www-authenticate": `Bearer realm="${realm}"` } });
}

const MALFORMED = "The Authorization header is malformed: send `Authorization: Bearer <token>`.";

export function requireAdmin(): MiddlewareHandler<GatewayEnv> {
  return async function requireAdmin(c, next) {
    if (!c.env.ADMIN_TOKEN) throw new Problem("admin-disabled", "Set the ADMIN_TOKEN secret to enable the admin API.");
    const found = bearer(c);
    if ("missing" in found) {
      throw unauthorized(
        found.missing === "header" ? "The admin API needs `Authorization: Bearer <ADMIN_TOKEN>`." : MALFORMED,
        "sluice-admin",
      );
    }
    if (!isAdminToken(c, found.token)) {
      throw unauthorized(
        found.token.startsWith("sk_")
          ? "This is a tenant API key; the admin API needs the admin token."
          : "The admin token is not valid.",
        "sluice-admin",
      );
    }
    await next();
  };
}

export function requireTenant(): MiddlewareHandler<GatewayEnv> {
  return async function requireTenant(c, next) {
    const found = bearer(c);
    if ("missing" in found) {
      throw unauthorized(
        found.missing === "header" ? "An API key is required: `Authorization: Bearer sk_...`." : MALFORMED,
        "sluice",
      );
    }
    if (isAdminToken(c, found.token)) {
      throw unauthorized("This is the admin token; tenant routes need an account's API key (sk_...).", "sluice");
    }
    const principal = found.token.startsWith("sk_") ? await authenticate(c.env, found.token) : null;
    if (!principal) throw unauthorized("The API key is not valid, or it was revoked.", "sluice");
    c.set("principal", principal);
    await next();
  };
}

/** A `Content-Type` over the limit is a 400 on every route (it would be stored with a payload and sent on calls). */
export function limitContentType(): MiddlewareHandler<GatewayEnv> {
  return async function limitContentType(c, next) {
    const type = c.req.header("content-type");
    if (type !== undefined && type.length > MAX_CONTENT_TYPE_LENGTH) {
      throw validationProblem(
        [{ path: "headers.content-type", message: `longer than ${MAX_CONTENT_TYPE_LENGTH} characters` }],
        "A header has a bad value.",
      );
    }
    await next();
  };
}

export function problemResponse(problem: Problem): Response {
  return new Response(JSON.stringify(problem.toBody()), {
    status: problem.status,
    headers: { "content-type": "application/problem+json", ...problem.headers },
  });
}

/** A refused request's unread body is read and dropped up to this much; beyond it, it is cancelled. */
const DRAIN_LIMIT_BYTES = 1024 * 1024;

/**
 * Let go of a refused request's unread body without holding it: otherwise the runtime still takes (and keeps) all of
 * it before the answer goes out. A small one is drained chunk by chunk behind the answer (cheap, and a client or
 * proxy still sending it sees a clean answer, not a reset); past DRAIN_LIMIT_BYTES the stream is cancelled.
 */
function discardBody(request: Request, waitUntil: ((p: Promise<unknown>) => void) | undefined): void {
  const body = request.body;
  if (!body || request.bodyUsed || body.locked) return;
  const drain = (async () => {
    const reader = body.getReader();
    let seen = 0;
    try {
      while (seen <= DRAIN_LIMIT_BYTES) {
        const { done, value } = await reader.read();
        if (done) return;
        seen += value.byteLength;
      }
      await reader.cancel();
    } catch {
      // the client went away
    }
  })();
  waitUntil?.(drain);
}

function executionWaitUntil(c: Context<GatewayEnv>): ((p: Promise<unknown>) => void) | undefined {
  try {
    const ctx = c.executionCtx;
    return (p) => ctx.waitUntil(p);
  } catch {
    return undefined;
  }
}

export const onError: ErrorHandler<GatewayEnv> = (error, c) => {
  discardBody(c.req.raw, executionWaitUntil(c));
  if (error instanceof Problem) return problemResponse(error);
  if (error instanceof HTTPException && error.status < 500) {
    return problemResponse(new Problem(error.status === 413 ? "payload-too-large" : "validation", error.message));
  }
  logError("unhandled gateway error", error);
  return problemResponse(new Problem("internal", "Something went wrong; the request may be retried."));
};
