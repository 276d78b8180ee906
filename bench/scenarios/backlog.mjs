/**
 * @module
 * B5 (backlog): a shard holding a deep backlog (100,000 queued tasks of one function by default, 10,000 with
 * `--quick`) against an identical shard whose queue is empty, on one platform of its own. Each shard is an account's
 * (isolation "account"), with two functions: `hold`, paused, so whatever it is given stays queued, and `fast`, a no-op.
 *
 * - Fill (once): `tasks:batch` requests of 100 tasks into the backlog shard's `hold`, in waves of 10,000, 4 requests in
 *   flight. A batch goes straight to the function's shard in one RPC (not through an ingest queue), so local Queues'
 *   10,000-pending-message limit does not apply; each wave is counted with `GET /v1/functions/hold/stats` before the
 *   next one, and the measurement starts only when the stats count the whole backlog as queued.
 * - B5a accept: `probe` single submissions (`POST …/tasks`, the ingest-queue path B1 measures, 32 clients) into `hold`,
 *   first submit -> last `queuedAt` (the tasks' own timelines). In the empty shard they are cancelled after each round,
 *   so its queue is empty again; in the backlog shard they stay (the backlog grows a little each round).
 *   B5a batch: `batch` tasks as `tasks:batch` requests, which go straight to the shard, so the figure is the shard's
 *   own accept cost (the single path above is bound by the gateway and the local proxy first).
 * - B5b dispatch: `fast` no-op tasks of `fast` on the same shard, first submit -> last `finishedAt`. Each probe first
 *   runs 100 unmeasured tasks so the function's AIMD window is open the same way in both shards.
 * - A round measures accept on both shards back to back, then dispatch on both (the order alternating between rounds),
 *   so the two figures of a pair are taken seconds apart on a machine whose load drifts; each ratio is the median of
 *   the rounds' paired ratios. One round before the fill (both shards empty) is reported as a check.
 * Tasks are collected from the newest pages of the function's listing, not one GET per task.
 */

import { loadavg } from "node:os";
import { call, putFunction, sleep, startPlatform, TERMINAL_STATES } from "../lib.mjs";
import {
  batchSubmit,
  countStates,
  flood,
  functionStats,
  maxTime,
  percentile,
  settle,
  spread,
  spreadText,
  tenant,
} from "../measure.mjs";

const DEMO = { type: "service", service: "DEMO_FN" };
/** Clients of the single-submission probes (as B1, B2). */
const CONC = 32;
/** `tasks:batch` requests in flight while filling. */
const FILL_PARALLEL = 4;
/** Filling stops (and the benchmark fails) past this; the spec size must be reached, not silently shrunk. */
const FILL_LIMIT_MS = 15 * 60_000;

/** The per-wave figures of the fill, for the notes and latest.json. */
function waveText(w) {
  return `${(w.stored / 1000).toFixed(0)}k: ${w.rate.toFixed(0)} tasks/s (request p50 ${w.p50} ms, p99 ${w.p99} ms)`;
}

/** Submit one wave of `count` tasks with tasks:batch, timing every request. */
async function fillWave(platform, acct, count) {
  const t0 = performance.now();
  const latencies = [];
  const errors = {};
  let ok = 0;
  const requests = Math.ceil(count / 100);
  let next = 0;
  await Promise.all(
    Array.from({ length: FILL_PARALLEL }, async () => {
      for (;;) {
        const i = next++;
        if (i >= requests) return;
        const size = Math.min(100, count - i * 100);
        const s = performance.now();
        const r = await call(platform.url, "POST", "/v1/functions/hold/tasks:batch", {
          token: acct.apiKey,
          json: Array.from({ length: size }, (_, j) => ({ payload: { n: i * 100 + j } })),
          timeoutMs: 120_000,
        });
        latencies.push(performance.now() - s);
        if (r.status === 202) ok += r.body.tasks.length;
        else errors[r.status] = (errors[r.status] ?? 0) + size;
      }
    }),
  );
  const elapsedMs = performance.now() - t0;
  return {
    ok,
    errors,
    elapsedMs,
    rate: (ok / elapsedMs) * 1000,
    p50: Math.round(percentile(latencies, 50)),
    p99: Math.round(percentile(latencies, 99)),
  };
}

/**
 * @param {{quick: boolean, rounds: number, extraVars: Record<string,string>, log: Function, resultsDir: string}} ctx
 * @returns {Promise<{rows: object[], notes: string[]}>}
 */
export async function runBacklog({ quick, rounds, extraVars, log }) {
  const size = quick
    ? { backlog: 10_000, wave: 5_000, probe: 400, batch: 1_000, fast: 300 }
    : { backlog: 100_000, wave: 10_000, probe: 1_500, batch: 3_000, fast: 1_000 };
  log(`B5: starting the platform (backlog ${size.backlog}, ${rounds} round(s))`);
  const platform = await startPlatform(extraVars);
  try {
    return await measure(platform, size, rounds, log);
  } catch (error) {
    console.error(platform.logs().slice(-5_000));
    throw error;
  } finally {
    await platform.stop();
  }
}

async function measure(platform, size, rounds, log) {
  async function setUp(prefix) {
    const acct = await tenant(platform, prefix);
    // maxConcurrency 1 as well as paused: should pausing ever fail to hold the backlog, it still barely moves.
    await putFunction(platform.url, acct.apiKey, "hold", {
      target: DEMO,
      isolation: "account",
      maxConcurrency: 1,
    });
    const paused = await call(platform.url, "POST", "/v1/functions/hold/pause", { token: acct.apiKey });
    if (paused.status !== 200 || paused.body?.paused !== true) {
      throw new Error(`B5: pause hold: HTTP ${paused.status} ${paused.text.slice(0, 300)}`);
    }
    await putFunction(platform.url, acct.apiKey, "fast", { target: DEMO, isolation: "account" });
    return acct;
  }

  const queuedOf = async (acct) => (await functionStats(platform.url, acct.apiKey, "hold")).counts.queued ?? 0;

  /**
   * The views of `ids` (tasks of `fn`) once each satisfies `done`: watch the last few ids, then read the newest pages
   * of the function's listing (the probe's tasks are its newest), not one GET per task.
   */
  async function newest(acct, fn, ids, done, timeoutMs) {
    const live = ids.filter(Boolean);
    await settle(platform.url, acct.apiKey, live.slice(-4), { done, timeoutMs });
    const deadline = Date.now() + timeoutMs;
    const found = new Map();
    const wanted = new Set(live);
    for (;;) {
      let cursor;
      let pages = 0;
      do {
        const query = `?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
        const page = await call(platform.url, "GET", `/v1/functions/${fn}/tasks${query}`, { token: acct.apiKey });
        if (page.status !== 200) throw new Error(`B5: list ${fn}: HTTP ${page.status} ${page.text.slice(0, 300)}`);
        for (const t of page.body.tasks) if (wanted.has(t.id) && done(t)) found.set(t.id, t);
        cursor = page.body.nextCursor;
        pages++;
      } while (cursor && found.size < wanted.size && pages < Math.ceil(wanted.size / 1000) + 2);
      if (found.size === wanted.size) return live.map((id) => found.get(id));
      if (Date.now() > deadline) {
        throw new Error(`B5: ${wanted.size - found.size} of ${wanted.size} tasks of ${fn} not done in ${timeoutMs} ms`);
      }
      await sleep(500);
    }
  }

  async function acceptProbe(acct) {
    const t0 = Date.now();
    const run = await flood(platform.url, "/v1/functions/hold/tasks", size.probe, CONC, { token: acct.apiKey });
    const views = await newest(acct, "hold", run.ids, (t) => t.state !== "accepted", 180_000);
    return {
      rate: (run.ok / (maxTime(views, "queuedAt") - t0)) * 1000,
      httpRate: (run.ok / run.elapsedMs) * 1000,
      ok: run.ok,
      errors: run.errors,
      states: countStates(views),
    };
  }

  /** The shard's own accept cost: `tasks:batch` goes straight to the shard (no ingest queue); a 202 means stored. */
  async function batchProbe(acct) {
    const run = await batchSubmit(platform.url, "/v1/functions/hold/tasks:batch", size.batch, {
      token: acct.apiKey,
      payload: { echo: 1 },
      parallel: FILL_PARALLEL,
    });
    if (run.ok !== size.batch)
      throw new Error(`B5: batch probe: ${run.ok} of ${size.batch}: ${JSON.stringify(run.errors)}`);
    return { rate: (run.ok / run.elapsedMs) * 1000, errors: run.errors };
  }

  async function dispatchProbe(acct) {
    // Unmeasured: the function's window is open, whatever it did since its last round.
    const warm = await flood(platform.url, "/v1/functions/fast/tasks", 100, CONC, { token: acct.apiKey });
    await newest(acct, "fast", warm.ids, (t) => TERMINAL_STATES.has(t.state), 60_000);
    const t0 = Date.now();
    const run = await flood(platform.url, "/v1/functions/fast/tasks", size.fast, CONC, { token: acct.apiKey });
    const views = await newest(acct, "fast", run.ids, (t) => TERMINAL_STATES.has(t.state), 240_000);
    const succeeded = views.filter((v) => v.state === "succeeded").length;
    return {
      rate: (succeeded / (maxTime(views, "finishedAt") - t0)) * 1000,
      errors: run.errors,
      states: countStates(views),
      retried: views.filter((v) => v.attempts > 1).length,
    };
  }

  /** Cancel what the accept probe left in the empty shard's `hold`, so its queue is empty again. */
  async function emptyAgain(acct) {
    const cancelled = await call(platform.url, "POST", "/v1/functions/hold/tasks:cancel", {
      token: acct.apiKey,
      json: { state: "queued" },
    });
    if (cancelled.status !== 200) throw new Error(`B5: cancel: HTTP ${cancelled.status} ${cancelled.text}`);
    // A bulk cancel changes 1,000 tasks at once and the rest from the shard's alarm: wait for it to finish.
    for (let i = 0; i < 120; i++) {
      if ((await queuedOf(acct)) === 0) return;
      await sleep(500);
    }
    throw new Error(`B5: the empty shard still holds ${await queuedOf(acct)} queued tasks`);
  }

  /**
   * One round: the accept probe on both shards back to back, then the dispatch probe on both, `first` going first
   * each time, so the two figures of a pair are measured within seconds of each other.
   */
  async function round(label, first) {
    const order = first === "empty" ? ["empty", "full"] : ["full", "empty"];
    const out = { empty: {}, full: {} };
    for (const which of order) out[which].accept = await acceptProbe(shards[which]);
    for (const which of order) out[which].batch = await batchProbe(shards[which]);
    await emptyAgain(shards.empty);
    for (const which of order) out[which].dispatch = await dispatchProbe(shards[which]);
    out.full.queued = await queuedOf(shards.full);
    out.load = loadavg()[0];
    const f = (p) =>
      `accept ${p.accept.rate.toFixed(0)} tasks/s (batch ${p.batch.rate.toFixed(0)}), dispatch ${p.dispatch.rate.toFixed(0)} tasks/s`;
    log(
      `B5 ${label}: empty shard ${f(out.empty)}; backlog shard (${out.full.queued} queued) ${f(out.full)}; load ${out.load.toFixed(1)}`,
    );
    return out;
  }

  const shards = { empty: await setUp("bench-b5-empty"), full: await setUp("bench-b5-backlog") };
  const full = shards.full;
  // Warm-up (not measured): both shards, their functions and the gateway's caches.
  for (const acct of Object.values(shards)) {
    const warm = await flood(platform.url, "/v1/functions/fast/tasks", 100, CONC, { token: acct.apiKey });
    await settle(platform.url, acct.apiKey, warm.ids, { timeoutMs: 60_000 });
  }
  const before = await round("before the fill (a check, not the figure)", "empty");

  // Fill.
  const start = await queuedOf(full);
  log(
    `B5: filling a backlog of ${size.backlog} tasks (waves of ${size.wave}, tasks:batch, ${FILL_PARALLEL} in flight)`,
  );
  const t0 = Date.now();
  const waves = [];
  let sent = 0;
  while (sent < size.backlog) {
    if (Date.now() - t0 > FILL_LIMIT_MS) {
      throw new Error(`B5: only ${sent} of ${size.backlog} backlog tasks sent in ${FILL_LIMIT_MS / 60_000} min`);
    }
    const n = Math.min(size.wave, size.backlog - sent);
    const wave = await fillWave(platform, full, n);
    if (wave.ok !== n) throw new Error(`B5: fill wave: ${wave.ok} of ${n} accepted: ${JSON.stringify(wave.errors)}`);
    sent += n;
    const stored = (await queuedOf(full)) - start;
    waves.push({ ...wave, stored });
    log(`B5: wave stored, ${waveText(waves.at(-1))}; hold counts ${stored} queued`);
  }
  const fillMs = Date.now() - t0;
  // A batch is stored before its 202, so the count should already be complete; wait a little in case it is not.
  let stored = await queuedOf(full);
  for (let i = 0; i < 30 && stored - start < size.backlog; i++) {
    await sleep(1_000);
    stored = await queuedOf(full);
  }
  if (stored - start < size.backlog) {
    throw new Error(`B5: stats count ${stored - start} queued of the ${size.backlog} backlog tasks sent`);
  }
  log(`B5: backlog of ${stored} queued (stats) filled in ${(fillMs / 1000).toFixed(1)} s; measuring`);

  // Rounds, the order alternating.
  const measured = [];
  const loadBefore = loadavg()[0];
  for (let r = 1; r <= rounds; r++) measured.push(await round(`round ${r}`, r % 2 ? "full" : "empty"));
  const after = { empty: measured.map((x) => x.empty), full: measured.map((x) => x.full) };
  const finalQueued = await queuedOf(full);

  const paired = (field) => after.full.map((f, i) => f[field].rate / after.empty[i][field].rate);
  const figures = {};
  for (const field of ["accept", "batch", "dispatch"]) {
    figures[field] = {
      ratio: spread(paired(field)),
      full: spread(after.full.map((p) => p[field].rate)),
      empty: spread(after.empty.map((p) => p[field].rate)),
    };
  }
  const details = {
    size,
    fillMs,
    backlog: stored,
    finalQueued,
    waves,
    before,
    after,
    ratios: { accept: paired("accept"), batch: paired("batch"), dispatch: paired("dispatch") },
  };
  const rows = [
    {
      id: "B5a",
      what: `backlog accept: ${size.probe} submissions (32 clients, ingest queue) -> queued into a function whose shard already holds ${stored} queued tasks of it, ÷ into an empty shard`,
      measured: figures.accept.full.median,
      unit: "tasks/s",
      baseline: figures.accept.empty.median,
      ratio: figures.accept.ratio.median,
      target: ">= 0.8",
      pass: figures.accept.ratio.median >= 0.8,
      spread: figures.accept,
      details,
    },
    {
      id: "B5a batch",
      what: `backlog accept, the shard alone: ${size.batch} tasks as tasks:batch requests of 100 (straight to the shard, 4 in flight) into that function, ÷ into an empty shard`,
      measured: figures.batch.full.median,
      unit: "tasks/s",
      baseline: figures.batch.empty.median,
      ratio: figures.batch.ratio.median,
      target: ">= 0.8",
      pass: figures.batch.ratio.median >= 0.8,
      spread: figures.batch,
    },
    {
      id: "B5b",
      what: `backlog dispatch: ${size.fast} no-op tasks of another function on that shard, submit -> succeeded, ÷ on an empty shard`,
      measured: figures.dispatch.full.median,
      unit: "tasks/s",
      baseline: figures.dispatch.empty.median,
      ratio: figures.dispatch.ratio.median,
      target: ">= 0.8",
      pass: figures.dispatch.ratio.median >= 0.8,
      spread: figures.dispatch,
    },
  ];
  const fillRate = (size.backlog / fillMs) * 1000;
  const errs = [...after.full, ...after.empty].flatMap((p) => [p.accept.errors, p.batch.errors, p.dispatch.errors]);
  const errors = Object.entries(Object.assign({}, ...errs)).length ? JSON.stringify(errs) : "none";
  const notes = [
    `B5: backlog of ${stored} queued tasks (stats) in one paused function, filled once in ${(fillMs / 1000).toFixed(1)} s (${fillRate.toFixed(0)} tasks/s, tasks:batch of 100, ${FILL_PARALLEL} in flight; waves: ${waves.map(waveText).join("; ")}); ${finalQueued} queued after the rounds; 1-min load average ${loadBefore.toFixed(1)} before the rounds, ${measured.map((x) => x.load.toFixed(1)).join(", ")} after each (2 cores)`,
    `B5a accept: ratio ${spreadText(figures.accept.ratio, 2)} [${paired("accept")
      .map((x) => x.toFixed(2))
      .join(
        ", ",
      )}]; tasks/s backlog ${spreadText(figures.accept.full)}, empty ${spreadText(figures.accept.empty)}; before the fill: empty ${before.empty.accept.rate.toFixed(0)}, the backlog shard ${before.full.accept.rate.toFixed(0)}; as tasks:batch (the shard alone): ratio ${spreadText(figures.batch.ratio, 2)} [${paired(
      "batch",
    )
      .map((x) => x.toFixed(2))
      .join(
        ", ",
      )}], tasks/s backlog ${spreadText(figures.batch.full)}, empty ${spreadText(figures.batch.empty)}, before the fill ${before.empty.batch.rate.toFixed(0)} / ${before.full.batch.rate.toFixed(0)}`,
    `B5b dispatch: ratio ${spreadText(figures.dispatch.ratio, 2)} [${paired("dispatch")
      .map((x) => x.toFixed(2))
      .join(
        ", ",
      )}]; tasks/s backlog ${spreadText(figures.dispatch.full)}, empty ${spreadText(figures.dispatch.empty)}; before the fill: empty ${before.empty.dispatch.rate.toFixed(0)}, the backlog shard ${before.full.dispatch.rate.toFixed(0)}; no-op tasks with more than one attempt: backlog ${after.full.map((p) => p.dispatch.retried).join(", ")}, empty ${after.empty.map((p) => p.dispatch.retried).join(", ")}; errors ${errors}`,
  ];
  return { rows, notes };
}
