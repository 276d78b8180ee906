/**
 * @module
 * Measuring helpers shared by bench/run.mjs and the scenarios under bench/scenarios/: submitting in bulk, waiting for
 * tasks to end (timings always come from the tasks' own timelines, never from when we polled), and small statistics.
 */

import { call, createAccount, getTask, runPool, sleep, TERMINAL_STATES } from "./lib.mjs";

/** The no-op payload of the demo function. */
export const PAYLOAD = JSON.stringify({ echo: 1 });

/** POST `count` submissions with `concurrency` clients; returns ids (null for a failed one), elapsed ms and errors. */
export async function flood(url, path, count, concurrency, { token, body = PAYLOAD, headers = {} } = {}) {
  const errors = new Map();
  const t0 = performance.now();
  const ids = await runPool(count, concurrency, async () => {
    try {
      const response = await fetch(url + path, {
        method: "POST",
        body,
        headers: {
          "content-type": "application/json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...headers,
        },
      });
      const text = await response.text();
      if (response.status !== 202) {
        errors.set(response.status, (errors.get(response.status) ?? 0) + 1);
        return null;
      }
      return JSON.parse(text).id;
    } catch (error) {
      const key = String(error?.cause?.code ?? error?.name ?? error);
      errors.set(key, (errors.get(key) ?? 0) + 1);
      return null;
    }
  });
  const elapsedMs = performance.now() - t0;
  return { ids, elapsedMs, errors: Object.fromEntries(errors), ok: ids.filter(Boolean).length };
}

/**
 * Submit `count` tasks with `tasks:batch`, 100 per request, all requests at once (at most `parallel` at a time).
 * `fairnessKey` is the batch item field that stands for the `Sluice-Fairness-Key` header.
 */
export async function batchSubmit(url, path, count, { token, payload, fairnessKey, parallel = Infinity }) {
  const t0 = performance.now();
  const errors = new Map();
  const sizes = [];
  for (let left = count; left > 0; left -= 100) sizes.push(Math.min(100, left));
  const item = fairnessKey ? { payload, fairnessKey } : { payload };
  const pages = await runPool(sizes.length, parallel, async (i) => {
    const size = sizes[i];
    const response = await fetch(url + path, {
      method: "POST",
      body: JSON.stringify(Array.from({ length: size }, () => item)),
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    });
    const text = await response.text();
    if (response.status !== 202) {
      errors.set(response.status, (errors.get(response.status) ?? 0) + size);
      return [];
    }
    return JSON.parse(text).tasks.map((t) => t.id);
  });
  const ids = pages.flat();
  return { ids, elapsedMs: performance.now() - t0, errors: Object.fromEntries(errors), ok: ids.length };
}

/**
 * Wait until every task satisfies `done`: first watch a few of the last-submitted ids (cheap), then read them all
 * (8 at a time) and re-read the stragglers. Returns the final task views.
 */
export async function settle(
  base,
  apiKey,
  ids,
  { done = (t) => TERMINAL_STATES.has(t.state), timeoutMs = 180_000, intervalMs = 250 } = {},
) {
  const live = ids.filter(Boolean);
  const deadline = Date.now() + timeoutMs;
  const tail = live.slice(-4);
  for (;;) {
    const views = await Promise.all(tail.map((id) => getTask(base, apiKey, id)));
    if (views.every(done)) break;
    if (Date.now() > deadline)
      throw new Error(`settle: tail not done in ${timeoutMs} ms: ${JSON.stringify(views.map((v) => v.state))}`);
    await sleep(intervalMs);
  }
  const final = new Map();
  let pending = live;
  for (;;) {
    const views = await runPool(pending.length, 8, (i) => getTask(base, apiKey, pending[i]));
    for (const v of views) if (done(v)) final.set(v.id, v);
    pending = pending.filter((id) => !final.has(id));
    if (pending.length === 0) break;
    if (Date.now() > deadline) {
      const states = {};
      for (const v of views) if (!done(v)) states[v.state] = (states[v.state] ?? 0) + 1;
      throw new Error(`settle: ${pending.length} tasks not done in ${timeoutMs} ms: ${JSON.stringify(states)}`);
    }
    await sleep(Math.max(intervalMs, 500));
  }
  return live.map((id) => final.get(id));
}

export const maxTime = (views, field) => Math.max(...views.map((v) => Date.parse(v.timeline[field])));
/** Tasks whose history shows a lost invocation (the shard re-queued them when the lease ran out). */
export const leaseExpired = (views) =>
  views.filter((v) => (v.attemptLog ?? []).some((a) => a.error?.kind === "lease_expired")).length;
export const countStates = (views) => {
  const counts = {};
  for (const v of views) counts[v.state] = (counts[v.state] ?? 0) + 1;
  return counts;
};

/** Largest number of tenant calls that overlapped in time, from the attempt logs. */
export function peakConcurrency(views) {
  const edges = [];
  for (const v of views) {
    for (const a of v.attemptLog ?? []) {
      const s = Date.parse(a.startedAt);
      edges.push([s, 1], [s + a.durationMs, -1]);
    }
  }
  edges.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let now = 0;
  let peak = 0;
  for (const [, d] of edges) peak = Math.max(peak, (now += d));
  return peak;
}

export function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Create an account + function with a fresh, collision-free name. */
export async function tenant(platform, prefix) {
  const id = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
  return createAccount(platform.url, platform.adminToken, id);
}

/** The figures of one submission run worth keeping in latest.json. */
export function summarize(run) {
  return { ok: run.ok, elapsedMs: Math.round(run.elapsedMs), errors: run.errors };
}

/** min / median / max of some numbers (null when there are none). */
export function spread(values) {
  const xs = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (xs.length === 0) return { min: null, median: null, max: null, n: 0 };
  const mid = xs.length >> 1;
  const median = xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
  return { min: xs[0], median, max: xs[xs.length - 1], n: xs.length };
}

/** "median (min–max)" of a spread, for notes. */
export function spreadText(s, digits = 0) {
  if (s.n === 0) return "-";
  const f = (x) => x.toFixed(digits);
  return s.n === 1 ? f(s.median) : `${f(s.median)} (${f(s.min)}–${f(s.max)}, ${s.n} rounds)`;
}

/** Milliseconds between two timeline fields of a task view or summary (NaN when either is missing). */
export const span = (task, from, to) => Date.parse(task.timeline[to] ?? "") - Date.parse(task.timeline[from] ?? "");

/** p50 and p99 (ms) of the stages of some tasks: gateway -> shard, shard wait, dispatch -> finished, end to end. */
export function stages(tasks) {
  const of = (from, to) => {
    const xs = tasks.map((t) => span(t, from, to)).filter(Number.isFinite);
    return { p50: percentile(xs, 50), p99: percentile(xs, 99) };
  };
  return {
    ingest: of("acceptedAt", "queuedAt"),
    queueWait: of("queuedAt", "firstDispatchedAt"),
    run: of("firstDispatchedAt", "finishedAt"),
    endToEnd: of("acceptedAt", "finishedAt"),
  };
}

/** "p50/p99" of each stage, for notes. */
export function stagesText(s) {
  return `accepted→queued ${s.ingest.p50}/${s.ingest.p99}, queued→dispatched ${s.queueWait.p50}/${s.queueWait.p99}, dispatched→finished ${s.run.p50}/${s.run.p99}, end-to-end ${s.endToEnd.p50}/${s.endToEnd.p99} ms (p50/p99)`;
}

/** Every task of a function as listed (summaries with timelines), keyed by id; pages of 1,000. */
export async function listAll(base, apiKey, fn) {
  const all = new Map();
  let cursor;
  do {
    const query = `?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const page = await call(base, "GET", `/v1/functions/${fn}/tasks${query}`, { token: apiKey });
    if (page.status !== 200) throw new Error(`list ${fn}: HTTP ${page.status} ${page.text.slice(0, 300)}`);
    for (const t of page.body.tasks) all.set(t.id, t);
    cursor = page.body.nextCursor;
  } while (cursor);
  return all;
}

/** Task counts per state of one function (`GET /v1/functions/:name/stats`), plus the shard it is placed on. */
export async function functionStats(base, apiKey, fn) {
  const r = await call(base, "GET", `/v1/functions/${fn}/stats`, { token: apiKey });
  if (r.status !== 200) throw new Error(`stats ${fn}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
  return r.body;
}

const endedCount = (counts) => [...TERMINAL_STATES].reduce((n, s) => n + (counts[s] ?? 0), 0);

/**
 * Wait, politely (one stats request per `intervalMs`), until `count` tasks of function `fn` have ended, or the
 * deadline passes; then list the function's tasks and account for every id submitted: how many ended in which state,
 * how many are still not terminal (by state) and how many the listing does not know at all (lost, or still in the
 * ingest queue when the wait timed out). Never throws for a missing task: that is a finding to report.
 * @returns {Promise<{tasks: object[], states: Record<string, number>, lost: number, notTerminal: number, waitedMs: number}>}
 */
export async function collect(base, apiKey, fn, ids, { timeoutMs = 300_000, intervalMs = 1_000, done } = {}) {
  const live = ids.filter(Boolean);
  const t0 = Date.now();
  const deadline = t0 + timeoutMs;
  for (;;) {
    const stats = await functionStats(base, apiKey, fn);
    if (endedCount(stats.counts) >= live.length) break;
    if (Date.now() > deadline) break;
    await sleep(intervalMs);
  }
  let listed = await listAll(base, apiKey, fn);
  // An extra condition (e.g. delivered) is checked on the listing, still at one request per interval.
  while (done && live.some((id) => listed.has(id) && !done(listed.get(id))) && Date.now() < deadline) {
    await sleep(intervalMs);
    listed = await listAll(base, apiKey, fn);
  }
  const tasks = [];
  let lost = 0;
  for (const id of live) {
    const t = listed.get(id);
    if (t) tasks.push(t);
    else lost++;
  }
  const states = countStates(tasks);
  const notTerminal = tasks.filter((t) => !TERMINAL_STATES.has(t.state)).length;
  return { tasks, states, lost, notTerminal, waitedMs: Date.now() - t0 };
}

/** "states {...}" plus a loud warning for any task lost or not terminal. */
export function accountingText(what, c) {
  const problems = [];
  if (c.lost) problems.push(`${c.lost} NOT LISTED (lost?)`);
  if (c.notTerminal) problems.push(`${c.notTerminal} NOT TERMINAL`);
  return `${what} ${JSON.stringify(c.states)}${problems.length ? ` ⚠ ${problems.join(", ")}` : ""}`;
}

/**
 * Submit one task every `1000 / ratePerSecond` ms (requests overlap; none waits for the one before) until `stop()`
 * says so or `maxMs` passes. Returns the ids, the time of the first submit and errors by status.
 */
export async function trickle(
  base,
  apiKey,
  fn,
  { ratePerSecond, maxMs, stop = () => false, body = PAYLOAD, headers = {} },
) {
  const gap = 1000 / ratePerSecond;
  const t0 = Date.now();
  const pending = [];
  const errors = {};
  for (let i = 0; ; i++) {
    const due = t0 + i * gap;
    if (due - t0 >= maxMs || (await stop())) break;
    if (due > Date.now()) await sleep(due - Date.now());
    pending.push(
      call(base, "POST", `/v1/functions/${fn}/tasks`, {
        token: apiKey,
        body,
        headers: { "content-type": "application/json", ...headers },
      }).then(
        (r) => {
          if (r.status === 202) return r.body.id;
          errors[r.status] = (errors[r.status] ?? 0) + 1;
          return null;
        },
        (error) => {
          const key = String(error?.cause?.code ?? error?.name ?? error);
          errors[key] = (errors[key] ?? 0) + 1;
          return null;
        },
      ),
    );
  }
  const ids = await Promise.all(pending);
  return { ids, startedAt: t0, errors, ok: ids.filter(Boolean).length };
}

/** What `collect` found, without the task summaries themselves (for latest.json). */
export const tally = ({ tasks, ...rest }) => rest;
