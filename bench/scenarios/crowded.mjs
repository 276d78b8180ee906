/**
 * @module
 * B7 (crowded shard): a quiet tenant's throughput and p50 on one shared shard (`SHARED_SHARDS: "1"`), first while the
 * shard is empty, then after other accounts have put 2,000 idle functions on it, each holding one task delayed by an
 * hour. Both measured on the same fresh platform (empty first). Throughput: tasks of a burst of no-op tasks
 * (submitted with tasks:batch, so the local proxy is not the limit) ÷ (last finishedAt − first acceptedAt).
 */

import { putFunction, runPool, startPlatform, submitTask } from "../lib.mjs";
import {
  accountingText,
  batchSubmit,
  collect,
  functionStats,
  PAYLOAD,
  percentile,
  settle,
  span,
  spread,
  spreadText,
  stages,
  stagesText,
  tally,
  tenant,
} from "../measure.mjs";

const demo = { type: "service", service: "DEMO_FN" };

/** One burst of the quiet tenant's no-op tasks on a fresh function; throughput, p50 and stages from the timelines. */
async function burst(platform, acct, name, count) {
  await putFunction(platform.url, acct.apiKey, name, { target: demo, isolation: "shared" });
  const run = await batchSubmit(platform.url, `/v1/functions/${name}/tasks:batch`, count, {
    token: acct.apiKey,
    payload: { echo: 1 },
    parallel: 4,
  });
  const done = await collect(platform.url, acct.apiKey, name, run.ids, { timeoutMs: 240_000 });
  const first = Math.min(...done.tasks.map((t) => Date.parse(t.timeline.acceptedAt)));
  const last = Math.max(...done.tasks.map((t) => Date.parse(t.timeline.finishedAt)).filter(Number.isFinite));
  const succeeded = done.tasks.filter((t) => t.state === "succeeded").length;
  return {
    rate: (succeeded / (last - first)) * 1000,
    p50: percentile(done.tasks.map((t) => span(t, "acceptedAt", "finishedAt")).filter(Number.isFinite), 50),
    wallMs: last - first,
    stages: stages(done.tasks),
    done: tally(done),
    errors: run.errors,
  };
}

/**
 * Put `functions` idle functions, each with one task delayed an hour, on the shard, spread over `accounts` accounts;
 * creation and submission run 8 at a time. Returns how long it took and how many made it into the shard.
 */
async function crowd(platform, functions, accounts, log) {
  const t0 = Date.now();
  const owners = [];
  for (let a = 0; a < accounts; a++) owners.push(await tenant(platform, `b7-crowd${a}`));
  const perAccount = Math.ceil(functions / accounts);
  const ids = await runPool(functions, 8, async (i) => {
    const owner = owners[Math.floor(i / perAccount)];
    const name = `idle-${i}`;
    await putFunction(platform.url, owner.apiKey, name, { target: demo, isolation: "shared" });
    const id = await submitTask(platform.url, owner.apiKey, name, JSON.parse(PAYLOAD), {
      headers: { "sluice-delay": "3600" },
    });
    if ((i + 1) % 500 === 0) log(`B7: ${i + 1}/${functions} idle functions with a delayed task`);
    return { owner, id };
  });
  // Every delayed task is in the shard (queued) before measuring: check all of them, 8 reads at a time.
  const byOwner = new Map();
  for (const { owner, id } of ids) byOwner.set(owner, [...(byOwner.get(owner) ?? []), id]);
  const states = {};
  for (const [owner, list] of byOwner) {
    const views = await settle(platform.url, owner.apiKey, list, { done: (t) => t.state !== "accepted" });
    for (const v of views) states[v.state] = (states[v.state] ?? 0) + 1;
  }
  const shard = (await functionStats(platform.url, owners[0].apiKey, "idle-0")).placement.shard;
  return { ms: Date.now() - t0, states, shard };
}

/**
 * @param {{quick: boolean, rounds: number, extraVars: Record<string,string>, log: Function}} ctx
 * @returns {Promise<{rows: object[], notes: string[]}>}
 */
export async function runCrowded({ quick, rounds, extraVars, log }) {
  const size = quick ? { burst: 300, functions: 200, accounts: 2 } : { burst: 1_000, functions: 2_000, accounts: 4 };
  const vars = { ...extraVars, SHARED_SHARDS: "1" };
  log(`B7: starting the platform with ${JSON.stringify(vars)}`);
  const platform = await startPlatform(vars);
  const started = Date.now();
  try {
    const quiet = await tenant(platform, "b7-quiet");
    // Warm-up (isolates, the shard, its invokers), not measured.
    await burst(platform, quiet, "warm", 100);
    const empty = [];
    for (let r = 1; r <= rounds; r++) {
      log(`B7 round ${r}: ${size.burst} no-op tasks on the empty shard`);
      empty.push(await burst(platform, quiet, `empty-${r}`, size.burst));
    }
    log(
      `B7: crowding the shard with ${size.functions} idle functions (${size.accounts} accounts), 1 delayed task each`,
    );
    const crowded = await crowd(platform, size.functions, size.accounts, log);
    const quietShard = (await functionStats(platform.url, quiet.apiKey, "warm")).placement.shard;
    if (crowded.shard !== quietShard) throw new Error(`B7: crowd on ${crowded.shard}, quiet tenant on ${quietShard}`);
    log(`B7: crowd in place after ${(crowded.ms / 1000).toFixed(0)} s: ${JSON.stringify(crowded.states)}`);
    const full = [];
    for (let r = 1; r <= rounds; r++) {
      log(`B7 round ${r}: ${size.burst} no-op tasks on the crowded shard`);
      full.push(await burst(platform, quiet, `crowded-${r}`, size.burst));
    }

    const rate = { measured: spread(full.map((r) => r.rate)), baseline: spread(empty.map((r) => r.rate)) };
    const p50 = { measured: spread(full.map((r) => r.p50)), baseline: spread(empty.map((r) => r.p50)) };
    const what = `crowded shard: quiet tenant's burst of ${size.burst} no-op tasks (tasks:batch) on one shared shard holding ${size.functions} idle functions of ${size.accounts} other accounts (1 task delayed 1 h each), vs the same shard empty`;
    const rows = [
      {
        id: "B7a",
        what: `${what}: throughput, first accepted -> last finished`,
        measured: rate.measured.median,
        unit: "tasks/s",
        baseline: rate.baseline.median,
        ratio: rate.measured.median / rate.baseline.median,
        target: ">= 0.8",
        pass: rate.measured.median / rate.baseline.median >= 0.8,
        spread: rate,
        details: { empty, full, crowd: crowded },
      },
      {
        id: "B7b",
        what: `${what}: p50 end-to-end (ratio = empty p50 ÷ crowded p50)`,
        measured: p50.measured.median,
        unit: "ms",
        baseline: p50.baseline.median,
        ratio: p50.baseline.median / p50.measured.median,
        target: ">= 0.8",
        pass: p50.baseline.median / p50.measured.median >= 0.8,
        spread: p50,
      },
    ];
    const accounting = [...empty, ...full]
      .map((r, i) => accountingText(i < empty.length ? `empty ${i + 1}` : `crowded ${i + 1 - empty.length}`, r.done))
      .join(", ");
    const notes = [
      `B7: tasks/s crowded ${spreadText(rate.measured)}, empty ${spreadText(rate.baseline)}; p50 ms crowded ${spreadText(p50.measured)}, empty ${spreadText(p50.baseline)}; crowd built in ${(crowded.ms / 1000).toFixed(0)} s (delayed tasks ${JSON.stringify(crowded.states)}); round 1 stages empty: ${stagesText(empty[0].stages)}; crowded: ${stagesText(full[0].stages)}; ${accounting}; ${((Date.now() - started) / 1000).toFixed(0)} s in all`,
    ];
    return { rows, notes };
  } catch (error) {
    console.error(platform.logs().slice(-5_000));
    throw error;
  } finally {
    await platform.stop();
  }
}
