/**
 * Vitest global setup (runs in Node): a local webhook receiver for the workerd integration tests. It verifies every
 * delivery with the `standardwebhooks` package, not with Sluice's own code, and behaves as the path asks:
 *   /hook/ok        204
 *   /hook/fail3-*   500 for the first 3 requests of each webhook-id, then 200
 *   /hook/dead-*    500 always
 *   /hook/gone-*    410 Gone
 *   /hook/hang-*    never answers (logged with status 0) until POST /release/:name, then 204 (hung ones too)
 * Tests register an account's secrets (POST /secrets/:name) and read what arrived (GET /log/:name).
 */
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import type { TestProject } from "vitest/node";

interface Received {
  headers: Record<string, string>;
  body: string;
  verifiedBy: number[];
  status: number;
  /** When it arrived (ms since the epoch). */
  at: number;
}

declare module "vitest" {
  export interface ProvidedContext {
    receiverUrl: string;
  }
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const log = new Map<string, Received[]>();
  const secrets = new Map<string, string[]>();
  const seen = new Map<string, number>();
  /** Answers held by /hook/hang-*, by name, until that name is released. */
  const hung = new Map<string, (() => void)[]>();
  const released = new Set<string>();
  const server = createServer(async (request, response) => {
    const url = new URL(request.url ?? "/", "http://localhost");
    const body = await readBody(request);
    const [, kind, name = ""] = url.pathname.split("/");
    if (kind === "secrets" && request.method === "POST") {
      secrets.set(name, JSON.parse(body) as string[]);
      response.writeHead(204).end();
      return;
    }
    if (kind === "release" && request.method === "POST") {
      released.add(name);
      for (const answer of hung.get(name) ?? []) answer();
      hung.delete(name);
      response.writeHead(204).end();
      return;
    }
    if (kind === "log") {
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(log.get(name) ?? []));
      return;
    }
    if (kind !== "hook") {
      response.writeHead(404).end();
      return;
    }
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(request.headers)) if (typeof value === "string") headers[key] = value;
    const verifiedBy: number[] = [];
    (secrets.get(name) ?? []).forEach((secret, index) => {
      try {
        new Webhook(secret).verify(body, headers);
        verifiedBy.push(index);
      } catch {
        // not signed with this secret
      }
    });
    const id = headers["webhook-id"] ?? "";
    const count = (seen.get(`${name}/${id}`) ?? 0) + 1;
    seen.set(`${name}/${id}`, count);
    let status = 204;
    if (name.startsWith("fail3")) status = count <= 3 ? 500 : 200;
    if (name.startsWith("dead")) status = 500;
    if (name.startsWith("gone")) status = 410;
    const hangs = name.startsWith("hang") && !released.has(name);
    const entries = log.get(name) ?? [];
    entries.push({ headers, body, verifiedBy, status: hangs ? 0 : status, at: Date.now() });
    log.set(name, entries);
    if (hangs) {
      // Hold the answer; Sluice gives up after DELIVERY_TIMEOUT_MS, and a release answers whatever is still open.
      hung.set(name, [
        ...(hung.get(name) ?? []),
        () => {
          if (!response.destroyed && !response.writableEnded) response.writeHead(204).end();
        },
      ]);
      return;
    }
    response.writeHead(status).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  project.provide("receiverUrl", `http://127.0.0.1:${port}`);
  return () =>
    new Promise<void>((resolve) => {
      for (const answers of hung.values()) for (const answer of answers) answer();
      server.close(() => resolve());
    });
}
