/**
 * End-to-end under `wrangler dev`: size limits hold while streaming (a body over its limit is refused before the rest
 * is read, so workerd's memory stays flat), a tenant function's answer is capped, function and webhook URLs cannot
 * name private hosts when ALLOW_PRIVATE_TARGETS is off, and network errors reach the tenant as one generic message.
 *
 * Memory is the summed VmRSS of the platform's workerd processes (rss.ts), sampled every 20 ms around each large
 * request; each measurement is printed as it is taken.
 */

import { randomBytes } from "node:crypto";
import { request as httpRequest, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  call,
  createAccount,
  freePort,
  putFunction,
  startPlatform,
  startRecordingServer,
  waitForTask,
  type Account,
  type Platform,
  type TaskView,
} from "./harness";
import { describeRss, MB, measureRss, type RssMeasurement } from "./rss";

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
 * What loopback sockets and wrangler's proxy workerd may hold on top of what the platform read, when it answers: an
 * answer with "bytes accepted" under limit + this came before the client could have sent the whole body.
 */
const IN_FLIGHT_SLACK = 16 * MiB;

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
  body: any;
  totalBytes: number;
  /** Body bytes the socket had taken (write callbacks fired) when the answer's head arrived. */
  bytesAtResponse: number | undefined;
  /** Body bytes the socket took in all. */
  bytesAccepted: number;
  /** The whole body was written before the answer came. */
  sentAll: boolean;
  ms: number;
  error?: string;
}

/**
 * Send `parts` as a request body with node:http (chunked unless `contentLength` is given), 1 MiB writes with
 * backpressure; stop writing as soon as the answer's head arrives or the socket fails. With `stopAfterBytes` only
 * that much is written and then the answer is awaited.
 */
function streamRequest(
  platform: Platform,
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
  return new Promise<Streamed>((resolve) => {
    const started = Date.now();
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
    let stopped = false;
    let settled = false;
    let wakeWriter: (() => void) | undefined;
    const stopWriting = () => {
      stopped = true;
      wakeWriter?.();
    };
    const finish = (error?: string) => {
      if (settled) return;
      settled = true;
      stopWriting();
      clearTimeout(timer);
      if (error && result.status === 0) result.error = error;
      result.ms = Date.now() - started;
      try {
        result.body = result.text ? JSON.parse(result.text) : undefined;
      } catch {
        result.body = undefined;
      }
      req.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish(`no complete answer within ${timeoutMs} ms`), timeoutMs);
    const requestHeaders: Record<string, string> = { ...headers };
    if (contentLength !== undefined) requestHeaders["content-length"] = String(contentLength);
    const req = httpRequest({
      host: "127.0.0.1",
      port: platform.port,
      method,
      path,
      headers: requestHeaders,
      agent: false,
    });
    req.on("response", (res) => {
      result.status = res.statusCode ?? 0;
      result.headers = res.headers;
      result.bytesAtResponse = result.bytesAccepted;
      stopWriting();
      res.setEncoding("utf8");
      res.on("data", (text: string) => {
        if (result.text.length < 100_000) result.text += text;
      });
      res.on("end", () => finish());
      res.on("error", (error) => finish(String(error)));
    });
    req.on("error", (error) => finish(String(error)));
    void (async () => {
      let handed = 0;
      for (let chunk of bodyChunks(parts)) {
        if (stopped) return;
        if (stopAfterBytes !== undefined) {
          if (handed >= stopAfterBytes) return;
          chunk = chunk.subarray(0, stopAfterBytes - handed);
        }
        handed += chunk.length;
        const length = chunk.length;
        const flushed = req.write(chunk, (error) => {
          if (!error) result.bytesAccepted += length;
        });
        if (!flushed) {
          await new Promise<void>((wake) => {
            wakeWriter = wake;
            req.once("drain", () => wake());
          });
          wakeWriter = undefined;
        }
      }
      if (!stopped) {
        req.end();
        req.once("finish", () => {
          if (result.bytesAtResponse === undefined) result.sentAll = true;
        });
      }
    })();
  });
}

function describeStreamed(s: Streamed): string {
  const mb = (n: number | undefined) => (n === undefined ? "-" : (n / MB).toFixed(1));
  return (
    `HTTP ${s.status}${s.error ? ` (${s.error})` : ""} after ${s.ms} ms; body ${mb(s.totalBytes)} MB, ` +
    `accepted ${mb(s.bytesAtResponse)} MB when the answer came, ${mb(s.bytesAccepted)} MB in all; ` +
    `answer ${JSON.stringify(s.text.slice(0, 200))}`
  );
}

function expectProblem(s: { status: number; headers: IncomingHttpHeaders | Headers; body: any; text: string }, status: number, type?: string) {
  const contentType = s.headers instanceof Headers ? s.headers.get("content-type") : s.headers["content-type"];
  expect(s.status, s.text.slice(0, 500)).toBe(status);
  expect(contentType ?? "", s.text.slice(0, 500)).toMatch(PROBLEM_JSON);
  expect(s.body?.status, s.text.slice(0, 500)).toBe(status);
  if (type) expect(s.body?.type, s.text.slice(0, 500)).toBe(type);
  else expect(s.body?.type, s.text.slice(0, 500)).toMatch(/^https:\/\/sluice\.dev\/problems\//);
  expect(s.text).not.toMatch(/\bat .*\.(ts|js):\d+/); // no stack trace
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
    // Warm the isolates up (a body under the limit through the same paths), so the baselines below are steady.
    for (let i = 0; i < 2; i++) {
      const warm = await streamRequest(platform, "POST", "/v1/functions/warm/tasks", [{ fill: "w", bytes: 512 * 1024 }], {
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

  /** Stream a body over its limit, print what happened, and return it with the memory it cost. */
  async function refused(
    what: string,
    method: string,
    path: string,
    parts: readonly BodyPart[],
    options: Parameters<typeof streamRequest>[4] = {},
  ): Promise<RssMeasurement<Streamed>> {
    const measured = await measureRss(platform.pid, () => streamRequest(platform, method, path, parts, options));
    log(`${what}: ${describeStreamed(measured.value)}`);
    log(`${what}: ${describeRss(measured)}`);
    return measured;
  }

  describe("A. streaming body caps", () => {
    it("A1: a chunked 80 MB submit is refused with 413 near the 1 MiB limit", async () => {
      const m = await refused("A1 chunked 80 MB submit", "POST", "/v1/functions/sink/tasks", [{ fill: "a", bytes: 80 * MB }], {
        headers: { ...authorization(), "content-type": "application/octet-stream" },
      });
      const s = m.value;
      expectProblem(s, 413, TOO_LARGE);
      expect(m.growthMb, describeRss(m)).toBeLessThan(UPLOAD_GROWTH_LIMIT_MB);
      // The answer came while most of the body was still unsent.
      expect(s.bytesAtResponse, describeStreamed(s)).toBeDefined();
      expect(s.bytesAtResponse!, describeStreamed(s)).toBeLessThan(1 * MiB + IN_FLIGHT_SLACK);
    });

    it("A2: a declared Content-Length of 80 MiB is refused with 413 at once", async () => {
      const m = await refused(
        "A2 Content-Length 83886080, 64 KiB sent",
        "POST",
        "/v1/functions/sink/tasks",
        [{ fill: "a", bytes: 80 * MiB }],
        {
          headers: { ...authorization(), "content-type": "application/octet-stream" },
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
      // 100 items (the most a batch may hold) of 300 kB each: every item is under the 1 MiB payload limit, the whole
      // request is not under 10 MiB.
      const parts: BodyPart[] = ["["];
      for (let i = 0; i < 100; i++) parts.push(`${i ? "," : ""}{"payload":"`, { fill: "b", bytes: 300_000 }, `"}`);
      parts.push("]");
      const m = await refused("A3 chunked 30 MB batch", "POST", "/v1/functions/sink/tasks:batch", parts, {
        headers: { ...authorization(), "content-type": "application/json" },
      });
      const s = m.value;
      expectProblem(s, 413, TOO_LARGE);
      expect(m.growthMb, describeRss(m)).toBeLessThan(UPLOAD_GROWTH_LIMIT_MB);
      expect(s.bytesAtResponse, describeStreamed(s)).toBeDefined();
      expect(s.bytesAtResponse!, describeStreamed(s)).toBeLessThan(10 * MiB + IN_FLIGHT_SLACK);
    });

    it("A4: a chunked 80 MB function definition is refused with 413 (JSON bodies 1 MiB) and creates nothing", async () => {
      const parts: BodyPart[] = ['{"target":{"type":"service","service":"DEMO_FN"},"description":"', { fill: "c", bytes: 80 * MB }, '"}'];
      const m = await refused("A4 chunked 80 MB PUT function", "PUT", "/v1/functions/huge-spec", parts, {
        headers: { ...authorization(), "content-type": "application/json" },
      });
      const s = m.value;
      expectProblem(s, 413, TOO_LARGE);
      expect(m.growthMb, describeRss(m)).toBeLessThan(UPLOAD_GROWTH_LIMIT_MB);
      expect(s.bytesAtResponse, describeStreamed(s)).toBeDefined();
      expect(s.bytesAtResponse!, describeStreamed(s)).toBeLessThan(1 * MiB + IN_FLIGHT_SLACK);
      const after = await call(platform.url, "GET", "/v1/functions/huge-spec", { token: account.apiKey });
      expect(after.status, after.text).toBe(404);
    });

    it("A5: a 40 MB /complete for a bogus task id is a 404 read far short of its end, and creates nothing", async () => {
      // A real id names a real shard; keep that part and replace the random part and the MAC.
      const submitted = await call(platform.url, "POST", "/v1/functions/warm/tasks", { token: account.apiKey, json: { n: 1 } });
      expect(submitted.status, submitted.text).toBe(202);
      const [prefixAndShard] = String(submitted.body.id).split(".");
      const bogus = `${prefixAndShard}.${randomBytes(16).toString("base64url")}.${randomBytes(12).toString("base64url")}`;
      expect(bogus).toMatch(/^tsk_[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{16}$/);

      const parts: BodyPart[] = ['{"ok":true,"result":"', { fill: "d", bytes: 40 * MB }, '"}'];
      const m = await refused("A5 chunked 40 MB /complete, bogus id", "POST", `/v1/tasks/${bogus}/complete`, parts, {
        headers: { "sluice-callback-token": "x", "content-type": "application/json" },
      });
      const s = m.value;
      expectProblem(s, 404, NOT_FOUND);
      expect(m.growthMb, describeRss(m)).toBeLessThan(UNREAD_CALLBACK_GROWTH_LIMIT_MB);
      expect(s.bytesAtResponse, describeStreamed(s)).toBeDefined();
      expect(s.bytesAtResponse!, describeStreamed(s)).toBeLessThan(IN_FLIGHT_SLACK);
      // Nothing under that id exists now, neither a task nor a stored result.
      for (const path of [`/v1/tasks/${bogus}`, `/v1/tasks/${bogus}/result`]) {
        const seen = await call(platform.url, "GET", path, { token: account.apiKey });
        expect(seen.status, `${path}: ${seen.text}`).toBe(404);
      }
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
    it("a refused connection and a dropped connection read the same, naming neither address nor cause", async () => {
      const closedPort = await freePort(); // nobody listens here
      const retry = { maxAttempts: 1, initialBackoffMs: 100, maxBackoffMs: 100 };
      await putFunction(platform.url, account.apiKey, "net-refused", {
        target: { type: "url", url: `http://127.0.0.1:${closedPort}/` },
        timeoutMs: 2_000,
        retry,
      });
      await putFunction(platform.url, account.apiKey, "net-dropped", {
        target: { type: "url", url: `http://127.0.0.1:${resetPort}/` },
        timeoutMs: 2_000,
        retry,
      });
      const ids: string[] = [];
      for (const name of ["net-refused", "net-dropped"]) {
        const submitted = await call(platform.url, "POST", `/v1/functions/${name}/tasks`, { token: account.apiKey, json: { n: 1 } });
        expect(submitted.status, submitted.text).toBe(202);
        ids.push(submitted.body.id);
      }
      const tasks = await Promise.all(ids.map((id) => waitForTask(platform.url, account.apiKey, id, { timeoutMs: 30_000 })));
      const messages: string[] = [];
      for (const [i, task] of tasks.entries()) {
        log(`D ${i === 0 ? "refused" : "dropped"}: task ${task.state}, error ${JSON.stringify(task.error)}, attemptLog ${JSON.stringify(task.attemptLog)}`);
        expect(task.state, JSON.stringify(task)).toBe("failed");
        messages.push(String((task.error as { message?: unknown } | undefined)?.message));
        expect(task.attemptLog.length, JSON.stringify(task)).toBeGreaterThanOrEqual(1);
        for (const entry of task.attemptLog) messages.push(String((entry.error as { message?: unknown } | undefined)?.message));
      }
      expect(new Set(messages).size, JSON.stringify(messages)).toBe(1);
      for (const message of messages) {
        expect(message, JSON.stringify(messages)).not.toBe("undefined");
        expect(message).not.toMatch(/econnrefused/i);
        expect(message).not.toMatch(/internal error/i);
        expect(message).not.toContain("reference =");
        expect(message).not.toContain(String(closedPort));
        expect(message).not.toContain(String(resetPort));
        expect(message).not.toContain("127.0.0.1");
      }
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
    expect(errors.map((e) => e.path), response.text).toContain(path);
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
