/**
 * @module
 * Shared harness for the end-to-end tests (test/e2e) and the benchmarks (bench/run.mjs): start a Worker under the real
 * `wrangler dev` on a free loopback port with its own persistence directory and its own variables (a developer's
 * `.dev.vars` is never read), wait until it answers, and tear the whole process tree down afterwards. Plus small HTTP
 * helpers for the Sluice API. Plain Node ESM so `node bench/run.mjs` needs no build step.
 */

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, appendFileSync, constants, existsSync, rmSync, statfsSync, statSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Where each run's directory (wrangler's local state: the Durable Objects' SQLite files, R2, queues) goes: memory
 * (`/dev/shm`) when the machine has it with room to spare (a container's default 64 MB would not hold B5's backlog),
 * else the temporary directory; `SLUICE_STATE_DIR` chooses. Every SQLite commit
 * of a local Durable Object ends in an fsync on workerd's one thread: 1.5 ms at the median, up to 11 ms, on a virtual
 * disk (measured with strace -T under B4's load), time in which no other request of any tenant runs. Cloudflare's
 * Durable Object storage does not block the isolate on a disk flush, so a disk under the local state measures the
 * disk, not Sluice.
 */
const STATE_ROOT = process.env.SLUICE_STATE_DIR ?? (roomyDir("/dev/shm", 2 ** 31) ? "/dev/shm" : tmpdir());

/** Whether `path` is a writable directory with at least `bytes` free. */
function roomyDir(path, bytes) {
  try {
    accessSync(path, constants.W_OK);
    const fs = statfsSync(path);
    return statSync(path).isDirectory() && fs.bavail * fs.bsize >= bytes;
  } catch {
    return false;
  }
}

/** The repository root (bench/..). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Variables wrangler.toml knows; scrubbed from the child's environment so a developer's shell cannot change a run. */
const PLATFORM_VAR_NAMES = [
  "ADMIN_TOKEN",
  "ALLOW_PRIVATE_TARGETS",
  "SERVICE_TARGETS",
  "SHARED_SHARDS",
  "INVOKERS_PER_SHARD",
  "LEASE_GRACE_MS",
  "CACHE_TTL_MS",
  "MAX_PAYLOAD_BYTES",
  "INLINE_LIMIT_BYTES",
];

/** @returns {Promise<number>} a TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Node 22 shipped in node_modules (the machine's node may be older); falls back to the running node. */
function nodeBinary() {
  const local = join(REPO_ROOT, "node_modules", ".bin", "node");
  return existsSync(local) ? local : process.execPath;
}

/**
 * Every process group we started, with its run directory, so a crash or an early exit of the parent still takes them
 * down and frees the directory (in memory under /dev/shm, it would hold its RAM until the machine restarts).
 */
const liveGroups = new Map();
function killLiveGroups() {
  for (const [pid, dir] of liveGroups) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      /* already gone */
    }
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
  liveGroups.clear();
}
process.once("exit", killLiveGroups);
// A signal skips "exit" handlers: clean up, then die of the same signal as we would have.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(signal, () => {
    killLiveGroups();
    process.kill(process.pid, signal);
  });
}

/**
 * The switch that turns off `wrangler dev`'s DevTools relay: wrangler and Miniflare leave it off inside a VS Code
 * JavaScript debug terminal, which they recognise by this variable (there is no command-line flag). With the relay on,
 * every `console.log` of the Worker is also sent over the DevTools protocol, with a stack trace, through a second
 * workerd process to wrangler's Node process: about three processes' work per log line, on the same two cores as the
 * platform (B2 measured 0.33 with it, 0.44 without, and 0.44 with TASK_LOGS=off, on 2026-12-02). A deployed Worker has
 * no such relay, so runs here go without it; the lines still reach wrangler through workerd's structured stdout
 * (printed at --log-level warn only for warnings and errors). `bench/profile-flood.mjs` needs the inspector and asks
 * for it with `devtools: true`.
 */
const DEVTOOLS_OFF = "VSCODE_INSPECTOR_OPTIONS";

/**
 * Start `wrangler dev` for the given configs on a free loopback port.
 * @param {object} options
 * @param {string[]} options.configs wrangler config paths relative to the repo root; the first one is the Worker served
 * @param {Record<string,string>} [options.vars] variables (written to a temp --env-file and passed as --var too)
 * @param {string} [options.label] name used in log lines
 * @param {string} [options.readyPath] path polled until it answers (default "/")
 * @param {number} [options.readyTimeoutMs]
 * @param {string} [options.stateDir] keep local state here instead of a fresh temporary directory, so a second start
 *   (after `kill()`) finds what the first one stored; the caller removes it
 * @param {number} [options.port] serve on this port (default: a free one)
 * @param {boolean} [options.devtools] keep wrangler's DevTools relay (default off, see DEVTOOLS_OFF)
 * @returns {Promise<{url: string, port: number, pid: number, inspectorPort: number, logs: () => string,
 *   stop: () => Promise<void>, kill: () => Promise<void>}>} `pid` is the process group of wrangler and its workerd;
 *   `kill()` sends SIGKILL to the whole group at once (a crash: nothing is flushed) and keeps `stateDir`
 */
export async function startWrangler({
  configs,
  vars = {},
  label = "wrangler",
  readyPath = "/",
  readyTimeoutMs = 90_000,
  stateDir,
  port: wantedPort,
  devtools = false,
}) {
  const dir = await mkdtemp(join(STATE_ROOT, `sluice-${label}-`));
  const envFile = join(dir, "dev.env");
  // Passing --env-file makes wrangler skip .dev.vars and .env entirely, so the run is deterministic.
  await writeFile(
    envFile,
    Object.entries(vars)
      .map(([k, v]) => `${k}=${v}`)
      .join("\n") + "\n",
  );
  const port = wantedPort ?? (await freePort());
  const inspectorPort = await freePort();
  const args = [join(REPO_ROOT, "node_modules", "wrangler", "bin", "wrangler.js"), "dev"];
  for (const config of configs) args.push("-c", config);
  args.push(
    "--port",
    String(port),
    "--ip",
    "127.0.0.1",
    "--inspector-port",
    String(inspectorPort),
    "--log-level",
    "warn",
    "--persist-to",
    stateDir ?? join(dir, "state"),
    "--env-file",
    envFile,
    "--show-interactive-dev-session=false",
  );
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);

  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", X_LOCAL_OBSERVABILITY: "false", CI: "1" };
  for (const name of PLATFORM_VAR_NAMES) delete env[name];
  if (devtools) delete env[DEVTOOLS_OFF];
  else env[DEVTOOLS_OFF] = "{}";

  const child = spawn(nodeBinary(), args, { cwd: REPO_ROOT, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  liveGroups.set(child.pid, dir);
  let output = "";
  // BENCH_WRANGLER_LOG=/tmp/w keeps every platform's whole output in /tmp/w.<port>.log (a crash's last words).
  const logFile = process.env.BENCH_WRANGLER_LOG ? `${process.env.BENCH_WRANGLER_LOG}.${port}.log` : undefined;
  const keep = (chunk) => {
    if (logFile) appendFileSync(logFile, chunk);
    output += chunk.toString();
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  let exited = false;
  const exitedPromise = new Promise((r) =>
    child.once("exit", (code, signal) => {
      exited = true;
      r({ code, signal });
    }),
  );

  const logs = () =>
    output
      .split("\n")
      .filter(
        (line) => !/Request\.cf|ENOTFOUND workers\.cloudflare\.com|GetAddrInfoReqWrap|callbackTrampoline/.test(line),
      )
      .join("\n");

  const stop = async () => {
    if (!liveGroups.has(child.pid)) return;
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      /* already gone */
    }
    await Promise.race([exitedPromise, sleep(5_000)]);
    try {
      // Whatever survived SIGTERM (workerd grandchildren included) goes now.
      process.kill(-child.pid, "SIGKILL");
    } catch {
      /* group already empty */
    }
    liveGroups.delete(child.pid);
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  };

  const kill = async () => {
    if (!liveGroups.has(child.pid)) return;
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      /* already gone */
    }
    await Promise.race([exitedPromise, sleep(5_000)]);
    liveGroups.delete(child.pid);
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`${label}: wrangler dev exited before it answered\n${logs()}`);
    }
    try {
      const response = await fetch(url + readyPath, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status < 500) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${label}: wrangler dev did not answer within ${readyTimeoutMs} ms\n${logs()}`);
    }
    await sleep(200);
  }
  return { url, port, pid: child.pid, inspectorPort, logs, stop, kill };
}

/**
 * Start the platform Worker plus the demo tenant function (bound as DEMO_FN), as `npm start` does.
 * @param {Record<string,string>} [extraVars] more variables (e.g. tuning knobs)
 */
export async function startPlatform(
  extraVars = {},
  { stateDir, port, devtools = false, adminToken = `test-admin-${randomBytes(12).toString("hex")}` } = {},
) {
  const server = await startWrangler({
    label: "platform",
    configs: ["wrangler.toml", "workers/demo-function/wrangler.toml"],
    vars: { ADMIN_TOKEN: adminToken, ALLOW_PRIVATE_TARGETS: "true", ...extraVars },
    stateDir,
    port,
    devtools,
  });
  return { ...server, adminToken };
}

/**
 * One HTTP call with a JSON or raw body. Never throws for an HTTP status; the caller asserts.
 * @returns {Promise<{status: number, headers: Headers, body: any, text: string}>}
 */
export async function call(base, method, path, { token, json, body, headers = {}, timeoutMs = 30_000 } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let payload = body;
  if (json !== undefined) {
    payload = JSON.stringify(json);
    h["content-type"] ??= "application/json";
  }
  const response = await fetch(base + path, {
    method,
    headers: h,
    body: payload,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  let parsed;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: response.status, headers: response.headers, body: parsed, text };
}

function expectStatus(result, wanted, what) {
  const ok = Array.isArray(wanted) ? wanted.includes(result.status) : result.status === wanted;
  if (!ok) throw new Error(`${what}: HTTP ${result.status} ${result.text.slice(0, 500)}`);
  return result.body;
}

/** Create an account through the admin API. @returns {Promise<{id: string, apiKey: string, webhookSecret: string}>} */
export async function createAccount(base, adminToken, id) {
  return expectStatus(
    await call(base, "POST", "/v1/accounts", { token: adminToken, json: { id } }),
    201,
    `create account ${id}`,
  );
}

/** Create or replace a function. */
export async function putFunction(base, apiKey, name, spec) {
  return expectStatus(
    await call(base, "PUT", `/v1/functions/${name}`, { token: apiKey, json: spec }),
    [200, 201],
    `put function ${name}`,
  );
}

/** Submit one task; returns its id. `payload` is sent as JSON unless `contentType` says otherwise. */
export async function submitTask(base, apiKey, name, payload, { contentType, headers = {} } = {}) {
  const options = contentType
    ? { token: apiKey, body: payload, headers: { "content-type": contentType, ...headers } }
    : { token: apiKey, json: payload, headers };
  const body = expectStatus(await call(base, "POST", `/v1/functions/${name}/tasks`, options), 202, `submit to ${name}`);
  return body.id;
}

export async function getTask(base, apiKey, id) {
  return expectStatus(await call(base, "GET", `/v1/tasks/${id}`, { token: apiKey }), 200, `get task ${id}`);
}

export const TERMINAL_STATES = new Set(["succeeded", "failed", "cancelled", "expired"]);

/**
 * Poll `check` until it returns a truthy value or the deadline passes (then throws with the last value seen).
 * @template T
 * @param {() => Promise<T>} check
 */
export async function waitFor(check, { timeoutMs = 60_000, intervalMs = 100, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)}`);
    await sleep(intervalMs);
  }
}

/** Poll a task until it reaches a terminal state; returns the task object. */
export async function waitForTask(base, apiKey, id, { timeoutMs = 60_000, intervalMs = 100 } = {}) {
  let seen;
  try {
    return await waitFor(
      async () => {
        seen = await getTask(base, apiKey, id);
        return TERMINAL_STATES.has(seen.state) ? seen : undefined;
      },
      { timeoutMs, intervalMs, what: `task ${id}` },
    );
  } catch (error) {
    throw new Error(`${error.message}\nlast task state: ${JSON.stringify(seen)}`);
  }
}

/**
 * Run `worker(i)` for i in [0, count) with at most `concurrency` in flight; results in index order.
 * @template T
 * @param {number} count
 * @param {number} concurrency
 * @param {(i: number) => Promise<T>} worker
 * @returns {Promise<T[]>}
 */
export async function runPool(count, concurrency, worker) {
  const results = new Array(count);
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, count) }, async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      results[i] = await worker(i);
    }
  });
  await Promise.all(lanes);
  return results;
}
