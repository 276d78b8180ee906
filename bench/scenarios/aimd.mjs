/**
 * @module
 * B4 (AIMD flow control) against a local backend of hidden capacity C: above C calls in flight it answers 429 at
 * once, otherwise it works `serviceMs` and answers 200. Ideal goodput is C ÷ service time.
 *
 * - steady: C = 16, 50 ms and 200 ms calls, a backlog well above capacity (maxConcurrency 100), each round on a fresh
 *   dedicated function (its own shard, so the window starts slow). The backlog is submitted while the function is
 *   paused and the round starts with its resume, so the submissions' work (which a deployment does in other isolates,
 *   not in the thread that runs the calls) does not share the run. Goodput and the throttled share are counted at the
 *   backend: `ratio` from its first call to the 99th-percentile success (99 % of the calls: the start-up counts, the
 *   last tasks' throttle backoff, which API.md asks for, does not), `fullRatio` to the very last success.
 * - re-convergence: one function, 200 ms calls, C = 16 → 32 → 8 every 12 s with a backlog throughout: how long the
 *   window takes to follow each change (stats' `concurrencyLimit`, polled every 250 ms, and the backend's in-flight).
 * - contrast: the same steady run on a platform with a fixed window of 100 (AIMD_DECREASE_FACTOR=1,
 *   AIMD_INITIAL_WINDOW=100): what a platform without flow control does to this backend.
 * Writes bench/results/b4-aimd.svg: the window and the backend's in-flight over the re-convergence run.
 */

import { writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { join } from "node:path";
import { call, putFunction, sleep, startPlatform } from "../lib.mjs";
import { batchSubmit, functionStats, spread, spreadText, tenant } from "../measure.mjs";
import { linePlot } from "../svg.mjs";

/**
 * A backend with a capacity that can change while it runs; counts what it served, sampled in-flight, and the time it
 * spent at each in-flight count (`inFlightTime[n]`, ms, from its first call).
 */
export async function startBackend(serviceMs) {
  const b = {
    capacity: 16,
    serviceMs,
    inFlight: 0,
    ok: 0,
    throttled: 0,
    first: null,
    lastOk: null,
    samples: [],
    okAt: [],
    inFlightTime: [],
  };
  let changedAt = null;
  /** Time at the current in-flight count ends now (called before every change). */
  const account = () => {
    const now = performance.now();
    if (changedAt !== null) b.inFlightTime[b.inFlight] = (b.inFlightTime[b.inFlight] ?? 0) + now - changedAt;
    changedAt = now;
  };
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      b.first ??= Date.now();
      account();
      if (b.inFlight >= b.capacity) {
        b.throttled++;
        res.writeHead(429).end();
        return;
      }
      b.inFlight++;
      setTimeout(() => {
        account();
        b.inFlight--;
        b.ok++;
        b.lastOk = Date.now();
        b.okAt.push(b.lastOk);
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      }, b.serviceMs);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const sampler = setInterval(() => b.samples.push([Date.now(), b.inFlight, b.capacity]), 100);
  b.url = `http://127.0.0.1:${server.address().port}/run`;
  b.reset = () => {
    Object.assign(b, { ok: 0, throttled: 0, first: null, lastOk: null, samples: [], okAt: [], inFlightTime: [] });
    changedAt = null;
  };
  b.close = () => {
    clearInterval(sampler);
    server.close();
  };
  return b;
}

async function capped(platform, acct, name, backend) {
  await putFunction(platform.url, acct.apiKey, name, {
    target: { type: "url", url: backend.url },
    isolation: "dedicated",
    maxConcurrency: 100,
    timeoutMs: 10_000,
    retry: { maxAttempts: 3, initialBackoffMs: 100, maxBackoffMs: 1000 },
  });
}

/** Poll the function's window every 250 ms until `stop()`; returns the samples [t, window]. */
function watchWindow(platform, acct, name) {
  const points = [];
  let running = true;
  const done = (async () => {
    while (running) {
      try {
        const s = await functionStats(platform.url, acct.apiKey, name);
        points.push([Date.now(), s.concurrencyLimit, s.inFlight]);
      } catch {
        /* a missed sample */
      }
      await sleep(250);
    }
  })();
  return {
    points,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

/** `POST /v1/functions/:name/pause` or `resume`. */
async function pauseFunction(platform, acct, name, action) {
  const res = await call(platform.url, "POST", `/v1/functions/${name}/${action}`, { token: acct.apiKey });
  if (res.status !== 200) throw new Error(`B4: ${action} answered ${res.status}`);
}

async function waitUntilServed(backend, target, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (backend.ok < target && Date.now() < deadline) await sleep(200);
  if (backend.ok < target) throw new Error(`B4: ${backend.ok} of ${target} calls served in ${timeoutMs} ms`);
}

/** One steady round: `tasks` tasks against C = 16; goodput ÷ ideal and the throttled share, at the backend. */
export async function steadyRound(platform, acct, name, serviceMs, tasks) {
  const backend = await startBackend(serviceMs);
  try {
    await capped(platform, acct, name, backend);
    await pauseFunction(platform, acct, name, "pause");
    const run = await batchSubmit(platform.url, `/v1/functions/${name}/tasks:batch`, tasks, {
      token: acct.apiKey,
      payload: { n: 1 },
    });
    if (run.ok !== tasks) throw new Error(`B4: ${run.ok} of ${tasks} accepted: ${JSON.stringify(run.errors)}`);
    if (backend.ok + backend.throttled > 0) throw new Error("B4: the paused function called its backend");
    const watch = watchWindow(platform, acct, name);
    await pauseFunction(platform, acct, name, "resume");
    await waitUntilServed(backend, tasks, 300_000);
    await watch.stop();
    const during = watch.points.filter(([t]) => t >= backend.first && t <= backend.lastOk);
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const ideal = (backend.capacity / serviceMs) * 1000;
    const p99 = Math.ceil(backend.ok * 0.99);
    const p99At = [...backend.okAt].sort((a, b) => a - b)[p99 - 1] ?? backend.lastOk;
    const goodput = (p99 / Math.max(1, p99At - backend.first)) * 1000;
    const busy = backend.samples.filter(([t]) => t >= backend.first && t <= backend.lastOk);
    return {
      ratio: goodput / ideal,
      fullRatio: ((backend.ok / (backend.lastOk - backend.first)) * 1000) / ideal,
      goodput,
      ideal,
      throttledShare: backend.throttled / (backend.ok + backend.throttled),
      meanInFlight: mean(busy.map(([, n]) => n)),
      inFlightTime: Array.from(backend.inFlightTime, (t) => t ?? 0),
      meanWindow: mean(during.map(([, w]) => w)),
      meanShardInFlight: mean(during.map(([, , n]) => n)),
      wallMs: backend.lastOk - backend.first,
    };
  } finally {
    backend.close();
  }
}

/** C = 16 → 32 → 8, `phaseMs` each, with a backlog throughout; how long the window takes to follow each change. */
async function reconvergence(platform, acct, phaseMs) {
  const backend = await startBackend(200);
  const phases = [16, 32, 8];
  try {
    await capped(platform, acct, "reconverge", backend);
    // Enough for every phase at its capacity (C calls per 200 ms), and a fifth more.
    const tasks = Math.ceil(phases.reduce((a, c) => a + (c * phaseMs) / 200, 0) * 1.2);
    const run = await batchSubmit(platform.url, "/v1/functions/reconverge/tasks:batch", tasks, {
      token: acct.apiKey,
      payload: { n: 1 },
    });
    if (run.ok !== tasks) throw new Error(`B4: ${run.ok} of ${tasks} accepted`);
    const watch = watchWindow(platform, acct, "reconverge");
    const changes = [];
    const t0 = Date.now();
    for (const c of phases) {
      backend.capacity = c;
      changes.push({ at: Date.now(), capacity: c, throttledBefore: backend.throttled, okBefore: backend.ok });
      await sleep(phaseMs);
    }
    await watch.stop();
    const end = Date.now();
    // Drain the rest (not measured) so the platform is idle for what follows.
    await call(platform.url, "POST", "/v1/functions/reconverge/tasks:cancel", {
      token: acct.apiKey,
      json: { state: "queued" },
    });
    const result = changes.map((change, i) => {
      const until = changes[i + 1]?.at ?? end;
      const c = change.capacity;
      const up = i > 0 && c > changes[i - 1].capacity;
      // Following an increase: the window reaches 0.9 C. A decrease: it comes within 1.5 C (a window counts calls on
      // their way to and from the backend too, so it settles a little above C).
      const hit = watch.points.find(([t, w]) => t >= change.at && t < until && (up ? w >= 0.9 * c : w <= 1.5 * c));
      const late = backend.samples.filter(([t]) => t >= until - phaseMs / 2 && t < until);
      return {
        capacity: c,
        followedInMs: hit ? hit[0] - change.at : null,
        lateUtilisation: late.reduce((a, [, n]) => a + n, 0) / Math.max(1, late.length) / c,
      };
    });
    return {
      phases: result,
      series: {
        window: watch.points.map(([t, w]) => [(t - t0) / 1000, w]),
        backend: backend.samples.filter(([t]) => t >= t0 && t <= end).map(([t, n]) => [(t - t0) / 1000, n]),
        capacity: backend.samples.filter(([t]) => t >= t0 && t <= end).map(([t, , c]) => [(t - t0) / 1000, c]),
      },
      throttledShare: backend.throttled / Math.max(1, backend.ok + backend.throttled),
    };
  } finally {
    backend.close();
  }
}

/**
 * @param {{quick: boolean, rounds: number, extraVars: Record<string,string>, log: Function, resultsDir: string}} ctx
 * @returns {Promise<{rows: object[], notes: string[]}>}
 */
export async function runAimd({ quick, rounds, extraVars, log, resultsDir }) {
  const sizes = { 50: quick ? 1_000 : 3_000, 200: quick ? 400 : 1_500 };
  const phaseMs = quick ? 8_000 : 12_000;
  const rows = [];
  const notes = [];
  const steady = { 50: [], 200: [] };
  let reconv;
  log("B4: starting the platform");
  const platform = await startPlatform(extraVars);
  try {
    const acct = await tenant(platform, "bench-b4");
    for (let r = 1; r <= rounds; r++) {
      for (const serviceMs of [50, 200]) {
        log(`B4 round ${r}: ${sizes[serviceMs]} tasks of ${serviceMs} ms against C = 16`);
        steady[serviceMs].push(
          await steadyRound(platform, acct, `steady-${serviceMs}-${r}`, serviceMs, sizes[serviceMs]),
        );
      }
    }
    log(`B4: re-convergence, C = 16 -> 32 -> 8 every ${phaseMs / 1000} s`);
    reconv = await reconvergence(platform, acct, phaseMs);
  } catch (error) {
    console.error(platform.logs().slice(-5_000));
    throw error;
  } finally {
    await platform.stop();
  }
  log("B4: contrast, a fixed window of 100");
  const fixedPlatform = await startPlatform({ ...extraVars, AIMD_DECREASE_FACTOR: "1", AIMD_INITIAL_WINDOW: "100" });
  let fixed;
  try {
    const acct = await tenant(fixedPlatform, "bench-b4-fixed");
    fixed = await steadyRound(fixedPlatform, acct, "fixed-200", 200, sizes[200]);
  } finally {
    await fixedPlatform.stop();
  }

  for (const serviceMs of [50, 200]) {
    const ratio = spread(steady[serviceMs].map((r) => r.ratio));
    const throttled = spread(steady[serviceMs].map((r) => r.throttledShare * 100));
    const goodput = spread(steady[serviceMs].map((r) => r.goodput));
    rows.push({
      id: `B4 ${serviceMs} ms`,
      what: `AIMD: goodput of ${sizes[serviceMs]} tasks against a backend answering 429 above C=16 in flight (${serviceMs} ms calls), maxConcurrency 100`,
      measured: goodput.median,
      unit: "tasks/s",
      baseline: (16 / serviceMs) * 1000,
      ratio: ratio.median,
      target: ">= 0.9, <= 5 % throttled",
      pass: ratio.median >= 0.9 && throttled.median <= 5,
      spread: { ratio, throttled },
      details: steady[serviceMs],
    });
    const full = spread(steady[serviceMs].map((r) => r.fullRatio));
    notes.push(
      `B4 ${serviceMs} ms: goodput ÷ ideal ${spreadText(ratio, 2)} (to the last success: ${spreadText(full, 2)}); throttled % ${spreadText(throttled, 1)}; mean in flight at the backend ${steady[serviceMs].map((r) => r.meanInFlight.toFixed(1)).join(", ")} of 16; mean window ${steady[serviceMs].map((r) => r.meanWindow.toFixed(1)).join(", ")}, running as the shard counts ${steady[serviceMs].map((r) => r.meanShardInFlight.toFixed(1)).join(", ")}`,
    );
  }
  rows.push({
    id: "B4 fixed",
    what: "contrast: the 200 ms run with a fixed window of 100 (no AIMD)",
    measured: fixed.goodput,
    unit: "tasks/s",
    baseline: fixed.ideal,
    ratio: fixed.ratio,
    target: "contrast",
    pass: null,
    details: fixed,
  });
  notes.push(
    `B4 fixed window of 100: goodput ÷ ideal ${fixed.ratio.toFixed(2)}, ${(fixed.throttledShare * 100).toFixed(1)} % of calls throttled`,
  );
  const slowest = Math.max(...reconv.phases.slice(1).map((p) => p.followedInMs ?? Infinity));
  rows.push({
    id: "B4 re-convergence",
    what: "AIMD: time for the window to follow C = 16 -> 32 -> 8 (200 ms calls), the slower change",
    measured: slowest / 1000,
    unit: "s",
    baseline: 10,
    ratio: slowest / 10_000,
    target: "<= 10 s each",
    pass: slowest <= 10_000,
    details: reconv.phases,
  });
  notes.push(
    `B4 re-convergence: ${reconv.phases.map((p) => `C=${p.capacity}: followed in ${p.followedInMs === null ? "never" : `${(p.followedInMs / 1000).toFixed(1)} s`}, backend use in the phase's second half ${(p.lateUtilisation * 100).toFixed(0)} %`).join("; ")}; ${(reconv.throttledShare * 100).toFixed(1)} % throttled`,
  );
  const svg = linePlot({
    title: "B4: the AIMD window follows a backend whose capacity changes (16 → 32 → 8)",
    subtitle:
      "200 ms calls, a backlog throughout; the window from stats (every 250 ms), the backend's own count every 100 ms",
    xLabel: "seconds",
    yLabel: "calls",
    series: [
      { name: "backend capacity C", points: reconv.series.capacity },
      { name: "AIMD window (concurrencyLimit)", points: reconv.series.window },
      { name: "calls in flight at the backend", points: reconv.series.backend },
    ],
  });
  await writeFile(join(resultsDir, "b4-aimd.svg"), svg);
  log("wrote bench/results/b4-aimd.svg");
  return { rows, notes };
}
