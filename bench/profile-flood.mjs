#!/usr/bin/env node
/**
 * Where the platform's CPU goes during B3's flood: starts the Worker under `wrangler dev` (one shared shard), floods
 * 3,000 × 500 ms tasks through `tasks:batch` while a quiet tenant trickles, and records a V8 CPU profile of the
 * Worker's isolate over the inspector for `PROFILE_SECONDS` (default 12). Prints self time by function and by
 * source file, and writes the profile to bench/results/flood.cpuprofile (open it in Chrome DevTools).
 *
 * `PROFILE_SCENARIO=e2e` profiles B2's load instead: 32 clients submitting single no-op tasks (DEMO_FN {"echo":1})
 * through the ingest queue while they run, with the platform's default variables (transition logs on unless
 * BENCH_VARS says otherwise).
 *
 * `PROFILE_SCENARIO=aimd` profiles B4's 50 ms round: a local backend answering 429 above 16 calls in flight, 50 ms a
 * call, a dedicated function (URL target) with a backlog of 2,000 tasks submitted before the profile starts: the
 * platform's cost per call with no submission in the way.
 *
 * Usage: node bench/profile-flood.mjs   (the `ws` client wrangler installs; Node's own WebSocket is refused by the
 * local inspector proxy)
 */

import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import WebSocket from "ws";
import { createAccount, putFunction, REPO_ROOT, sleep, startPlatform } from "./lib.mjs";
import { batchSubmit, functionStats, trickle } from "./measure.mjs";
import { startBackend } from "./scenarios/aimd.mjs";

const SECONDS = Number(process.env.PROFILE_SECONDS ?? 12);
const E2E = process.env.PROFILE_SCENARIO === "e2e";
const AIMD = process.env.PROFILE_SCENARIO === "aimd";
const EXTRA_VARS = process.env.BENCH_VARS ? JSON.parse(process.env.BENCH_VARS) : {};
const platform = await startPlatform({ SHARED_SHARDS: "1", ...EXTRA_VARS }, { devtools: true });
/** B4's backend, for PROFILE_SCENARIO=aimd (closed however the run ends: its sampler would keep Node alive). */
let backend;
try {
  const floodAccount = await createAccount(platform.url, platform.adminToken, "prof-flood");
  const quiet = await createAccount(platform.url, platform.adminToken, "prof-quiet");
  const demo = { type: "service", service: "DEMO_FN" };
  await putFunction(platform.url, floodAccount.apiKey, "slow", {
    target: demo,
    isolation: "shared",
    maxConcurrency: 100,
  });
  await putFunction(platform.url, quiet.apiKey, "fast", { target: demo, isolation: "shared" });

  /** B4's backend (bench/scenarios/aimd.mjs): 429 above 16 calls in flight, else 50 ms and a 200. */
  backend = AIMD ? await startBackend(50) : undefined;
  if (AIMD) {
    await putFunction(platform.url, quiet.apiKey, "capped", {
      target: { type: "url", url: backend.url },
      isolation: "dedicated",
      maxConcurrency: 100,
      timeoutMs: 10_000,
      retry: { maxAttempts: 3, initialBackoffMs: 100, maxBackoffMs: 1000 },
    });
    await batchSubmit(platform.url, "/v1/functions/capped/tasks:batch", 2000, {
      token: quiet.apiKey,
      payload: { n: 1 },
    });
    await sleep(1000); // past the slow start
  }

  /** B2's load: single submissions by 32 clients for the profiled seconds. */
  let accepted = 0;
  const submitWhileProfiling = async (apiKey) => {
    const until = Date.now() + SECONDS * 1000;
    const client = async () => {
      while (Date.now() < until) {
        const response = await fetch(`${platform.url}/v1/functions/fast/tasks`, {
          method: "POST",
          body: '{"echo":1}',
          headers: { "content-type": "application/json", authorization: `Bearer ${apiKey}` },
        });
        await response.arrayBuffer();
        if (response.status === 202 && Date.now() <= until) accepted++;
      }
    };
    await Promise.all(Array.from({ length: 32 }, client));
  };

  const targets = await (await fetch(`http://127.0.0.1:${platform.inspectorPort}/json`)).json();
  const target = targets.find((t) => t.webSocketDebuggerUrl) ?? targets[0];
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.on("open", resolve);
    ws.on("error", reject);
  });
  let nextId = 0;
  const waiting = new Map();
  ws.on("message", (data) => {
    const message = JSON.parse(String(data));
    if (message.id !== undefined && waiting.has(message.id)) {
      waiting.get(message.id)(message);
      waiting.delete(message.id);
    }
  });
  const send = (method, params = {}) =>
    new Promise((resolve) => {
      const id = ++nextId;
      waiting.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: 500 });

  const quietRun =
    E2E || AIMD
      ? Promise.resolve()
      : trickle(platform.url, quiet.apiKey, "fast", { ratePerSecond: 10, maxMs: (SECONDS + 2) * 1000 });
  /** Calls of the flood and the quiet tenant that ended (a flood call is one 500 ms call). */
  const ended = async () => {
    let n = 0;
    for (const [apiKey, fn] of [
      [floodAccount.apiKey, "slow"],
      [quiet.apiKey, "fast"],
      ...(AIMD ? [[quiet.apiKey, "capped"]] : []),
    ]) {
      const counts = (await functionStats(platform.url, apiKey, fn)).counts;
      n += (counts.succeeded ?? 0) + (counts.failed ?? 0);
    }
    return n;
  };
  const endedBefore = await ended();
  await send("Profiler.start");
  const okBefore = backend?.ok ?? 0;
  const floodRun = AIMD
    ? Promise.resolve()
    : E2E
      ? submitWhileProfiling(quiet.apiKey)
      : batchSubmit(platform.url, "/v1/functions/slow/tasks:batch", 3000, {
          token: floodAccount.apiKey,
          payload: { sleepMs: 500 },
          parallel: 8,
        });
  await sleep(SECONDS * 1000);
  const { result } = await send("Profiler.stop");
  const endedDuring = (await ended()) - endedBefore;
  await Promise.all([quietRun, floodRun]);
  ws.close();

  const profile = result.profile;
  await writeFile(join(REPO_ROOT, "bench", "results", "flood.cpuprofile"), JSON.stringify(profile));
  const interval = (profile.endTime - profile.startTime) / 1000 / profile.samples.length; // ms per sample
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfMs = new Map();
  for (const id of profile.samples) selfMs.set(id, (selfMs.get(id) ?? 0) + interval);
  const byFunction = new Map();
  const byFile = new Map();
  let total = 0;
  let idle = 0;
  for (const [id, ms] of selfMs) {
    const frame = byNode.get(id).callFrame;
    total += ms;
    if (frame.functionName === "(idle)") idle += ms;
    const file = frame.url.split("/").slice(-2).join("/") || "(native)";
    const fn = `${frame.functionName || "(anonymous)"} ${file}:${frame.lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + ms);
    byFile.set(file, (byFile.get(file) ?? 0) + ms);
  }
  const top = (map, n) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `${v.toFixed(0).padStart(7)} ms  ${((100 * v) / total).toFixed(1).padStart(5)} %  ${k}`)
      .join("\n");
  console.log(
    `profiled ${(total / 1000).toFixed(1)} s of the Worker's isolate, idle ${((100 * idle) / total).toFixed(0)} %`,
  );
  if (AIMD) {
    const calls = backend.ok - okBefore;
    console.log(
      `calls served while profiled: ${calls} (${(calls / SECONDS) | 0}/s of an ideal 320/s), ${backend.throttled} throttled in all; the isolate's busy time per served call: ${((total - idle) / calls).toFixed(2)} ms`,
    );
  } else if (E2E) {
    console.log(
      `tasks accepted while profiled: ${accepted}; the isolate's busy time per task: ${((total - idle) / accepted).toFixed(2)} ms`,
    );
  } else {
    // The flood's calls also had to be accepted (3,000 in the first seconds): compare runs of the same length only.
    console.log(
      `tasks that ended while profiled: ${endedDuring}; the isolate's busy time per ended task: ${((total - idle) / endedDuring).toFixed(2)} ms`,
    );
  }
  console.log(`\nself time by function:\n${top(byFunction, 30)}`);
  console.log(`\nself time by file:\n${top(byFile, 15)}`);
} finally {
  backend?.close();
  await platform.stop();
}
