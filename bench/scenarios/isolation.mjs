/**
 * @module
 * B3 (isolation under a flood) and B9 (fairness keys), each on two platforms: Sluice as it is, and with
 * `DISPATCH_ORDER: "fifo"` (one FIFO in arrival order, the contrast the benchmarks table asks for; a platform that does
 * not know the variable ignores it, and both look alike). `SHARED_SHARDS: "1"` puts every shared function on one shard.
 *
 * B3: three accounts on that one shard. The quiet tenant trickles 10 tasks/s to a fast function; the flood tenant
 * submits 5,000 tasks to a 500 ms function (maxConcurrency 100); the storm tenant's function always answers 500 and
 * is retried. Figure: the quiet tenant's p99 end-to-end (acceptedAt → finishedAt) with the neighbours ÷ alone.
 * B3 runs on a third platform too ("B3 placement", default order and default PLACEMENT_* settings): the same rounds
 * with the flood function `isolation: "auto"`, so automatic placement may promote it to a dedicated shard; the pinned
 * runs measure the scheduler alone. It reports when the flood moved (stats' `placement.recentMoves`), to how many
 * partitions, and the quiet tenant's p99 for tasks accepted before and after the move.
 *
 * B9: one function (20 ms, maxConcurrency 10). One customer submits 5,000 tasks with fairness key `big`, then 20 small
 * customers (`c1`…`c20`) a few each. Figure: the small customers' p99 end-to-end ÷ the same submissions alone.
 */

import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { call, putFunction, runPool, sleep, startPlatform } from "../lib.mjs";
import {
  accountingText,
  batchSubmit,
  collect,
  functionStats,
  percentile,
  span,
  spread,
  spreadText,
  stages,
  stagesText,
  tally,
  tenant,
  trickle,
} from "../measure.mjs";
import { linePlot } from "../svg.mjs";

const MODES = [
  { name: "sluice", label: "Sluice", vars: {}, floodIsolation: "shared", b9: true },
  { name: "fifo", label: "FIFO", vars: { DISPATCH_ORDER: "fifo" }, floodIsolation: "shared", b9: true },
  // B3 only: the flood function left to automatic placement (B9 is not run here).
  { name: "placement", label: "Sluice, flood auto", vars: {}, floodIsolation: "auto", b9: false },
  // B3 only: the quiet tenant on one platform, the flood and the storm on another (two `wrangler dev`, no shard,
  // queue or thread in common): what this machine's two cores alone do to the quiet tenant, the floor any scheduler
  // measured here stands on.
  { name: "separate", label: "separate platforms", vars: {}, floodIsolation: "shared", b9: false, separate: true },
];
const ROW_ID = { sluice: "B3", fifo: "B3 fifo", placement: "B3 placement", separate: "B3 separate" };

const demo = { type: "service", service: "DEMO_FN" };
const e2e = (tasks) => tasks.map((t) => span(t, "acceptedAt", "finishedAt")).filter(Number.isFinite);

function sizes(quick) {
  return quick
    ? { flood: 1_000, storm: 60, rate: 10, aloneMs: 6_000, noisyMaxMs: 40_000, big: 1_000, small: 20, perSmall: 2 }
    : { flood: 5_000, storm: 300, rate: 10, aloneMs: 20_000, noisyMaxMs: 120_000, big: 5_000, small: 20, perSmall: 5 };
}

/**
 * One B3 round on a platform: the quiet trickle alone, then again with the flood and the storm running. With
 * `noisyPlatform` the flood and the storm run there (their accounts made on it) and the quiet tenant alone on `platform`.
 */
async function b3Round(platform, accounts, round, size, log, floodIsolation = "shared", noisyPlatform = platform) {
  const { quiet, flood, storm } = accounts;
  const fast = `quiet-${round}`;
  const slow = `flood-${round}`;
  const broken = `storm-${round}`;
  await putFunction(platform.url, quiet.apiKey, fast, { target: demo, isolation: "shared" });
  await putFunction(noisyPlatform.url, flood.apiKey, slow, {
    target: demo,
    isolation: floodIsolation,
    maxConcurrency: 100,
    timeoutMs: 10_000,
  });
  await putFunction(noisyPlatform.url, storm.apiKey, broken, {
    target: demo,
    isolation: "shared",
    retry: { maxAttempts: 5, initialBackoffMs: 100, maxBackoffMs: 1_000 },
  });
  const shards = new Set(
    await Promise.all(
      [
        [platform, quiet, fast],
        [noisyPlatform, flood, slow],
        [noisyPlatform, storm, broken],
      ].map(async ([p, a, fn]) => `${p.url} ${(await functionStats(p.url, a.apiKey, fn)).placement.shard}`),
    ),
  );
  const expected = platform === noisyPlatform ? 1 : 2;
  if (shards.size !== expected) throw new Error(`B3: the three functions are not on one shard: ${[...shards]}`);
  const quietBody = JSON.stringify({ sleepMs: 3 });

  log(`B3 round ${round}: quiet tenant alone, ${size.rate}/s for ${size.aloneMs / 1000} s`);
  const alone = await trickle(platform.url, quiet.apiKey, fast, {
    ratePerSecond: size.rate,
    maxMs: size.aloneMs,
    body: quietBody,
  });
  const aloneDone = await collect(platform.url, quiet.apiKey, fast, alone.ids, { timeoutMs: 120_000 });

  log(`B3 round ${round}: flood of ${size.flood} × 500 ms and a storm of ${size.storm} failing tasks, quiet trickling`);
  const floodStart = Date.now();
  let floodEnded = false;
  /** When the neighbours' last submission was answered: after it, only their calls share the quiet tenant's thread. */
  let intakeEndedAt = floodStart;
  const submitted = (run) => {
    intakeEndedAt = Math.max(intakeEndedAt, Date.now());
    return run;
  };
  const floodSubmit = batchSubmit(noisyPlatform.url, `/v1/functions/${slow}/tasks:batch`, size.flood, {
    token: flood.apiKey,
    payload: { sleepMs: 500 },
    parallel: 8,
  }).then(submitted);
  const stormSubmit = batchSubmit(noisyPlatform.url, `/v1/functions/${broken}/tasks:batch`, size.storm, {
    token: storm.apiKey,
    payload: { fail: 500 },
    parallel: 2,
  }).then(submitted);
  // Watch the flood once a second; the trickle runs until the flood has ended (or noisyMaxMs).
  const watcher = (async () => {
    while (!floodEnded) {
      await sleep(1_000);
      const c = (await functionStats(noisyPlatform.url, flood.apiKey, slow)).counts;
      if ((c.succeeded ?? 0) + (c.failed ?? 0) + (c.cancelled ?? 0) + (c.expired ?? 0) >= size.flood) floodEnded = true;
      if (Date.now() - floodStart > size.noisyMaxMs) floodEnded = true;
    }
  })();
  const noisy = await trickle(platform.url, quiet.apiKey, fast, {
    ratePerSecond: size.rate,
    maxMs: size.noisyMaxMs,
    stop: () => floodEnded,
    body: quietBody,
  });
  await watcher;
  const [floodRun, stormRun] = await Promise.all([floodSubmit, stormSubmit]);
  const noisyDone = await collect(platform.url, quiet.apiKey, fast, noisy.ids, { timeoutMs: 180_000 });
  const floodDone = await collect(noisyPlatform.url, flood.apiKey, slow, floodRun.ids, { timeoutMs: 180_000 });
  const stormDone = await collect(noisyPlatform.url, storm.apiKey, broken, stormRun.ids, { timeoutMs: 180_000 });
  const floodTimes = floodDone.tasks.map((t) => Date.parse(t.timeline.finishedAt)).filter(Number.isFinite);
  const promotion = await promotionOf(noisyPlatform, flood.apiKey, slow, floodStart, noisyDone.tasks, floodDone.tasks);

  return {
    promotion,
    alone: { p99: percentile(e2e(aloneDone.tasks), 99), stages: stages(aloneDone.tasks), done: tally(aloneDone) },
    noisy: { p99: percentile(e2e(noisyDone.tasks), 99), stages: stages(noisyDone.tasks), done: tally(noisyDone) },
    // The quiet tasks accepted once the neighbours' submissions were all answered: the scheduler's share alone, without
    // the accept burst that (locally) shares the quiet tenant's one workerd thread.
    afterIntake: (() => {
      const later = noisyDone.tasks.filter((t) => Date.parse(t.timeline.acceptedAt) >= intakeEndedAt);
      return { atS: (intakeEndedAt - floodStart) / 1000, tasks: later.length, p99: percentile(e2e(later), 99) };
    })(),
    floodDone: tally(floodDone),
    stormDone: tally(stormDone),
    floodWallMs: Math.max(...floodTimes) - floodStart,
    errors: { alone: alone.errors, noisy: noisy.errors, flood: floodRun.errors, storm: stormRun.errors },
    series: {
      alone: aloneDone.tasks.map((t) => [
        (Date.parse(t.timeline.acceptedAt) - alone.startedAt) / 1000,
        span(t, "acceptedAt", "finishedAt"),
      ]),
      noisy: noisyDone.tasks.map((t) => [
        (Date.parse(t.timeline.acceptedAt) - floodStart) / 1000,
        span(t, "acceptedAt", "finishedAt"),
      ]),
    },
  };
}

/**
 * The flood function's first automatic move (from stats' `placement.recentMoves`), in seconds after the flood started,
 * and the quiet tenant's p99 end-to-end for its tasks accepted before and after it. Null when it never moved.
 */
async function promotionOf(platform, apiKey, fn, floodStart, quietTasks, floodTasks) {
  const placement = (await functionStats(platform.url, apiKey, fn)).placement;
  const first = placement.recentMoves?.[0];
  if (!first) return { moved: false, tier: placement.tier, partitions: placement.partitions, moves: placement.moves };
  const at = Date.parse(first.at);
  const accepted = (t) => Date.parse(t.timeline.acceptedAt);
  const before = quietTasks.filter((t) => accepted(t) < at);
  const after = quietTasks.filter((t) => accepted(t) >= at);
  return {
    moved: true,
    afterS: (at - floodStart) / 1000,
    from: first.from,
    to: first.to,
    partitions: first.partitions,
    reason: first.reason,
    moves: placement.moves,
    recentMoves: placement.recentMoves,
    finalPartitions: placement.partitions,
    quietBefore: { n: before.length, p99: percentile(e2e(before), 99), p50: percentile(e2e(before), 50) },
    quietAfter: { n: after.length, p99: percentile(e2e(after), 99), p50: percentile(e2e(after), 50) },
    floodAcceptedBefore: floodTasks.filter((t) => accepted(t) < at).length,
    floodTasks: floodTasks.length,
    floodByShard: byShard(floodTasks),
  };
}

/** The shard a task id names (`tsk_<base64url shard>.<nonce>.<mac>`, src/ids.ts), or "?" if it does not parse. */
function shardOfId(id) {
  const match = /^tsk_([A-Za-z0-9_-]+)\./.exec(id ?? "");
  return match ? Buffer.from(match[1], "base64url").toString("utf8") : "?";
}

/** How many of the tasks each shard held, and the most of them that were running at once (dispatch → finished). */
function byShard(tasks) {
  const out = {};
  for (const t of tasks) {
    const shard = shardOfId(t.id);
    out[shard] ??= { tasks: 0, edges: [] };
    out[shard].tasks++;
    const from = Date.parse(t.timeline.firstDispatchedAt ?? "");
    const to = Date.parse(t.timeline.finishedAt ?? "");
    if (Number.isFinite(from) && Number.isFinite(to)) out[shard].edges.push([from, 1], [to, -1]);
  }
  const all = Object.values(out).flatMap((s) => s.edges);
  const peak = (edges) => {
    edges.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    let n = 0;
    let most = 0;
    for (const [, d] of edges) most = Math.max(most, (n += d));
    return most;
  };
  const shards = Object.fromEntries(
    Object.entries(out).map(([shard, s]) => [shard, { tasks: s.tasks, peakRunning: peak(s.edges) }]),
  );
  return { shards, peakRunning: peak(all) };
}

/** Submit `perSmall` tasks for each of `small` customers (keys c1…cN), one request each with the header. */
async function smallCustomers(platform, apiKey, fn, size) {
  const count = size.small * size.perSmall;
  const errors = {};
  const ids = await runPool(count, 10, async (i) => {
    const r = await call(platform.url, "POST", `/v1/functions/${fn}/tasks`, {
      token: apiKey,
      json: { sleepMs: 20 },
      headers: { "sluice-fairness-key": `c${(i % size.small) + 1}` },
    });
    if (r.status === 202) return r.body.id;
    errors[r.status] = (errors[r.status] ?? 0) + 1;
    return null;
  });
  return { ids, errors };
}

/** One B9 round: the small customers alone, then behind the big customer's backlog, on a fresh function each. */
async function b9Round(platform, acct, round, size, log) {
  const spec = { target: demo, isolation: "shared", maxConcurrency: 10 };
  const aloneFn = `fair-alone-${round}`;
  const fn = `fair-${round}`;
  await putFunction(platform.url, acct.apiKey, aloneFn, spec);
  await putFunction(platform.url, acct.apiKey, fn, spec);

  log(`B9 round ${round}: ${size.small} small customers × ${size.perSmall} alone`);
  const alone = await smallCustomers(platform, acct.apiKey, aloneFn, size);
  const aloneDone = await collect(platform.url, acct.apiKey, aloneFn, alone.ids, { timeoutMs: 120_000 });

  log(`B9 round ${round}: backlog of ${size.big} (key "big"), then the small customers`);
  const t0 = Date.now();
  const big = await batchSubmit(platform.url, `/v1/functions/${fn}/tasks:batch`, size.big, {
    token: acct.apiKey,
    payload: { sleepMs: 20 },
    fairnessKey: "big",
    parallel: 8,
  });
  // The backlog is in the shard (none still in the ingest queue) before the small customers submit.
  for (;;) {
    const c = (await functionStats(platform.url, acct.apiKey, fn)).counts;
    const inShard = Object.values(c).reduce((a, b) => a + b, 0);
    if (inShard >= big.ok || Date.now() - t0 > 120_000) break;
    await sleep(500);
  }
  const queuedWhenSmallArrived = (await functionStats(platform.url, acct.apiKey, fn)).counts.queued ?? 0;
  const smallRun = await smallCustomers(platform, acct.apiKey, fn, size);
  const smallIds = new Set(smallRun.ids.filter(Boolean));
  const everything = await collect(platform.url, acct.apiKey, fn, [...big.ids, ...smallRun.ids], {
    timeoutMs: 300_000,
  });
  const smallTasks = everything.tasks.filter((t) => smallIds.has(t.id));
  const bigTasks = everything.tasks.filter((t) => !smallIds.has(t.id));
  return {
    alone: { p99: percentile(e2e(aloneDone.tasks), 99), stages: stages(aloneDone.tasks), done: tally(aloneDone) },
    loaded: { p99: percentile(e2e(smallTasks), 99), stages: stages(smallTasks) },
    bigP50: percentile(e2e(bigTasks), 50),
    everything: tally(everything),
    queuedWhenSmallArrived,
    errors: { alone: alone.errors, big: big.errors, small: smallRun.errors },
  };
}

/** Stop a started platform when starting the next one failed, then rethrow. */
function stopAnd(platform) {
  return async (error) => {
    await platform.stop();
    throw error;
  };
}

/**
 * Run B3 and/or B9 in both dispatch modes.
 * @param {{quick: boolean, rounds: number, extraVars: Record<string,string>, log: Function, resultsDir: string,
 *   want: {b3: boolean, b9: boolean}}} ctx
 * @returns {Promise<{rows: object[], notes: string[]}>}
 */
export async function runIsolation({ quick, rounds, extraVars, log, resultsDir, want }) {
  const size = sizes(quick);
  const rows = [];
  const notes = [];
  const b3 = {};
  const b9 = {};
  // B3_MODES=placement,separate runs only those modes (a diagnosis; the table then lacks the others' rows).
  const only = process.env.B3_MODES?.split(",");
  for (const mode of MODES) {
    if (!want.b3 && !mode.b9) continue;
    if (only && !only.includes(mode.name)) continue;
    const vars = { ...extraVars, SHARED_SHARDS: "1", ...mode.vars };
    log(`B3/B9 [${mode.name}]: starting the platform with ${JSON.stringify(vars)}`);
    const started = Date.now();
    const platform = await startPlatform(vars);
    const noisyPlatform = mode.separate ? await startPlatform(vars).catch(stopAnd(platform)) : platform;
    try {
      const modeStarted = Date.now();
      if (want.b3) {
        const accounts = {
          quiet: await tenant(platform, "b3-quiet"),
          flood: await tenant(noisyPlatform, "b3-flood"),
          storm: await tenant(noisyPlatform, "b3-storm"),
        };
        b3[mode.name] = [];
        for (let r = 1; r <= rounds; r++) {
          const result = await b3Round(platform, accounts, r, size, log, mode.floodIsolation, noisyPlatform);
          b3[mode.name].push(result);
          if (mode.floodIsolation === "auto") log(`B3 [${mode.name}] round ${r}: ${promotionText(result.promotion)}`);
        }
      }
      const b9Started = Date.now();
      if (want.b9 && mode.b9) {
        const acct = await tenant(platform, "b9-fair");
        b9[mode.name] = [];
        for (let r = 1; r <= rounds; r++) b9[mode.name].push(await b9Round(platform, acct, r, size, log));
      }
      log(
        `B3/B9 [${mode.name}]: platform start ${((modeStarted - started) / 1000).toFixed(0)} s, B3 ${((b9Started - modeStarted) / 1000).toFixed(0)} s, B9 ${((Date.now() - b9Started) / 1000).toFixed(0)} s`,
      );
    } catch (error) {
      console.error(platform.logs().slice(-5_000));
      throw error;
    } finally {
      await platform.stop();
      if (noisyPlatform !== platform) await noisyPlatform.stop();
    }
  }

  if (want.b3) {
    for (const mode of MODES) {
      const rs = b3[mode.name];
      if (!rs) continue;
      const measured = spread(rs.map((r) => r.noisy.p99));
      const baseline = spread(rs.map((r) => r.alone.p99));
      const ratio = measured.median / baseline.median;
      const contrast = mode.name === "fifo" || mode.separate === true;
      const auto = mode.floodIsolation === "auto";
      const variant = mode.separate
        ? " (floor: the quiet tenant on a platform of its own, the neighbours on another, one machine)"
        : contrast
          ? " (contrast: DISPATCH_ORDER=fifo)"
          : auto
            ? " (flood function isolation auto: placement may promote it)"
            : "";
      rows.push({
        id: ROW_ID[mode.name],
        what: `isolation${variant}: quiet tenant (${size.rate}/s, 3 ms fn) p99 end-to-end while, ${mode.separate ? "on the same machine" : "on the same shared shard"}, one tenant floods ${size.flood} × 500 ms tasks (maxConcurrency 100) and another's ${size.storm} tasks fail with retries (5 attempts)`,
        measured: measured.median,
        unit: "ms",
        baseline: baseline.median,
        ratio,
        target: contrast ? "contrast" : "<= 1.5",
        pass: contrast ? null : ratio <= 1.5,
        spread: { measured, baseline, ratios: spread(rs.map((r) => r.noisy.p99 / r.alone.p99)) },
        details: rs.map(({ series, ...rest }) => rest),
      });
      const r0 = rs[0];
      notes.push(
        `${ROW_ID[mode.name]}: quiet p99 ms with neighbours ${spreadText(measured)}, alone ${spreadText(baseline)}, per-round ratio ${spreadText(spread(rs.map((r) => r.noisy.p99 / r.alone.p99)), 2)}; quiet tasks accepted after the neighbours' submissions were answered: ${rs.map((r) => `p99 ${r.afterIntake.p99} ms (× ${(r.afterIntake.p99 / r.alone.p99).toFixed(2)}, ${r.afterIntake.tasks} tasks from ${r.afterIntake.atS.toFixed(1)} s)`).join(", ")}; flood ended ${rs.map((r) => (r.floodWallMs / 1000).toFixed(1)).join(", ")} s after it started; round 1 stages alone: ${stagesText(r0.alone.stages)}; with neighbours: ${stagesText(r0.noisy.stages)}; ${rs
          .map(
            (r, i) =>
              `round ${i + 1}: ${accountingText("quiet alone", r.alone.done)}, ${accountingText("quiet noisy", r.noisy.done)}, ${accountingText("flood", r.floodDone)}, ${accountingText("storm", r.stormDone)}; submit errors ${JSON.stringify(r.errors)}`,
          )
          .join(
            "; ",
          )}${auto ? `; ${rs.map((r, i) => `round ${i + 1}: ${promotionText(r.promotion)}`).join("; ")}` : ""}`,
      );
    }
    // The plot needs the Sluice and FIFO rounds (B3_MODES may leave them out).
    if (b3.fifo && b3.sluice) {
      const series = [
        { name: "FIFO (DISPATCH_ORDER=fifo), with neighbours", points: b3.fifo[0].series.noisy },
        { name: "Sluice, with neighbours", points: b3.sluice[0].series.noisy },
        { name: "alone (Sluice)", points: b3.sluice[0].series.alone },
      ];
      const apart = b3.separate?.[0];
      if (apart)
        series.push({ name: "separate platforms (this machine's floor), with neighbours", points: apart.series.noisy });
      const placed = b3.placement?.[0];
      if (placed) {
        series.push({ name: "Sluice, flood auto (placement), with neighbours", points: placed.series.noisy });
        if (placed.promotion.moved) {
          // The promotion as a vertical line through the plotted range (two points at the same x).
          const ys = series.flatMap((s) => s.points.map(([, y]) => y)).filter((y) => Number.isFinite(y) && y > 0);
          series.push({
            name: `flood promoted (${placed.promotion.partitions} partition${placed.promotion.partitions === 1 ? "" : "s"}) at ${placed.promotion.afterS.toFixed(1)} s`,
            color: "#7f7f7f",
            points: [
              [placed.promotion.afterS, Math.min(...ys)],
              [placed.promotion.afterS, Math.max(...ys)],
            ],
          });
        }
      }
      const svg = linePlot({
        title: "B3: quiet tenant's end-to-end latency per task (round 1)",
        subtitle: `one shared shard; neighbours: ${size.flood} × 500 ms flood + ${size.storm} always-failing tasks; quiet tenant ${size.rate} tasks/s`,
        xLabel: "seconds since the flood started (alone: since the trickle started)",
        yLabel: "acceptedAt → finishedAt, ms",
        yScale: "log",
        series,
      });
      await writeFile(join(resultsDir, "b3-quiet-latency.svg"), svg);
      log("wrote bench/results/b3-quiet-latency.svg");
    }
  }

  if (want.b9) {
    for (const mode of MODES.filter((m) => m.b9)) {
      const rs = b9[mode.name];
      const measured = spread(rs.map((r) => r.loaded.p99));
      const baseline = spread(rs.map((r) => r.alone.p99));
      const ratio = measured.median / baseline.median;
      const contrast = mode.name === "fifo";
      rows.push({
        id: contrast ? "B9 fifo" : "B9",
        what: `fairness keys${contrast ? " (contrast: DISPATCH_ORDER=fifo)" : ""}: p99 end-to-end of ${size.small} small customers' ${size.small * size.perSmall} tasks submitted behind one customer's ${size.big}-task backlog (key "big"), one function (20 ms, maxConcurrency 10)`,
        measured: measured.median,
        unit: "ms",
        baseline: baseline.median,
        ratio,
        target: contrast ? "contrast" : "<= 2",
        pass: contrast ? null : ratio <= 2,
        spread: { measured, baseline, ratios: spread(rs.map((r) => r.loaded.p99 / r.alone.p99)) },
        details: rs,
      });
      notes.push(
        `${contrast ? "B9 fifo" : "B9"}: small customers' p99 ms behind the backlog ${spreadText(measured)}, alone ${spreadText(baseline)}; big customer's p50 ${rs.map((r) => r.bigP50).join(", ")} ms; queued when the small ones arrived ${rs.map((r) => r.queuedWhenSmallArrived).join(", ")}; round 1 stages alone: ${stagesText(rs[0].alone.stages)}; behind the backlog: ${stagesText(rs[0].loaded.stages)}; ${rs
          .map(
            (r, i) =>
              `round ${i + 1}: ${accountingText("alone", r.alone.done)}, ${accountingText("backlog + small", r.everything)}; submit errors ${JSON.stringify(r.errors)}`,
          )
          .join("; ")}`,
      );
    }
  }
  return { rows, notes };
}

/** One line about a placement round's promotion, for the log and the notes. */
function promotionText(p) {
  if (!p?.moved) return `flood not promoted (placement ${p?.tier}, ${p?.partitions} partition(s), ${p?.moves} moves)`;
  const q = (x) => `p99 ${x.p99 ?? "-"} ms (p50 ${x.p50 ?? "-"}, ${x.n} tasks)`;
  return `flood promoted (${p.reason}) ${p.afterS.toFixed(1)} s after the flood started, ${p.from} → ${p.to} with ${p.partitions} partition(s) (${p.moves} move(s) in all, ${p.finalPartitions} at the end; ${p.floodAcceptedBefore} of ${p.floodTasks} flood tasks accepted before it; flood tasks by shard ${Object.entries(
    p.floodByShard?.shards ?? {},
  )
    .map(([shard, x]) => `${shard} ${x.tasks} (at most ${x.peakRunning} running)`)
    .join(
      ", ",
    )}, at most ${p.floodByShard?.peakRunning} running in all); quiet tenant before it ${q(p.quietBefore)}, after it ${q(p.quietAfter)}`;
}
