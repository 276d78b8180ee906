/**
 * @module
 * B10 (partitions): one `auto` function's sustained throughput once placement has promoted it to a dedicated shard
 * with 4 partitions, ÷ the same with 1 partition. Two platforms in sequence, PLACEMENT_MAX_PARTITIONS=1 then =4,
 * otherwise identical, with thresholds that promote at once and to the most partitions allowed:
 *
 * - PLACEMENT_PROMOTE_BACKLOG=2000 with PLACEMENT_PARTITION_BACKLOG=500: whenever the backlog rule fires, the backlog
 *   is ≥ 2,000, so the promotion asks for ≥ 4 partitions (clamped to the maximum). With a lower promotion threshold a
 *   review could catch the backlog at 300 and promote with 1 partition; growing later waits for a quarter of the dwell.
 * - PLACEMENT_PROMOTE_RATE and PLACEMENT_SHARD_CALLS_PER_SEC set out of reach, so the rate and saturation rules do not
 *   promote first with fewer partitions; PLACEMENT_REVIEW_MS=500; PLACEMENT_MIN_DWELL_MS=600000 so the partitions do
 *   not shrink mid-run; TASK_LOGS=off.
 *
 * Per platform: a fill backlog (tasks:batch) gets the function promoted; stats must show `placement.partitions` equal
 * to the maximum; the fill drains (on the shard it was queued on), a warm-up batch opens the partitions' windows, then
 * `rounds` batches are measured: tasks/s from the first submit to the last `succeeded` (the tasks' own timelines).
 */

import { putFunction, sleep, startPlatform, TERMINAL_STATES } from "../lib.mjs";
import {
  accountingText,
  batchSubmit,
  collect,
  countStates,
  functionStats,
  listAll,
  spread,
  spreadText,
  tally,
  tenant,
} from "../measure.mjs";

const demo = { type: "service", service: "DEMO_FN" };
const PAYLOAD = { sleepMs: 20 };
const MAX_CONCURRENCY = 200;
const PARTITION_COUNTS = [1, 4];

/** Platform variables of one B10 run (see the module comment). */
export function partitionVars(maxPartitions) {
  return {
    PLACEMENT_MAX_PARTITIONS: String(maxPartitions),
    PLACEMENT_REVIEW_MS: "500",
    PLACEMENT_PROMOTE_BACKLOG: "2000",
    PLACEMENT_PARTITION_BACKLOG: "500",
    PLACEMENT_PROMOTE_RATE: "1000000",
    PLACEMENT_SHARD_CALLS_PER_SEC: "1000000",
    PLACEMENT_MIN_DWELL_MS: "600000",
    TASK_LOGS: "off",
  };
}

function sizes(quick) {
  return quick ? { fill: 3_000, warm: 600, batch: 2_000 } : { fill: 4_000, warm: 1_000, batch: 6_000 };
}

const ended = (counts) => [...TERMINAL_STATES].reduce((n, state) => n + (counts[state] ?? 0), 0);

/**
 * Wait (one stats request a second) until `ids.length` more of the function's tasks have ended than `endedBefore`
 * (collect() compares the function's whole count with the ids, which earlier batches already satisfy), then list the
 * function's tasks and account for these ids.
 */
async function collectAfter(platform, apiKey, fn, ids, endedBefore, timeoutMs = 300_000) {
  const live = ids.filter(Boolean);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (ended((await functionStats(platform.url, apiKey, fn)).counts) >= endedBefore + live.length) break;
    await sleep(1_000);
  }
  const listed = await listAll(platform.url, apiKey, fn);
  const tasks = live.map((id) => listed.get(id)).filter(Boolean);
  return {
    tasks,
    states: countStates(tasks),
    lost: live.length - tasks.length,
    notTerminal: tasks.filter((t) => !TERMINAL_STATES.has(t.state)).length,
  };
}

/** The function's tasks finished per second, first submit → last finishedAt, counting succeeded tasks only. */
async function measuredBatch(platform, acct, fn, count, log, what) {
  const endedBefore = ended((await functionStats(platform.url, acct.apiKey, fn)).counts);
  const t0 = Date.now();
  const run = await batchSubmit(platform.url, `/v1/functions/${fn}/tasks:batch`, count, {
    token: acct.apiKey,
    payload: PAYLOAD,
    parallel: 4,
  });
  const submitMs = Date.now() - t0;
  const done = await collectAfter(platform, acct.apiKey, fn, run.ids, endedBefore);
  const succeeded = done.tasks.filter((t) => t.state === "succeeded");
  const last = Math.max(...succeeded.map((t) => Date.parse(t.timeline.finishedAt)));
  const wallMs = last - t0;
  const rate = (succeeded.length / wallMs) * 1000;
  log(
    `B10 ${what}: ${succeeded.length}/${count} succeeded in ${(wallMs / 1000).toFixed(1)} s (submitted in ${(submitMs / 1000).toFixed(1)} s): ${rate.toFixed(0)} tasks/s`,
  );
  return { rate, wallMs, submitMs, done: tally(done), errors: run.errors, ok: run.ok };
}

async function onePlatform(maxPartitions, { quick, rounds, extraVars, log }) {
  const size = sizes(quick);
  const vars = { ...extraVars, ...partitionVars(maxPartitions) };
  log(`B10 [max ${maxPartitions}]: starting the platform with ${JSON.stringify(vars)}`);
  const platform = await startPlatform(vars);
  try {
    const acct = await tenant(platform, "b10");
    const fn = "hot";
    // isolation left out: "auto", the default, so placement may move it.
    await putFunction(platform.url, acct.apiKey, fn, {
      target: demo,
      maxConcurrency: MAX_CONCURRENCY,
      timeoutMs: 30_000,
    });
    const before = (await functionStats(platform.url, acct.apiKey, fn)).placement;
    log(`B10 [max ${maxPartitions}]: placed ${before.tier} ${before.shard}; filling a backlog of ${size.fill}`);

    const fillStart = Date.now();
    const fill = batchSubmit(platform.url, `/v1/functions/${fn}/tasks:batch`, size.fill, {
      token: acct.apiKey,
      payload: PAYLOAD,
      parallel: 8,
    });
    let placement;
    for (;;) {
      placement = (await functionStats(platform.url, acct.apiKey, fn)).placement;
      if (placement.tier === "dedicated" || Date.now() - fillStart > 90_000) break;
      await sleep(250);
    }
    const fillRun = await fill;
    const promotedAfterMs = placement.recentMoves?.[0] ? Date.parse(placement.recentMoves[0].at) - fillStart : null;
    log(
      `B10 [max ${maxPartitions}]: placement ${placement.tier} ${placement.shard}, partitions ${placement.partitions}, reason ${placement.reason}, ${promotedAfterMs} ms after the fill started`,
    );
    if (placement.tier !== "dedicated" || placement.partitions !== maxPartitions) {
      throw new Error(`B10: expected dedicated with ${maxPartitions} partitions, got ${JSON.stringify(placement)}`);
    }
    const fillDone = await collect(platform.url, acct.apiKey, fn, fillRun.ids, { timeoutMs: 300_000 });
    log(`B10 [max ${maxPartitions}]: fill drained (${accountingText("fill", fillDone)})`);
    // Opens each partition's AIMD window (it starts at 4 calls); not measured.
    const warm = await measuredBatch(platform, acct, fn, size.warm, log, `[max ${maxPartitions}] warm-up`);

    const measured = [];
    for (let r = 1; r <= rounds; r++) {
      measured.push(await measuredBatch(platform, acct, fn, size.batch, log, `[max ${maxPartitions}] round ${r}`));
    }
    const after = await functionStats(platform.url, acct.apiKey, fn);
    return {
      maxPartitions,
      placement: {
        tier: placement.tier,
        shard: placement.shard,
        partitions: placement.partitions,
        reason: placement.reason,
        promotedAfterMs,
      },
      placementAtEnd: {
        partitions: after.placement.partitions,
        moves: after.placement.moves,
        recentMoves: after.placement.recentMoves,
      },
      concurrencyLimitAtEnd: after.concurrencyLimit,
      fill: tally(fillDone),
      fillErrors: fillRun.errors,
      warm,
      rounds: measured,
    };
  } catch (error) {
    console.error(platform.logs().slice(-5_000));
    throw error;
  } finally {
    await platform.stop();
  }
}

/**
 * B10 over both platforms.
 * @param {{quick: boolean, rounds: number, extraVars: Record<string,string>, log: Function}} ctx
 * @returns {Promise<{rows: object[], notes: string[]}>}
 */
export async function runPartitions(ctx) {
  const size = sizes(ctx.quick);
  const runs = {};
  for (const n of PARTITION_COUNTS) runs[n] = await onePlatform(n, ctx);
  const one = spread(runs[1].rounds.map((r) => r.rate));
  const four = spread(runs[4].rounds.map((r) => r.rate));
  const ratio = four.median / one.median;
  // docs/scaling.md: a shard serves about min(330, 384 / d) calls/s (about 1,000 requests/s at about 3 per call, 384
  // invoker slots), and "a dedicated function with P partitions gets P times that". For 20 ms calls with
  // maxConcurrency 200 (50 per partition: 2,500 calls/s each) neither the window nor the invokers bind first.
  const callSeconds = PAYLOAD.sleepMs / 1000;
  const perShard = Math.min(330, 384 / callSeconds, MAX_CONCURRENCY / callSeconds);
  const perPartition = (p) => Math.min(330, 384 / callSeconds, Math.floor(MAX_CONCURRENCY / p) / callSeconds);
  const model = { one: perShard, four: 4 * perPartition(4) };
  const modelRatio = model.four / model.one;
  const rows = [
    {
      id: "B10",
      what: `partitions: one auto function (DEMO_FN {"sleepMs":20}, maxConcurrency 200) promoted to a dedicated shard, ${size.batch} tasks (tasks:batch) first submit -> last succeeded, 4 partitions ÷ 1 (PLACEMENT_MAX_PARTITIONS=4 vs =1, one local workerd); production model (docs/scaling.md) ${model.four.toFixed(0)} ÷ ${model.one.toFixed(0)} calls/s = ${modelRatio.toFixed(1)}`,
      measured: four.median,
      unit: "tasks/s",
      baseline: one.median,
      ratio,
      target: `model ${modelRatio.toFixed(1)}`,
      pass: null,
      spread: { four, one, ratios: spread(runs[4].rounds.map((r, i) => r.rate / (runs[1].rounds[i]?.rate ?? NaN))) },
      model,
      details: runs,
    },
  ];
  const describe = (run) =>
    `max ${run.maxPartitions}: promoted (${run.placement.reason}) ${run.placement.promotedAfterMs} ms after the fill started to ${run.placement.shard} with ${run.placement.partitions} partition(s), at the end ${run.placementAtEnd.partitions} partition(s) after ${run.placementAtEnd.moves} move(s), window at the end ${run.concurrencyLimitAtEnd}; rounds tasks/s ${run.rounds.map((r) => r.rate.toFixed(0)).join(", ")} (warm-up ${run.warm.rate.toFixed(0)}); ${accountingText("fill", run.fill)}; ${run.rounds.map((r, i) => accountingText(`round ${i + 1}`, r.done)).join(", ")}; submit errors ${JSON.stringify([run.fillErrors, ...run.rounds.map((r) => r.errors)])}`;
  const notes = [
    `B10: 4 partitions ${spreadText(four)} tasks/s, 1 partition ${spreadText(one)} tasks/s, ratio ${ratio.toFixed(2)} (per-round ratios ${spreadText(rows[0].spread.ratios, 2)}); production model ${modelRatio.toFixed(1)} (${model.four.toFixed(0)} vs ${model.one.toFixed(0)} calls/s: about 330 calls/s per shard, P partitions P times that); ${describe(runs[1])}; ${describe(runs[4])}`,
  ];
  return { rows, notes };
}
