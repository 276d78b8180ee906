/**
 * @module
 * `npm run simulate`: the placement policy and the fair scheduler over 100,000 Zipf accounts on 1,024 shared shards,
 * with one account flooding, a few batch bursts and one function whose calls all time out (sim/model.ts says what is
 * modelled and what is not). Prints shard counts per tier per minute, every move, each tier's queue wait, and the
 * flooding account's neighbours' waits, with a contrast run of the flood's home shard where nothing moves.
 *
 * Flags: --seed N (default 1), --accounts N, --shards N, --duration S, --rate N (background tasks/s), --no-contrast.
 */

import type { Tier } from "../src/placement/policy";
import { DEFAULT_PLACEMENT } from "../src/placement/settings";
import { type SimConfig, Simulation } from "./model";

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
function numberFlag(name: string, fallback: number): number {
  const n = Number(flag(name));
  return flag(name) !== undefined && Number.isFinite(n) && n > 0 ? n : fallback;
}

export function defaultConfig(): SimConfig {
  return {
    seed: numberFlag("seed", 1),
    accounts: numberFlag("accounts", 100_000),
    sharedShards: numberFlag("shards", 1_024),
    durationS: numberFlag("duration", 1_500),
    tickMs: 50,
    evalEveryMs: 5_000,
    backgroundPerSec: numberFlag("rate", 3_000),
    zipfExponent: 1,
    window: 100,
    execMs: [20, 2_000],
    flood: { ratePerSec: 5_000, startS: 60, endS: 240, execMs: 100, window: 1_000 },
    bursts: [300, 420, 540, 660].map((startS) => ({
      ratePerSec: 150,
      startS,
      endS: startS + 90,
      execMs: 200,
      window: 100,
    })),
    failing: { ratePerSec: 4, startS: 0, endS: 540, execMs: 30_000, window: 100 },
    crowd: { accounts: 3, spec: { ratePerSec: 110, startS: 600, endS: 840, execMs: 100, window: 100 } },
    shardRequestsPerSec: 1_000,
    requestsPerCall: 3,
    requestsPerAccept: 0.05,
    invokerSlots: 64 * 6,
    settings: DEFAULT_PLACEMENT,
    placement: true,
  };
}

const fmt = (n: number | null | undefined) =>
  n === null || n === undefined ? "-" : Math.round(n).toLocaleString("en-US");
const pad = (s: string | number, n: number) => String(s).padStart(n);
const seconds = (ms: number | undefined) => (ms === undefined ? "never" : `${(ms / 1000).toFixed(0)} s`);

function main(): void {
  const started = Date.now();
  const config = defaultConfig();
  const sim = new Simulation(config).run();
  const flood = config.flood;
  const out: string[] = [];
  const log = (line = "") => out.push(line);

  log(
    `Sluice placement simulation, seed ${config.seed}: ${fmt(config.accounts)} accounts (${fmt(sim.functionCount())} functions, ` +
      `Zipf s=${config.zipfExponent}, ${fmt(config.backgroundPerSec)} tasks/s), ${fmt(config.sharedShards)} shared shards, ` +
      `${config.durationS} s in ${config.tickMs} ms steps, placement evaluated every ${config.evalEveryMs / 1000} s`,
  );
  const callsPerShard = (config.shardRequestsPerSec - 0) / config.requestsPerCall;
  log(
    `shard: ${fmt(config.shardRequestsPerSec)} Durable Object requests/s, ${config.requestsPerCall} per call and ` +
      `${config.requestsPerAccept} per accepted task (about ${fmt(callsPerShard)} calls/s), ${config.invokerSlots} invoker slots`,
  );
  if (flood)
    log(
      `flood: flood-acct/flood ${fmt(flood.ratePerSec)} tasks/s from ${flood.startS} s to ${flood.endS} s ` +
        `(${flood.execMs} ms calls, window ${flood.window}); ${config.bursts.length} batch accounts of ` +
        `${config.bursts[0]?.ratePerSec ?? 0}/s for 90 s; broken-acct/hangs ${config.failing?.ratePerSec ?? 0}/s, ` +
        `every call times out after ${(config.failing?.execMs ?? 0) / 1000} s, until ${config.failing?.endS ?? 0} s; ` +
        `${config.crowd?.accounts ?? 0} crowd accounts on one shared shard, ${config.crowd?.spec.ratePerSec ?? 0}/s each ` +
        `from ${config.crowd?.spec.startS ?? 0} s to ${config.crowd?.spec.endS ?? 0} s`,
    );
  log();
  log(
    " min | account shards | dedicated fns | partitions | saturated shared | queued | in flight | moves | p99 wait ms: shared  account  dedicated",
  );
  for (const m of sim.minutes) {
    const p = (t: Tier) => pad(fmt(m.p99[t]), 7);
    log(
      `${pad(m.minute, 4)} | ${pad(m.accountShards, 14)} | ${pad(m.dedicatedFunctions, 13)} | ${pad(m.dedicatedPartitions, 10)} | ` +
        `${pad(m.saturatedShared, 16)} | ${pad(fmt(m.queued), 6)} | ${pad(fmt(m.inFlight), 9)} | ${pad(m.moves, 5)} |              ${p("shared")}  ${p("account")}  ${p("dedicated")}`,
    );
  }
  log();
  log(`moves (${sim.moves.length}):`);
  for (const { t, fromTier, move } of sim.moves) {
    const what =
      move.kind === "promote-account"
        ? `${move.account} [${move.functions.join(", ")}]`
        : `${move.account}/${move.name}`;
    const extra =
      move.kind === "promote" || move.kind === "repartition"
        ? ` → ${move.partitions} partition(s)`
        : move.kind === "reclaim"
          ? ` → ${move.to}`
          : "";
    log(
      `  ${pad((t / 1000).toFixed(0), 5)} s  ${move.kind.padEnd(15)} ${fromTier.padEnd(9)} ${what}${extra}  (${move.reason})`,
    );
  }
  const count = (pred: (k: string, r: string) => boolean) =>
    sim.moves.filter(({ move }) => pred(move.kind, move.reason)).length;
  const reasons = ["backlog", "arrival-rate", "failures", "shard-saturated"]
    .map((r) => `${r} ${count((k, x) => k === "promote" && x === r)}`)
    .join(", ");
  log(
    `summary: promotions ${count((k) => k === "promote")} (${reasons}), account promotions ${count((k) => k === "promote-account")}, ` +
      `repartitions ${count((k) => k === "repartition")}, reclaims ${count((k) => k === "reclaim")}`,
  );
  const shards = sim.shardCounts();
  log(`shards used: shared ${fmt(shards.shared)}, account ${shards.account}, dedicated partitions ${shards.dedicated}`);
  log();
  log(
    "queue wait (accepted → dispatched), whole run, by tier of the shard that dispatched (all tasks | Zipf accounts only):",
  );
  for (const tier of ["shared", "account", "dedicated"] as const) {
    const s = sim.waits[tier];
    const z = sim.backgroundWaits[tier];
    log(
      `  ${tier.padEnd(9)} ${pad(fmt(s.count), 10)} tasks  p50 ${pad(fmt(s.quantile(0.5)), 7)} ms  p99 ${pad(fmt(s.quantile(0.99)), 7)} ms` +
        `  | ${pad(fmt(z.count), 10)} tasks  p50 ${pad(fmt(z.quantile(0.5)), 7)} ms  p99 ${pad(fmt(z.quantile(0.99)), 7)} ms`,
    );
  }
  if (flood) {
    log();
    log(
      `flood: promoted at ${seconds(sim.floodPromotedAt)}, its tasks left its home shard at ${seconds(sim.floodHomeDrainedAt)}; ` +
        `flood tasks' wait p50 ${fmt(sim.floodWaits.quantile(0.5))} ms, p99 ${fmt(sim.floodWaits.quantile(0.99))} ms`,
    );
    const w = sim.neighbourWaits;
    const row = (label: string, s: typeof w.beforeFlood) =>
      `  ${label.padEnd(44)} ${pad(fmt(s.count), 7)} tasks  p50 ${pad(fmt(s.quantile(0.5)), 6)} ms  p99 ${pad(fmt(s.quantile(0.99)), 6)} ms`;
    log("the flooding account's neighbours (other accounts homed on its shared shard):");
    log(row("before the flood", w.beforeFlood));
    log(row("flood, its tasks still on the shared shard", w.floodOnShard));
    log(row("flood, after its tasks left the shared shard", w.floodMoved));
    log(row("after the flood", w.afterFlood));
    if (!process.argv.includes("--no-contrast")) {
      const home = floodHomeIndex(config);
      const contrast = new Simulation({ ...config, placement: false, onlyHomeShard: home }).run();
      const cw = contrast.neighbourWaits;
      log(`contrast: shared:${home} alone with placement off (the flood stays on it):`);
      log(row("before the flood", cw.beforeFlood));
      log(row("during the flood", cw.floodOnShard));
      log(row("after the flood", cw.afterFlood));
      const b = contrast.backlog();
      log(
        `  flood tasks' wait p50 ${fmt(contrast.floodWaits.quantile(0.5))} ms, p99 ${fmt(contrast.floodWaits.quantile(0.99))} ms; ` +
          `${fmt(b.queued)} tasks still queued at the end (with placement: ${fmt(sim.backlog().queued)} on the whole platform)`,
      );
    }
  }
  const b = sim.backlog();
  const t = sim.totals;
  log();
  log(
    `tasks: arrived ${fmt(t.arrived)} = finished ${fmt(t.finished)} + queued ${fmt(b.queued)} + in flight ${fmt(b.inFlight)}` +
      ` (${t.arrived === t.finished + b.queued + b.inFlight ? "conserved" : "NOT CONSERVED"})`,
  );
  log(`simulated in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(out.join("\n"));
  if (t.arrived !== t.finished + b.queued + b.inFlight) process.exitCode = 1;
}

/** The index of the flooding account's home shared shard (the contrast simulates only that one). */
function floodHomeIndex(config: SimConfig): number {
  return Simulation.homeIndex("flood-acct", config.sharedShards);
}

main();
