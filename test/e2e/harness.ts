/**
 * @module
 * End-to-end harness: the real platform under `wrangler dev` (shared with the benchmarks, see bench/lib.mjs) and a
 * recording tenant function served by node:http on a free loopback port.
 */

import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
// biome-ignore lint/suspicious/noTsIgnore: test/e2e is type-checked only where it opts in; the harness is plain ESM
// @ts-ignore -- plain ESM shared with bench/run.mjs; test/e2e is not part of the type-checked project.
import * as lib from "../../bench/lib.mjs";

export interface Platform {
  readonly url: string;
  readonly port: number;
  /** Process group of wrangler and its workerd children. */
  readonly pid: number;
  readonly adminToken: string;
  logs(): string;
  stop(): Promise<void>;
  /** SIGKILL the whole process group (a crash); local state in `stateDir` survives for the next start. */
  kill(): Promise<void>;
}

export interface Account {
  readonly id: string;
  readonly apiKey: string;
  readonly webhookSecret: string;
}

export interface TaskView {
  id: string;
  function: string;
  state: string;
  attempts: number;
  createdAt: string;
  updatedAt: string;
  timeline: Record<string, string | null>;
  attemptLog: { attempt: number; startedAt: string; durationMs: number; status?: number; error?: unknown }[];
  result?: unknown;
  resultEncoding?: string;
  resultContentType?: string;
  error?: unknown;
}

export const startPlatform: (
  extraVars?: Record<string, string>,
  options?: { stateDir?: string; port?: number; adminToken?: string },
) => Promise<Platform> = lib.startPlatform;
export const freePort: () => Promise<number> = lib.freePort;
export const createAccount: (base: string, adminToken: string, id: string) => Promise<Account> = lib.createAccount;
export const putFunction: (
  base: string,
  apiKey: string,
  name: string,
  spec: unknown,
) => Promise<Record<string, unknown>> = lib.putFunction;
export const call: (
  base: string,
  method: string,
  path: string,
  options?: { token?: string; json?: unknown; body?: BodyInit; headers?: Record<string, string>; timeoutMs?: number },
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies of the public API, read loosely by an end-to-end test
) => Promise<{ status: number; headers: Headers; body: any; text: string }> = lib.call;
export const getTask: (base: string, apiKey: string, id: string) => Promise<TaskView> = lib.getTask;
export const waitForTask: (
  base: string,
  apiKey: string,
  id: string,
  options?: { timeoutMs?: number; intervalMs?: number },
) => Promise<TaskView> = lib.waitForTask;
export const waitFor: <T>(
  check: () => Promise<T>,
  options?: { timeoutMs?: number; intervalMs?: number; what?: string },
) => Promise<T> = lib.waitFor;

/** One request the local tenant function received. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly at: number;
}

export type Responder = (request: RecordedRequest, res: ServerResponse) => void;

/** A node:http server on 127.0.0.1 that records every request and answers through `respond`. */
export async function startRecordingServer(respond: Responder): Promise<{
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const recorded: RecordedRequest = {
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks),
        at: Date.now(),
      };
      requests.push(recorded);
      try {
        respond(recorded, res);
      } catch (error) {
        res.writeHead(599).end(String(error));
      }
    });
  });
  server.keepAliveTimeout = 1_000;
  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
