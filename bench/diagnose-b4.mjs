#!/usr/bin/env node
/**
 * Where B4's 50 ms goodput goes: four measurements around one steady round of bench/scenarios/aimd.mjs (C = 16, a
 * backlog submitted while the function is paused). Each starts platforms of its own; run one at a time, nothing else
 * on the machine, since every figure depends on the one workerd thread that runs gateway, shard and invokers.
 *
 *   node bench/diagnose-b4.mjs rounds   A/B in one run: ROUNDS (default 3) steady rounds per entry of VARIANTS
 *                                       (a JSON list of [vars] objects, default [{}]), alternating, each on a fresh
 *                                       platform; prints goodput ÷ ideal, throttled share, backend in flight, window
 *   node bench/diagnose-b4.mjs threads  CPU time of every workerd thread over one round (its paused submission
 *                                       included), and per task; VARS (a JSON [vars] object) for the platform
 *   node bench/diagnose-b4.mjs idle     N (default 200) calls one at a time (maxConcurrency 1, no 429s): the time a
 *                                       call's cycle takes beyond its service time when nothing else runs
 *   node bench/diagnose-b4.mjs hist     the share of the round's time the backend spent at each in-flight count
 *
 * MS (default 50) is the service time, N the round's tasks (default 3000, `idle`: 200).
 */

import { execSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { putFunction, sleep, startPlatform } from "./lib.mjs";
import { batchSubmit, tenant } from "./measure.mjs";
import { startBackend, steadyRound } from "./scenarios/aimd.mjs";

const MODE = process.argv[2] ?? "rounds";
const MS = Number(process.env.MS ?? 50);
const N = Number(process.env.N ?? (MODE === "idle" ? 200 : 3000));

/** One steady round on a fresh platform with `vars`; `during` wraps the round (for CPU readings). */
async function round(vars, label, during = (run) => run()) {
  const platform = await startPlatform(vars);
  try {
    const acct = await tenant(platform, label);
    return await during(() => steadyRound(platform, acct, label, MS, N));
  } finally {
    await platform.stop();
  }
}

function summary(r) {
  return [
    `goodput ÷ ideal ${r.ratio.toFixed(3)} (to the last success ${r.fullRatio.toFixed(3)})`,
    `throttled ${(r.throttledShare * 100).toFixed(1)} %`,
    `backend in flight ${r.meanInFlight.toFixed(1)} of 16`,
    `window ${r.meanWindow.toFixed(1)}, running as the shard counts ${r.meanShardInFlight.toFixed(1)}`,
  ].join("; ");
}

/** CPU milliseconds of every thread of every workerd process, by `pid/tid`. */
function workerdThreads() {
  const cpu = new Map();
  const pids = execSync("pgrep -x workerd || true").toString().trim().split("\n").filter(Boolean);
  for (const pid of pids) {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const fields = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8").split(") ")[1].split(" ");
        // utime and stime, in clock ticks (100 per second on Linux).
        cpu.set(`${pid}/${tid}`, (Number(fields[11]) + Number(fields[12])) * 10);
      } catch {
        /* the thread ended */
      }
    }
  }
  return cpu;
}

if (MODE === "rounds") {
  const variants = JSON.parse(process.env.VARIANTS ?? "[{}]");
  const rounds = Number(process.env.ROUNDS ?? 3);
  for (let r = 0; r < rounds; r++) {
    for (const [i, vars] of variants.entries()) {
      console.log(`round ${r + 1} ${JSON.stringify(vars)}: ${summary(await round(vars, `d${r}-${i}`))}`);
    }
  }
} else if (MODE === "threads") {
  const result = await round(JSON.parse(process.env.VARS ?? "{}"), "cpu", async (run) => {
    const before = workerdThreads();
    const started = Date.now();
    const r = await run();
    const after = workerdThreads();
    const busy = [...after]
      .map(([k, v]) => [k, v - (before.get(k) ?? 0)])
      .filter(([, v]) => v >= 50)
      .sort((a, b) => b[1] - a[1]);
    const wall = Date.now() - started;
    console.log(`wall ${wall} ms; busy threads (CPU ms): ${busy.map(([k, v]) => `${k} ${v}`).join(", ")}`);
    const [, main = 0] = busy[0] ?? [];
    console.log(
      `busiest thread: ${((100 * main) / wall).toFixed(0)} % of the wall time, ${(main / N).toFixed(2)} ms per task ` +
        "(its submission, dispatch, call and report)",
    );
    return r;
  });
  console.log(summary(result));
} else if (MODE === "idle") {
  const platform = await startPlatform({});
  const backend = await startBackend(MS);
  backend.capacity = Number.POSITIVE_INFINITY;
  try {
    const acct = await tenant(platform, "idle");
    await putFunction(platform.url, acct.apiKey, "one", {
      target: { type: "url", url: backend.url },
      isolation: "dedicated",
      maxConcurrency: 1,
      timeoutMs: 10_000,
    });
    await batchSubmit(platform.url, "/v1/functions/one/tasks:batch", N, { token: acct.apiKey, payload: { n: 1 } });
    while (backend.ok < N) await sleep(100);
    const cycle = (backend.lastOk - backend.first) / (N - 1);
    console.log(
      `${N} calls one at a time: a cycle of ${cycle.toFixed(1)} ms for ${MS} ms of service (${(cycle - MS).toFixed(1)} ms ` +
        `outside the backend: the ceiling of goodput ÷ ideal with a perfect window is ${(MS / cycle).toFixed(2)})`,
    );
  } finally {
    backend.close();
    await platform.stop();
  }
} else if (MODE === "hist") {
  const r = await round({}, "hist");
  console.log(summary(r));
  const total = r.inFlightTime.reduce((a, b) => a + b, 0);
  const shares = r.inFlightTime
    .map((t, n) => [n, (100 * t) / total])
    .filter(([, share]) => share >= 0.5)
    .map(([n, share]) => `${n}: ${share.toFixed(1)} %`);
  console.log(`time at each in-flight count at the backend: ${shares.join(", ")}`);
} else {
  console.error(`unknown mode ${MODE}: rounds | threads | idle | hist`);
  process.exitCode = 2;
}
