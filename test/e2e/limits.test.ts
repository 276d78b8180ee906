/**
 * End-to-end under `wrangler dev`: size limits hold while streaming (a body over its limit is refused before the rest
 * is read, so workerd's memory stays flat), a tenant function's answer is capped, function and webhook URLs cannot
 * name private hosts when ALLOW_PRIVATE_TARGETS is off, and network errors reach the tenant as one generic message.
 *
 * Memory is the summed VmRSS of the platform's workerd processes (rss.ts), sampled every 20 ms around each large
 * request; each measurement is printed as it is taken.
 *
 * `wrangler dev` runs two workerd processes: its own proxy on the public port, and behind it the one serving the
 * Workers. The streaming caps (A1, A3-A5) are checked twice: sent straight to the latter's own HTTP socket (found with
 * findUserWorkerd), where the Worker's answer reaches the client as it is, the whole contract is asserted; through
 * the public port only what wrangler's proxy cannot spoil is (see "through wrangler's proxy" below).
 */

import { randomBytes } from "node:crypto";
import { readSync, writeSync } from "node:fs";
import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import { createConnection, createServer as createTcpServer, type Socket, type Server as TcpServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Account,
  call,
  createAccount,
  freePort,
  type Platform,
  putFunction,
  startPlatform,
  startRecordingServer,
  type TaskView,
  waitForTask,
} from "./harness";
import { describeRss, findUserWorkerd, MB, measureRss, type RssMeasurement } from "./rss";

const MiB = 1024 * 1024;
const PROBLEM_JSON = /^application\/problem\+json/;
const TOO_LARGE = "https://sluice.dev/problems/payload-too-large";
const NOT_FOUND = "https://sluice.dev/problems/not-found";

/** Growth of workerd's summed RSS (peak minus before) a refused upload may cause. */
const UPLOAD_GROWTH_LIMIT_MB = 40;
/**
 * Growth a 40 MB callback body refused before it is read may cause. The upload bound above would not tell such a body
 * kept whole (about +37 MB measured) from one refused unread, so it is tighter here.
 */
const UNREAD_CALLBACK_GROWTH_LIMIT_MB = 20;
/** Growth a capped (10 MiB) tenant answer may cause. */
const ANSWER_GROWTH_LIMIT_MB = 60;
/**
 * What the client's socket and the loopback buffers may hold on top of what the Worker read when its answer arrives,
 * for a request sent straight to the Worker's workerd: up to 8 MiB over a 1 MiB cap and 11.3 MiB over the 10 MiB one
 * measured in 50 tries each (the kernel grows a loopback receive buffer up to net.ipv4.tcp_rmem's maximum, 32 MiB
 * here). An answer with fewer bytes accepted than cap + this came long before the client could send the whole body;
 * one that waits for the whole body shows every byte accepted. (Through wrangler's proxy, which buffers too, 413s
 * came with up to 15 MiB accepted at a 1 MiB cap and 25 MiB at 10 MiB; those cases do not check it.)
 */
const DIRECT_IN_FLIGHT_SLACK = 16 * MiB;

function log(line: string): void {
  console.log(`[limits] ${line}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Streaming a large request body

/** A body described by its parts, generated on the fly: literal text, or `bytes` repetitions of one character. */
type BodyPart = string | { fill: string; bytes: number };

function bodyLength(parts: readonly BodyPart[]): number {
  return parts.reduce((n, part) => n + (typeof part === "string" ? Buffer.byteLength(part) : part.bytes), 0);
}

function* bodyChunks(parts: readonly BodyPart[], chunkSize = MiB): Generator<Buffer> {
  const fills = new Map<string, Buffer>();
  for (const part of parts) {
    if (typeof part === "string") {
      if (part.length > 0) yield Buffer.from(part);
      continue;
    }
    let fill = fills.get(part.fill);
    if (!fill) fills.set(part.fill, (fill = Buffer.alloc(chunkSize, part.fill)));
    for (let left = part.bytes; left > 0; left -= chunkSize) yield fill.subarray(0, Math.min(chunkSize, left));
  }
}

interface Streamed {
  /** 0 when no answer came (see `error`). */
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies of the public API, read loosely by an end-to-end test
  body: any;
  totalBytes: number;
  /** Body bytes the kernel had taken (write(2) returned) when the answer's first byte was read. */
  bytesAtResponse: number | undefined;
  /** Body bytes the kernel took in all. */
  bytesAccepted: number;
  /** The whole body was written before the answer came. */
  sentAll: boolean;
  ms: number;
  error?: string;
}

/** Where a request is sent: wrangler's public port, or the Worker's workerd's own socket. */
interface Target {
  readonly host: string;
  readonly port: number;
}

interface ParsedAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  complete: boolean;
}

/** An HTTP/1.1 answer read so far (1xx heads skipped); undefined until its head is whole. */
function parseAnswer(bytes: Buffer, ended: boolean): ParsedAnswer | undefined {
  let start = 0;
  for (;;) {
    const headEnd = bytes.indexOf("\r\n\r\n", start);
    if (headEnd < 0) return undefined;
    const lines = bytes.subarray(start, headEnd).toString("latin1").split("\r\n");
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "")?.[1] ?? 0);
    if (!status) return { status: 0, headers: {}, text: bytes.toString("latin1").slice(0, 1_000), complete: true };
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const rest = bytes.subarray(headEnd + 4);
    if (status < 200) {
      start = headEnd + 4;
      continue;
    }
    let body: Buffer;
    let complete: boolean;
    if (status === 204 || status === 304) {
      body = Buffer.alloc(0);
      complete = true;
    } else if (/\bchunked\b/i.test(headers["transfer-encoding"] ?? "")) {
      const pieces: Buffer[] = [];
      let at = 0;
      complete = false;
      for (;;) {
        const lineEnd = rest.indexOf("\r\n", at);
        if (lineEnd < 0) break;
        const size = parseInt(rest.subarray(at, lineEnd).toString("latin1"), 16);
        if (Number.isNaN(size)) break;
        if (size === 0) {
          complete = true;
          break;
        }
        if (rest.length < lineEnd + 2 + size) break;
        pieces.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
        at = lineEnd + 2 + size + 2;
      }
      body = Buffer.concat(pieces);
    } else if (headers["content-length"] !== undefined) {
      const length = Number(headers["content-length"]);
      body = rest.subarray(0, length);
      complete = rest.length >= length;
    } else {
      body = rest;
      complete = ended;
    }
    return { status, headers, text: body.toString("utf8").slice(0, 100_000), complete };
  }
}

function errnoCode(error: unknown): string {
  return (error as NodeJS.ErrnoException | undefined)?.code ?? String(error);
}

/**
 * Send `parts` as a request body (chunked unless `contentLength` is given) and read the answer, with `Connection:
 * close`; stop writing as soon as the answer's first byte arrives or a write fails. With `stopAfterBytes` only that
 * much is written and then the answer is awaited.
 *
 * Not node:http: the connection is driven with non-blocking read(2)/write(2) on its descriptor (net.Socket only
 * connects it, and never reads or writes it itself), reading whatever has arrived before every write of at most 1 MiB
 * and again after a write fails. A server that answers early and then closes (workerd does, `Connection: close`)
 * resets the connection while the client is still sending; node:http (and net.Socket) then destroy the socket on the
 * failed write (EPIPE) with the answer still unread in the kernel's buffer, and report the EPIPE instead of it. Sent
 * straight to the Worker's workerd, 10-50 % of node:http tries lost their 413/404 that way. Linux keeps bytes already
 * received readable after a reset, so this client gets every answer that reached it.
 */
async function streamRequest(
  target: Target,
  method: string,
  path: string,
  parts: readonly BodyPart[],
  {
    headers = {},
    contentLength,
    stopAfterBytes,
    timeoutMs = 90_000,
  }: { headers?: Record<string, string>; contentLength?: number; stopAfterBytes?: number; timeoutMs?: number } = {},
): Promise<Streamed> {
  const totalBytes = bodyLength(parts);
  const started = Date.now();
  const deadline = started + timeoutMs;
  const result: Streamed = {
    status: 0,
    headers: {},
    text: "",
    body: undefined,
    totalBytes,
    bytesAtResponse: undefined,
    bytesAccepted: 0,
    sentAll: false,
    ms: 0,
  };
  const finish = (answer: ParsedAnswer | undefined, error?: string): Streamed => {
    if (answer && answer.status) {
      result.status = answer.status;
      result.headers = answer.headers;
      result.text = answer.text;
    }
    if (error && (result.status === 0 || !answer?.complete)) result.error = error;
    result.ms = Date.now() - started;
    try {
      result.body = result.text ? JSON.parse(result.text) : undefined;
    } catch {
      result.body = undefined;
    }
    return result;
  };

  const chunked = contentLength === undefined;
  const head =
    `${method} ${path} HTTP/1.1\r\nhost: ${target.host.includes(":") ? `[${target.host}]` : target.host}:${target.port}\r\n` +
    Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join("") +
    (chunked ? "transfer-encoding: chunked\r\n" : `content-length: ${contentLength}\r\n`) +
    "connection: close\r\n\r\n";
  /** What goes on the wire, in order; `body` marks bytes of the body itself (not head or chunk framing). */
  function* wire(): Generator<{ bytes: Buffer; body: boolean }> {
    yield { bytes: Buffer.from(head, "latin1"), body: false };
    let handed = 0;
    for (let chunk of bodyChunks(parts)) {
      if (stopAfterBytes !== undefined) {
        if (handed >= stopAfterBytes) return;
        chunk = chunk.subarray(0, stopAfterBytes - handed);
      }
      handed += chunk.length;
      if (chunked) yield { bytes: Buffer.from(`${chunk.length.toString(16)}\r\n`), body: false };
      yield { bytes: chunk, body: true };
      if (chunked) yield { bytes: Buffer.from("\r\n"), body: false };
    }
    if (stopAfterBytes !== undefined) return; // the rest of the body is never sent; the answer is awaited
    if (chunked) yield { bytes: Buffer.from("0\r\n\r\n"), body: false };
  }

  const socket = createConnection({ host: target.host, port: target.port });
  socket.pause(); // so net.Socket never starts reading it: all I/O goes through the descriptor
  try {
    const connectError = await new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(`no connection within ${timeoutMs} ms`), timeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        resolve(undefined);
      });
      socket.once("error", (error) => {
        clearTimeout(timer);
        resolve(String(error));
      });
    });
    socket.on("error", () => {});
    if (connectError) return finish(undefined, connectError);
    // Node keeps the descriptor on the (internal) handle; libuv has it in non-blocking mode.
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (typeof fd !== "number" || fd < 0) throw new Error("the connected socket exposes no file descriptor");

    const segments = wire();
    let segment = segments.next().value as { bytes: Buffer; body: boolean } | undefined;
    let offset = 0;
    let writing = true;
    let writeError: string | undefined;
    let readError: string | undefined;
    let ended = false;
    const received: Buffer[] = [];
    const readBuffer = Buffer.allocUnsafe(256 * 1024);
    let answer: ParsedAnswer | undefined;
    for (;;) {
      let progressed = false;
      // Read everything that has arrived, before writing anything more.
      while (!ended && readError === undefined) {
        let n: number;
        try {
          n = readSync(fd, readBuffer, 0, readBuffer.length, null);
        } catch (error) {
          const code = errnoCode(error);
          if (code !== "EAGAIN" && code !== "EWOULDBLOCK") readError = `read ${code}`;
          break;
        }
        if (n === 0) {
          ended = true;
          break;
        }
        progressed = true;
        if (result.bytesAtResponse === undefined) result.bytesAtResponse = result.bytesAccepted;
        writing = false;
        received.push(Buffer.from(readBuffer.subarray(0, n)));
      }
      if (progressed || ended || readError !== undefined) {
        answer = parseAnswer(Buffer.concat(received), ended || readError !== undefined);
        if (answer?.complete) return finish(answer);
        if (ended || readError !== undefined) {
          const got = received.reduce((n, piece) => n + piece.length, 0);
          const why =
            (readError ?? "the connection closed") +
            (got === 0
              ? " with no answer"
              : ` after ${got} bytes of an answer${answer ? "" : " (its head incomplete)"}`);
          return finish(answer, writeError ? `${writeError}, then ${why}` : why);
        }
      }
      if (writing && segment) {
        try {
          const n = writeSync(fd, segment.bytes, offset, Math.min(segment.bytes.length - offset, MiB));
          if (n > 0) progressed = true;
          if (segment.body) result.bytesAccepted += n;
          offset += n;
          if (offset >= segment.bytes.length) {
            const next = segments.next();
            segment = next.done ? undefined : next.value;
            offset = 0;
            if (!segment && stopAfterBytes === undefined) result.sentAll = true;
          }
        } catch (error) {
          const code = errnoCode(error);
          if (code !== "EAGAIN" && code !== "EWOULDBLOCK") {
            writeError = `write ${code}`;
            writing = false;
            progressed = true; // read what the server sent before it went away
          }
        }
      }
      if (Date.now() > deadline) {
        return finish(answer, `no complete answer within ${timeoutMs} ms${writeError ? ` (${writeError})` : ""}`);
      }
      await new Promise<void>((wake) => (progressed ? setImmediate(wake) : setTimeout(wake, 1)));
    }
  } finally {
    socket.destroy();
  }
}

function describeStreamed(s: Streamed): string {
  const mb = (n: number | undefined) => (n === undefined ? "-" : (n / MB).toFixed(1));
  return (
    `HTTP ${s.status}${s.error ? ` (${s.error})` : ""} after ${s.ms} ms` +
    `${s.status ? ` (content-type ${JSON.stringify(s.headers["content-type"] ?? null)})` : ""}; body ${mb(s.totalBytes)} MB, ` +
    `accepted ${mb(s.bytesAtResponse)} MB when the answer came, ${mb(s.bytesAccepted)} MB in all; ` +
    `answer ${JSON.stringify(s.text.slice(0, 200))}`
  );
}

function expectProblem(
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies of the public API, read loosely by an end-to-end test
  s: { status: number; headers: IncomingHttpHeaders | Headers; body: any; text: string; error?: string },
  status: number,
  type?: string,
): void {
  const contentType = s.headers instanceof Headers ? s.headers.get("content-type") : s.headers["content-type"];
  const context = `HTTP ${s.status}${s.error ? ` (${s.error})` : ""}: ${s.text.slice(0, 500)}`;
  expect(s.status, context).toBe(status);
  expect(contentType ?? "", context).toMatch(PROBLEM_JSON);
  expect(s.body?.status, context).toBe(status);
  if (type) expect(s.body?.type, context).toBe(type);
  else expect(s.body?.type, context).toMatch(/^https:\/\/sluice\.dev\/problems\//);
  expect(s.text, context).not.toMatch(/\bat .*\.(ts|js):\d+/); // no stack trace
}

// ---------------------------------------------------------------------------------------------------------------
// A tenant function that answers with a huge body

interface BigAnswerStats {
  calls: number;
  bytesSent: number;
  clientClosedEarly: boolean;
  finished: boolean;
}

const BIG_ANSWER_BYTES = 400 * MB;

function streamBigAnswer(res: ServerResponse, stats: BigAnswerStats, declareLength: boolean): void {
  stats.calls++;
  res.writeHead(200, {
    "content-type": "application/octet-stream",
    ...(declareLength ? { "content-length": String(BIG_ANSWER_BYTES) } : {}),
  });
  const chunk = Buffer.alloc(MiB, 0x62);
  let closed = false;
  res.on("close", () => {
    closed = true;
    if (!stats.finished) stats.clientClosedEarly = true;
  });
  const pump = () => {
    while (!closed && stats.bytesSent < BIG_ANSWER_BYTES) {
      const n = Math.min(MiB, BIG_ANSWER_BYTES - stats.bytesSent);
      stats.bytesSent += n;
      if (!res.write(chunk.subarray(0, n))) {
        res.once("drain", pump);
        return;
      }
    }
    if (!closed) {
      stats.finished = true;
      res.end();
    }
  };
  pump();
}

// ---------------------------------------------------------------------------------------------------------------

describe("default platform (ALLOW_PRIVATE_TARGETS=true)", () => {
  let platform: Platform;
  let account: Account;
  let tenant: Awaited<ReturnType<typeof startRecordingServer>>;
  let resetServer: TcpServer;
  const resetSockets = new Set<Socket>();
  let resetPort = 0;
  const bigChunked: BigAnswerStats = { calls: 0, bytesSent: 0, clientClosedEarly: false, finished: false };
  const bigLength: BigAnswerStats = { calls: 0, bytesSent: 0, clientClosedEarly: false, finished: false };
  const authorization = () => ({ authorization: `Bearer ${account.apiKey}` });

  beforeAll(async () => {
    tenant = await startRecordingServer((request, res) => {
      if (request.path.startsWith("/big-chunked")) return streamBigAnswer(res, bigChunked, false);
      if (request.path.startsWith("/big-length")) return streamBigAnswer(res, bigLength, true);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true }));
    });
    // Accepts the TCP connection, then drops it without a byte of answer.
    resetPort = await freePort();
    resetServer = createTcpServer((socket) => {
      resetSockets.add(socket);
      socket.on("close", () => resetSockets.delete(socket));
      socket.on("error", () => {});
      socket.once("data", () => socket.destroy());
      setTimeout(() => socket.destroy(), 50);
    });
    await new Promise<void>((resolve, reject) => {
      resetServer.once("error", reject);
      resetServer.listen(resetPort, "127.0.0.1", () => resolve());
    });

    platform = await startPlatform();
    account = await createAccount(platform.url, platform.adminToken, `e2e-lim-${randomBytes(4).toString("hex")}`);
    await putFunction(platform.url, account.apiKey, "sink", { target: { type: "service", service: "DEMO_FN" } });
    await putFunction(platform.url, account.apiKey, "warm", { target: { type: "service", service: "DEMO_FN" } });
    // Warm the isolates up (a body under the limit through the same paths, both ways in), so the baselines below are
    // steady.
    for (const target of [publicTarget(), await directTarget(), publicTarget(), await directTarget()]) {
      const warm = await streamRequest(target, "POST", "/v1/functions/warm/tasks", [{ fill: "w", bytes: 512 * 1024 }], {
        headers: { ...authorization(), "content-type": "application/octet-stream" },
      });
      expect(warm.status, describeStreamed(warm)).toBe(202);
      const task = await waitForTask(platform.url, account.apiKey, warm.body.id, { timeoutMs: 30_000 });
      expect(task.state).toBe("succeeded");
    }
  });

  afterAll(async () => {
    await platform?.stop();
    await tenant?.close();
    for (const socket of resetSockets) socket.destroy();
    await new Promise<void>((resolve) => (resetServer ? resetServer.close(() => resolve()) : resolve()));
  });

  /** Wrangler's public port (its proxy workerd in front of the Worker's). */
  const publicTarget = (): Target => ({ host: "127.0.0.1", port: platform.port });
  /** The Worker's workerd's own HTTP socket, looked up afresh each time (wrangler restarts it on new ports on reload). */
  let lastDirect = "";
  async function directTarget(): Promise<Target> {
    const found = await findUserWorkerd(platform);
    if (`${found.host}:${found.port}` !== lastDirect)
      log(`user workerd: ${found.host}:${found.port} (pid ${found.pid}); ${found.describe}`);
    lastDirect = `${found.host}:${found.port}`;
    return found;
  }

  /** Stream a body over its limit, print what happened, and return it with the memory it cost. */
  async function refused(
    what: string,
    via: "direct" | "proxy",
    method: string,
    path: string,
    parts: readonly BodyPart[],
    options: Parameters<typeof streamRequest>[4] = {},
  ): Promise<RssMeasurement<Streamed>> {
    const target = via === "direct" ? await directTarget() : publicTarget();
    const label = `${what} (${via === "direct" ? `direct to the Worker's workerd, port ${target.port}` : `via wrangler's proxy, port ${target.port}`})`;
    const measured = await measureRss(platform.pid, () => streamRequest(target, method, path, parts, options));
    log(`${label}: ${describeStreamed(measured.value)}`);
    log(`${label}: ${describeRss(measured)}`);
    return measured;
  }

  /**
   * Through wrangler's public port: the early answer to an oversized chunked body does not reliably reach the client.
   * Wrangler's local dev proxy (its own workerd in front of the Worker's, with miniflare's entry worker) sometimes
   * resets the client's connection with no answer, or answers a plain-text 500 "Error: Network connection lost." of
   * its own, while the same request sent straight to the Worker's workerd gets the Worker's 413/404 every time, with a
   * few MiB accepted (each such case's direct twin asserts exactly that). That is wrangler's dev proxy, not the
   * Worker, so only those two outcomes are tolerated here. The connection going away with no answer reads
   * ECONNRESET, or EPIPE when a write is what notices the reset (the proxy's FIN came first), and now and then (3 in
   * 200 tries) a plain close; in every case streamRequest found no answer in the kernel's buffer, and no byte of one.
   * Any HTTP answer must be the Worker's problem+json: a 500 that is a Sluice problem (or any 500 other than
   * miniflare's text) is the Worker failing, and fails the test.
   */
  function expectThroughProxy(s: Streamed, status: number, type: string): void {
    if (s.status === 0) {
      expect(s.error, describeStreamed(s)).toMatch(
        /^(?:write (?:EPIPE|ECONNRESET), then )?(?:read (?:ECONNRESET|EPIPE)|the connection closed) with no answer$/,
      );
      log(`  tolerated: wrangler's proxy dropped the connection without an answer (${s.error})`);
      return;
    }
    if (isProxyConnectionLost(s)) {
      log('  tolerated: miniflare\'s entry worker answered its plain-text 500 "Network connection lost"');
      return;
    }
    expectProblem(s, status, type);
  }

  /**
   * Miniflare's own 500 (text/plain "Error: Network connection lost." and its entry worker's stack), not the Worker's
   * (which is always problem+json).
   */
  function isProxyConnectionLost(s: Streamed): boolean {
    const contentType = String(s.headers["content-type"] ?? "");
    return s.status === 500 && /^text\/plain\b/.test(contentType) && /^Error: Network connection lost\./.test(s.text);
  }

  /** A task id that names a real shard (kept from a real id) with a random body and MAC: no such task exists. */
  async function bogusTaskId(): Promise<string> {
    const submitted = await call(platform.url, "POST", "/v1/functions/warm/tasks", {
      token: account.apiKey,
      json: { n: 1 },
    });
    expect(submitted.status, submitted.text).toBe(202);
    const [prefixAndShard] = String(submitted.body.id).split(".");
    const bogus = `${prefixAndShard}.${randomBytes(16).toString("base64url")}.${randomBytes(12).toString("base64url")}`;
    expect(bogus).toMatch(/^tsk_[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{16}$/);
    return bogus;
  }

  async function expectNoTaskNamed(id: string): Promise<void> {
    for (const path of [`/v1/tasks/${id}`, `/v1/tasks/${id}/result`]) {
      const seen = await call(platform.url, "GET", path, { token: account.apiKey });
      expect(seen.status, `${path}: ${seen.text}`).toBe(404);
    }
  }

  async function expectNoFunction(name: string): Promise<void> {
    const after = await call(platform.url, "GET", `/v1/functions/${name}`, { token: account.apiKey });
    expect(after.status, after.text).toBe(404);
  }

  const A1_PARTS: BodyPart[] = [{ fill: "a", bytes: 80 * MB }];
  /**
   * 100 items (the most a batch may hold) of 300 kB each: every item is under the 1 MiB payload limit, the whole
   * request is not under 10 MiB.
   */
  const A3_PARTS: BodyPart[] = ["["];
  for (let i = 0; i < 100; i++) A3_PARTS.push(`${i ? "," : ""}{"payload":"`, { fill: "b", bytes: 300_000 }, `"}`);
  A3_PARTS.push("]");
  const A4_PARTS: BodyPart[] = [
    '{"target":{"type":"service","service":"DEMO_FN"},"description":"',
    { fill: "c", bytes: 80 * MB },
    '"}',
  ];
  const A5_PARTS: BodyPart[] = ['{"ok":true,"result":"', { fill: "d", bytes: 40 * MB }, '"}'];
  const submitHeaders = () => ({ ...authorization(), "content-type": "application/octet-stream" });
  const jsonHeaders = () => ({ ...authorization(), "content-type": "application/json" });
  const callbackHeaders = { "sluice-callback-token": "x", "content-type": "application/json" };

  describe("A. streaming body caps", () => {
    it("A1: a chunked 80 MB submit is refused with 413 near the 1 MiB limit", async () => {
      const m = await refused("A1 chunked 80 MB submit", "direct", "POST", "/v1/functions/sink/tasks", A1_PARTS, {
        headers: submitHeaders(),
      });
      const s = m.value;
      expectProblem(s, 413, TOO_LARGE);
      expect(m.growthMb, describeRss(m)).toBeLessThan(UPLOAD_GROWTH_LIMIT_MB);
      // The answer came while most of the body was still unsent.
      expect(s.bytesAtResponse, describeStreamed(s)).toBeDefined();
      expect(s.bytesAtResponse!, describeStreamed(s)).toBeLessThan(1 * MiB + DIRECT_IN_FLIGHT_SLACK);
    });

    it("A1 through wrangler's proxy: memory stays flat, and an answer, if one arrives, is the 413", async () => {
      const m = await refused("A1 chunked 80 MB submit", "proxy", "POST", "/v1/functions/sink/tasks", A1_PARTS, {
        headers: submitHeaders(),
      });
      expectThroughProxy(m.value, 413, TOO_LARGE);
      expect(m.growthMb, describeRss(m)).toBeLessThan(UPLOAD_GROWTH_LIMIT_MB);
      // Nothing was created: see "none of the refused submissions created a task".
    });

    it("A2: a declared Content-Length of 80 MiB is refused with 413 at once", async () => {
      // Direct to the Worker: through wrangler's local proxy the early answer to an unread body is sometimes a reset.
      const m = await refused(
        "A2 Content-Length 83886080, 64 KiB sent",
        "direct",
        "POST",
        "/v1/functions/sink/tasks",
        [{ fill: "a", bytes: 80 * MiB }],
        {
          headers: submitHeaders(),
          contentLength: 80 * MiB,
          stopAfterBytes: 64 * 1024,
          timeoutMs: 10_000,
        },
      );
      const s = m.value;
      expectProblem(s, 413, TOO_LARGE);
      expect(s.ms, describeStreamed(s)).toBeLessThan(5_000);
      expect(m.growthMb, describeRss(m)).toBeLessThan(UPLOAD_GROWTH_LIMIT_MB);
    });

    it("A3: a chunked 30 MB batch is refused with 413 (10 MiB per batch request)", async () => {
      const m = await refused("A3 chunked 30 MB batch", "direct", "POST", "/v1/functions/sink/tasks:batch", A3_PARTS, {
        headers: jsonHeaders(),
      });
      const s = m.value;
      expectProblem(s, 413, TOO_LARGE);
      expect(m.growthMb, describeRss(m)).toBeLessThan(UPLOAD_GROWTH_LIMIT_MB);
      expect(s.bytesAtResponse, describeStreamed(s)).toBeDefined();
      // 10 MiB + the slack would come close to this 28.6 MiB body: only "answered before all of it was sent" is checked.
      expect(s.sentAll, describeStreamed(s)).toBe(false);
      expect(s.bytesAtResponse!, describeStreamed(s)).toBeLessThan(s.totalBytes);
    });

    it("A3 through wrangler's proxy: memory stays flat, and an answer, if one arrives, is the 413", async () => {
      const m = await refused("A3 chunked 30 MB batch", "proxy", "POST", "/v1/functions/sink/tasks:batch", A3_PARTS, {
        headers: jsonHeaders(),
      });
      expectThroughProxy(m.value, 413, TOO_LARGE);
      expect(m.growthMb, describeRss(m)).toBeLessThan(UPLOAD_GROWTH_LIMIT_MB);
    });

    it("A4: a chunked 80 MB function definition is refused with 413 (JSON bodies 1 MiB) and creates nothing", async () => {
      const m = await refused("A4 chunked 80 MB PUT function", "direct", "PUT", "/v1/functions/huge-spec", A4_PARTS, {
        headers: jsonHeaders(),
      });
      const s = m.value;
      expectProblem(s, 413, TOO_LARGE);
      expect(m.growthMb, describeRss(m)).toBeLessThan(UPLOAD_GROWTH_LIMIT_MB);
      expect(s.bytesAtResponse, describeStreamed(s)).toBeDefined();
      expect(s.bytesAtResponse!, describeStreamed(s)).toBeLessThan(1 * MiB + DIRECT_IN_FLIGHT_SLACK);
      await expectNoFunction("huge-spec");
    });

    it("A4 through wrangler's proxy: memory stays flat, nothing is created, and an answer, if one arrives, is the 413", async () => {
      const m = await refused(
        "A4 chunked 80 MB PUT function",
        "proxy",
        "PUT",
        "/v1/functions/huge-spec-proxied",
        A4_PARTS,
        {
          headers: jsonHeaders(),
        },
      );
      expectThroughProxy(m.value, 413, TOO_LARGE);
      expect(m.growthMb, describeRss(m)).toBeLessThan(UPLOAD_GROWTH_LIMIT_MB);
      await expectNoFunction("huge-spec-proxied");
    });

    it("A5: a 40 MB /complete for a bogus task id is a 404 read far short of its end, and creates nothing", async () => {
      const bogus = await bogusTaskId();
      const m = await refused(
        "A5 chunked 40 MB /complete, bogus id",
        "direct",
        "POST",
        `/v1/tasks/${bogus}/complete`,
        A5_PARTS,
        {
          headers: callbackHeaders,
        },
      );
      const s = m.value;
      expectProblem(s, 404, NOT_FOUND);
      expect(m.growthMb, describeRss(m)).toBeLessThan(UNREAD_CALLBACK_GROWTH_LIMIT_MB);
      expect(s.bytesAtResponse, describeStreamed(s)).toBeDefined();
      expect(s.bytesAtResponse!, describeStreamed(s)).toBeLessThan(DIRECT_IN_FLIGHT_SLACK);
      // Nothing under that id exists now, neither a task nor a stored result.
      await expectNoTaskNamed(bogus);
    });

    it("A5 through wrangler's proxy: memory stays flat, nothing is created, and an answer, if one arrives, is the 404", async () => {
      const bogus = await bogusTaskId();
      const m = await refused(
        "A5 chunked 40 MB /complete, bogus id",
        "proxy",
        "POST",
        `/v1/tasks/${bogus}/complete`,
        A5_PARTS,
        {
          headers: callbackHeaders,
        },
      );
      expectThroughProxy(m.value, 404, NOT_FOUND);
      expect(m.growthMb, describeRss(m)).toBeLessThan(UNREAD_CALLBACK_GROWTH_LIMIT_MB);
      await expectNoTaskNamed(bogus);
    });

    it("A6: an oversized Content-Type on a submit is a 400 problem", async () => {
      for (const length of [70_000, 300]) {
        const contentType = `application/json; x=${"a".repeat(length - "application/json; x=".length)}`;
        expect(contentType).toHaveLength(length);
        const response = await call(platform.url, "POST", "/v1/functions/sink/tasks", {
          token: account.apiKey,
          body: JSON.stringify({ n: 1 }),
          headers: { "content-type": contentType },
        });
        log(`A6 Content-Type of ${length} characters: HTTP ${response.status} ${response.text.slice(0, 200)}`);
        expectProblem(response, 400);
      }
    });

    it("none of the refused submissions created a task", async () => {
      await new Promise((r) => setTimeout(r, 1_000)); // plain submissions go through the ingest queue
      const listed = await call(platform.url, "GET", "/v1/functions/sink/tasks?limit=100", { token: account.apiKey });
      expect(listed.status, listed.text).toBe(200);
      expect(listed.body.tasks, listed.text.slice(0, 500)).toEqual([]);
    });
  });

  describe("B. a tenant function's answer is capped at 10 MiB", () => {
    async function runBig(label: string, name: string, path: string, stats: BigAnswerStats): Promise<void> {
      await putFunction(platform.url, account.apiKey, name, {
        target: { type: "url", url: `${tenant.url}${path}` },
        timeoutMs: 30_000,
        retry: { maxAttempts: 1, initialBackoffMs: 100, maxBackoffMs: 100 },
      });
      const m = await measureRss(platform.pid, async () => {
        const submitted = await call(platform.url, "POST", `/v1/functions/${name}/tasks`, {
          token: account.apiKey,
          json: { big: true },
        });
        expect(submitted.status, submitted.text).toBe(202);
        return waitForTask(platform.url, account.apiKey, submitted.body.id, { timeoutMs: 75_000, intervalMs: 200 });
      });
      const task: TaskView = m.value;
      log(
        `${label}: task ${task.state}, error ${JSON.stringify(task.error)}, attempts ${task.attempts}, ` +
          `attemptLog ${JSON.stringify(task.attemptLog).slice(0, 300)}, result ${JSON.stringify(task.result)?.slice(0, 80)}, ` +
          `resultUrl ${JSON.stringify((task as { resultUrl?: unknown }).resultUrl)}`,
      );
      log(
        `${label}: tenant calls ${stats.calls}, streamed ${(stats.bytesSent / MB).toFixed(1)} MB of ${BIG_ANSWER_BYTES / MB} MB, ` +
          `platform disconnected early: ${stats.clientClosedEarly}`,
      );
      log(`${label}: ${describeRss(m)}`);
      expect(task.state, JSON.stringify(task).slice(0, 1_000)).toBe("failed");
      const message = String((task.error as { message?: unknown } | undefined)?.message ?? "");
      expect(message, JSON.stringify(task.error)).toMatch(/too large|larger than|exceeds|over (its |the )?limit/i);
      expect(m.growthMb, describeRss(m)).toBeLessThan(ANSWER_GROWTH_LIMIT_MB);
    }

    it("B1: a 400 MB chunked answer (no Content-Length) fails the task as too large", async () => {
      await runBig("B1 400 MB chunked answer", "big-chunked", "/big-chunked", bigChunked);
    });

    it("B2: a 400 MB answer with an honest Content-Length fails the task as too large", async () => {
      await runBig("B2 400 MB answer with Content-Length", "big-length", "/big-length", bigLength);
    });
  });

  describe("D. network errors are reported with one generic message", () => {
    /**
     * Run one task against each target (one attempt each) and return every error message seen: each task's
     * `error.message` and each attempt's, checked to be one and the same string that names neither cause nor address.
     */
    async function networkMessages(label: string, targets: Record<string, string>, ports: number[]): Promise<string[]> {
      const retry = { maxAttempts: 1, initialBackoffMs: 100, maxBackoffMs: 100 };
      const ids: [string, string][] = [];
      for (const [name, url] of Object.entries(targets)) {
        await putFunction(platform.url, account.apiKey, name, {
          target: { type: "url", url },
          timeoutMs: 2_000,
          retry,
        });
        const submitted = await call(platform.url, "POST", `/v1/functions/${name}/tasks`, {
          token: account.apiKey,
          json: { n: 1 },
        });
        expect(submitted.status, submitted.text).toBe(202);
        ids.push([name, submitted.body.id]);
      }
      const tasks = await Promise.all(
        ids.map(([, id]) => waitForTask(platform.url, account.apiKey, id, { timeoutMs: 30_000 })),
      );
      const messages: string[] = [];
      for (const [i, task] of tasks.entries()) {
        log(
          `${label} ${ids[i]![0]} (${targets[ids[i]![0]]}): task ${task.state}, error ${JSON.stringify(task.error)}, attemptLog ${JSON.stringify(task.attemptLog)}`,
        );
        expect(task.state, JSON.stringify(task)).toBe("failed");
        messages.push(String((task.error as { message?: unknown } | undefined)?.message));
        expect(task.attemptLog.length, JSON.stringify(task)).toBeGreaterThanOrEqual(1);
        for (const entry of task.attemptLog)
          messages.push(String((entry.error as { message?: unknown } | undefined)?.message));
      }
      expect(new Set(messages).size, JSON.stringify(messages)).toBe(1);
      for (const message of messages) {
        expect(message, JSON.stringify(messages)).not.toBe("undefined");
        expect(message).not.toMatch(/econnrefused/i);
        expect(message).not.toMatch(/internal error/i);
        expect(message).not.toContain("reference =");
        for (const port of ports) expect(message).not.toContain(String(port));
        expect(message).not.toContain("127.0.0.1");
      }
      return messages;
    }

    it("D1: a refused connection and a dropped connection read the same, naming neither address nor cause", async () => {
      const closedPort = await freePort(); // nobody listens here
      await networkMessages(
        "D1",
        { "net-refused": `http://127.0.0.1:${closedPort}/`, "net-dropped": `http://127.0.0.1:${resetPort}/` },
        [closedPort, resetPort],
      );
    });

    it("D2: over https too (a TLS handshake cut short reads like a closed port), and the same as over http", async () => {
      const closedPort = await freePort();
      await networkMessages(
        "D2",
        {
          "net2-refused": `http://127.0.0.1:${closedPort}/`,
          "net2-dropped": `http://127.0.0.1:${resetPort}/`,
          "net2-tls-refused": `https://127.0.0.1:${closedPort}/`,
          "net2-tls-dropped": `https://127.0.0.1:${resetPort}/`,
        },
        [closedPort, resetPort],
      );
    });
  });
});

describe("C. SSRF by name (ALLOW_PRIVATE_TARGETS=false)", () => {
  let platform: Platform;
  let account: Account;
  const PUBLIC_TARGET = "https://fn.example.com/run";
  const REFUSED = [
    "https://vm:8961/",
    "https://intranet/run",
    "https://localhost.localdomain/x",
    "https://foo.localhost/x",
    "https://127.0.0.1/x",
    "https://[::1]/x",
    "http://example.com/x",
  ];

  beforeAll(async () => {
    platform = await startPlatform({ ALLOW_PRIVATE_TARGETS: "false" });
    account = await createAccount(platform.url, platform.adminToken, `e2e-ssrf-${randomBytes(4).toString("hex")}`);
  });

  afterAll(async () => {
    await platform?.stop();
  });

  async function expectRefused(name: string, spec: unknown, path: string): Promise<void> {
    const response = await call(platform.url, "PUT", `/v1/functions/${name}`, { token: account.apiKey, json: spec });
    log(`C ${JSON.stringify(spec)}: HTTP ${response.status} ${response.text.slice(0, 300)}`);
    expectProblem(response, 400);
    const errors = (response.body?.errors ?? []) as { path?: string }[];
    expect(
      errors.map((e) => e.path),
      response.text,
    ).toContain(path);
    const after = await call(platform.url, "GET", `/v1/functions/${name}`, { token: account.apiKey });
    expect(after.status, after.text).toBe(404);
  }

  it.each(REFUSED.map((url, i) => [url, i] as const))("refuses target url %s", async (url, i) => {
    await expectRefused(`ssrf-target-${i}`, { target: { type: "url", url } }, "target.url");
  });

  it.each(REFUSED.map((url, i) => [url, i] as const))("refuses webhook destination url %s", async (url, i) => {
    await expectRefused(
      `ssrf-hook-${i}`,
      { target: { type: "url", url: PUBLIC_TARGET }, destinations: { onSuccess: { type: "webhook", url } } },
      "destinations.onSuccess.url",
    );
  });

  it("accepts a fully qualified public name", async () => {
    const response = await call(platform.url, "PUT", "/v1/functions/public-fn", {
      token: account.apiKey,
      json: {
        target: { type: "url", url: PUBLIC_TARGET },
        destinations: { onSuccess: { type: "webhook", url: "https://hooks.example.com/done" } },
      },
    });
    log(`C public: HTTP ${response.status} ${response.text.slice(0, 300)}`);
    expect(response.status, response.text).toBe(201);
  });
});
