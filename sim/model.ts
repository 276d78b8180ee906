/**
 * @module
 * A fixed-step simulation of Sluice's shards under the real placement policy (src/placement/policy.ts) and the real
 * fair scheduler (src/fair-share.ts over src/drr.ts). No runtime: a shard is a budget of Durable Object requests per
 * second, an invoker pool's worth of call slots and a set of per-function FIFO queues; everything else (gateway,
 * ingest queues, invokers, delivery) is assumed to keep up, which docs/scaling.md argues per component.
 *
 * The model, per step of `tickMs`:
 * 1. Calls whose execution time has passed finish (a failing function's calls end at its timeout, as failures).
 * 2. Tasks arrive (Poisson per home shared shard for the Zipf background; steady streams for the flood, the bursts
 *    and the failing function) and go where their function's placement points (a dedicated function's tasks are
 *    spread evenly over its partitions). Accepting a task costs the shard `requestsPerAccept` requests; a task that
 *    finds its shard with nothing queued, a request budget for a call, a free invoker slot and room in its
 *    function's window is dispatched at once (the real shard dispatches on accept), otherwise it waits.
 * 3. At the end of the step every shard with waiting tasks shares its free call slots (its request budget over
 *    `requestsPerCall`, at most its invoker slots minus its calls in flight) by `allocateFairly`, each function
 *    within its window (a dedicated partition holds its share, window ÷ partitions).
 * 4. Every `evalEveryMs`, every shard with recent activity measures its load (rates smoothed over a minute) and
 *    calls `planPlacement`; the moves are applied at once. A move changes where new tasks go; tasks already queued
 *    stay and drain where they are, as the ids encode the shard.
 *
 * Honest simplifications: AIMD is not simulated (a function's window is its `maxConcurrency`, as after convergence);
 * account `maxConcurrency` is not modelled; a Durable Object over its budget queues nothing and refuses nothing, it
 * only dispatches less (the real one would also slow its accepts and reports); waits have the step's resolution.
 */

import { allocateFairly, callCost, type Demand, type FairShareState, newFairShareState } from "../src/fair-share";
import { fnv1a } from "../src/placement";
import {
  BUSY_FRACTION,
  type FunctionLoad,
  type FunctionPlacement,
  MIN_FAILURE_IN_FLIGHT,
  type PlacementMove,
  planPlacement,
  type ShardLoad,
  type Tier,
} from "../src/placement/policy";
import type { PlacementSettings } from "../src/placement/settings";
import { Histogram } from "./histogram";
import { exponentialGapMs, mulberry32, zipfWeights } from "./random";

export interface StreamSpec {
  /** Arrivals per second while on. */
  readonly ratePerSec: number;
  readonly startS: number;
  readonly endS: number;
  readonly execMs: number;
  readonly window: number;
}

export interface SimConfig {
  readonly seed: number;
  readonly accounts: number;
  readonly sharedShards: number;
  readonly durationS: number;
  readonly tickMs: number;
  readonly evalEveryMs: number;
  /** Background arrivals per second over all Zipf accounts. */
  readonly backgroundPerSec: number;
  readonly zipfExponent: number;
  /** Window (maxConcurrency) of the background functions. */
  readonly window: number;
  /** Range of the background functions' execution times (log-uniform). */
  readonly execMs: readonly [number, number];
  /** One account floods one function. */
  readonly flood?: StreamSpec;
  /** Accounts whose one function runs a batch now and then (one burst each, staggered). */
  readonly bursts: readonly StreamSpec[];
  /** A function whose every call hangs to its timeout (`execMs`) and fails. */
  readonly failing?: StreamSpec;
  /** Accounts (one function each) that hash onto one shared shard and load it together, none dominant. */
  readonly crowd?: { readonly accounts: number; readonly spec: StreamSpec };
  /** Durable Object requests per second one shard serves (Cloudflare's soft limit: about 1,000). */
  readonly shardRequestsPerSec: number;
  /** Requests one call costs the shard: the hand-off to an invoker, its report, its share of dispatch passes. */
  readonly requestsPerCall: number;
  /** Requests one accepted task costs (an accept RPC carries up to 100 tasks; their rows are written in it). */
  readonly requestsPerAccept: number;
  /** Calls one shard's invoker pool runs at once (INVOKERS_PER_SHARD × 6). */
  readonly invokerSlots: number;
  readonly settings: PlacementSettings;
  /** false: nobody moves (the contrast). */
  readonly placement: boolean;
  /** Simulate only the accounts whose home is this shared shard (and the special accounts), for a cheap contrast. */
  readonly onlyHomeShard?: number;
}

/** Start of simulated time (ms epoch): lastActiveAt 0 means "never" to the policy. */
export const T0 = 1_700_000_000_000;
/** Time constant of the smoothed rates (the policy's "smoothed over the last minute"). */
const RATE_TAU_MS = 60_000;
/** A shared shard stops reporting a function this long after its last activity (nothing left to decide about it). */
const REPORT_IDLE_MS = 120_000;

export interface Fn {
  readonly id: number;
  readonly account: string;
  readonly name: string;
  readonly key: string;
  readonly execMs: number;
  readonly cost: number;
  readonly window: number;
  readonly failing: boolean;
  /** One of the Zipf accounts' functions (not the flood, a burst or the failing function). */
  readonly background: boolean;
  readonly home: Shard;
  placement: FunctionPlacement;
  /** The function's entries on dedicated shards (all partitions it ever had: old ones drain). */
  readonly partitions: Entry[];
  /** Round robin over the current partitions for new tasks. */
  next: number;
  /** Where its tasks go on each tier, looked up once. */
  readonly routes: { account?: Entry; dedicated: Entry[] };
}

/** One function's tasks on one shard. */
export class Entry {
  readonly queue: number[] = [];
  head = 0;
  inFlight = 0;
  arrivals = 0;
  calls = 0;
  fails = 0;
  arrivalRate = 0;
  callRate = 0;
  failRate = 0;
  lastFold: number;
  lastActiveAt = 0;
  constructor(
    readonly fn: Fn,
    readonly shard: Shard,
    now: number,
  ) {
    this.lastFold = now;
  }
  get queued(): number {
    return this.queue.length - this.head;
  }
}

export class Shard {
  readonly entries = new Map<number, Entry>();
  /** Entries the shard reports to the policy. */
  readonly watched = new Set<Entry>();
  /** Entries with tasks queued. */
  readonly waiting = new Set<Entry>();
  readonly fair: FairShareState = newFairShareState();
  inFlight = 0;
  queued = 0;
  budget: number;
  lastRefill: number;
  calls = 0;
  callRate = 0;
  arrivals = 0;
  arrivalRate = 0;
  lastFold: number;
  constructor(
    readonly name: string,
    readonly tier: Tier,
    readonly budgetMax: number,
    now: number,
  ) {
    this.budget = budgetMax;
    this.lastRefill = now;
    this.lastFold = now;
  }
}

export interface MoveRecord {
  readonly t: number;
  readonly fromTier: Tier;
  readonly move: PlacementMove;
}

export interface MinuteRow {
  readonly minute: number;
  readonly accountShards: number;
  readonly dedicatedFunctions: number;
  readonly dedicatedPartitions: number;
  readonly saturatedShared: number;
  readonly queued: number;
  readonly inFlight: number;
  readonly moves: number;
  readonly p99: Record<Tier, number | null>;
}

export interface Totals {
  arrived: number;
  finished: number;
  dispatched: number;
}

const TIERS: readonly Tier[] = ["shared", "account", "dedicated"];

export class Simulation {
  readonly totals: Totals = { arrived: 0, finished: 0, dispatched: 0 };
  readonly moves: MoveRecord[] = [];
  readonly minutes: MinuteRow[] = [];
  /** Queue wait per tier of the shard that dispatched the task, over the whole run. */
  readonly waits: Record<Tier, Histogram> = {
    shared: new Histogram(),
    account: new Histogram(),
    dedicated: new Histogram(),
  };
  /** The same for the Zipf accounts' tasks only (without the flood, the bursts and the failing function). */
  readonly backgroundWaits: Record<Tier, Histogram> = {
    shared: new Histogram(),
    account: new Histogram(),
    dedicated: new Histogram(),
  };
  /** The flooding account's neighbours (same home shard): waits by phase. */
  readonly neighbourWaits = {
    beforeFlood: new Histogram(),
    floodOnShard: new Histogram(),
    floodMoved: new Histogram(),
    afterFlood: new Histogram(),
  };
  readonly floodWaits = new Histogram();
  /** When the flood function was first promoted and when its tasks left its home shard (ms since start). */
  floodPromotedAt: number | undefined;
  floodHomeDrainedAt: number | undefined;
  now = T0;

  readonly #c: SimConfig;
  readonly #random: () => number;
  readonly #shared: Shard[] = [];
  readonly #shards = new Map<string, Shard>();
  readonly #fns: Fn[] = [];
  /** Background arrivals per home shard: cumulative weights over its functions, total rate, next arrival. */
  readonly #homes: { shard: Shard; fns: Fn[]; cumulative: Float64Array; rate: number; nextAt: number }[] = [];
  readonly #streams: { fn: Fn; spec: StreamSpec; carry: number }[] = [];
  readonly #backlogged = new Set<Shard>();
  readonly #dedicated = new Set<Fn>();
  readonly #byKey = new Map<string, Fn>();
  /** Completion wheel: per slot, flat [entry, count, failed] triples. */
  readonly #wheel: unknown[][];
  #tick = 0;
  #nextEval: number;
  #minuteWaits: Record<Tier, Histogram> = {
    shared: new Histogram(),
    account: new Histogram(),
    dedicated: new Histogram(),
  };
  #minuteMoves = 0;
  readonly #flood: Fn | undefined;
  readonly #floodHome: Shard | undefined;

  constructor(config: SimConfig) {
    this.#c = config;
    this.#random = mulberry32(config.seed);
    const budgetMax = (config.shardRequestsPerSec * config.tickMs) / 1000;
    for (let i = 0; i < config.sharedShards; i++) {
      const shard = new Shard(`shared:${i}`, "shared", budgetMax, T0);
      this.#shared.push(shard);
      this.#shards.set(shard.name, shard);
    }
    const maxExec = Math.max(
      config.execMs[1],
      config.flood?.execMs ?? 0,
      config.failing?.execMs ?? 0,
      config.crowd?.spec.execMs ?? 0,
      ...config.bursts.map((b) => b.execMs),
    );
    this.#wheel = Array.from({ length: Math.ceil(maxExec / config.tickMs) + 2 }, () => []);
    this.#nextEval = T0 + config.evalEveryMs;
    this.#buildBackground();
    if (config.flood) {
      this.#flood = this.#special("flood-acct", "flood", config.flood, false);
      this.#floodHome = this.#flood.home;
    }
    for (const [i, b] of config.bursts.entries()) this.#special(`batch-${i}`, "nightly", b, false);
    if (config.failing) this.#special("broken-acct", "hangs", config.failing, true);
    if (config.crowd) {
      const home = Simulation.homeIndex("crowd-0", config.sharedShards);
      let found = 0;
      for (let k = 0; found < config.crowd.accounts && k < 1_000_000; k++) {
        if (Simulation.homeIndex(`crowd-${k}`, config.sharedShards) !== home) continue;
        this.#special(`crowd-${k}`, "api", config.crowd.spec, false);
        found++;
      }
    }
    for (const fn of this.#fns) this.#byKey.set(fn.key, fn);
  }

  /** The shared shard an account hashes onto, as `shardFor` does. */
  static homeIndex(account: string, sharedShards: number): number {
    return fnv1a(account) % Math.max(1, sharedShards);
  }

  #homeOf(account: string): Shard {
    return this.#shared[Simulation.homeIndex(account, this.#c.sharedShards)] as Shard;
  }

  #newFn(account: string, name: string, execMs: number, window: number, failing: boolean, background = false): Fn {
    const fn: Fn = {
      id: this.#fns.length,
      account,
      name,
      key: `${account}/${name}`,
      execMs,
      cost: callCost(execMs),
      window,
      failing,
      background,
      home: this.#homeOf(account),
      placement: { tier: "shared", partitions: 1, since: T0 - 86_400_000, reason: "initial", pinned: false },
      partitions: [],
      next: 0,
      routes: { dedicated: [] },
    };
    this.#fns.push(fn);
    return fn;
  }

  /** Zipf accounts: the top ten have four functions, the next thousand two, the rest one (Zipf within an account). */
  #buildBackground(): void {
    const c = this.#c;
    const weights = zipfWeights(c.accounts, c.zipfExponent);
    const byHome = new Map<Shard, { fns: Fn[]; rates: number[] }>();
    const [lo, hi] = c.execMs;
    for (let rank = 0; rank < c.accounts; rank++) {
      const account = `acct-${rank + 1}`;
      const home = this.#homeOf(account);
      if (c.onlyHomeShard !== undefined && home !== this.#shared[c.onlyHomeShard]) continue;
      const n = rank < 10 ? 4 : rank < 1_000 ? 2 : 1;
      const split = zipfWeights(n, 1);
      for (let j = 0; j < n; j++) {
        const execMs = Math.round(lo * (hi / lo) ** this.#random());
        const rate = c.backgroundPerSec * (weights[rank] as number) * (split[j] as number);
        // A tenant's maxConcurrency fits its load (twice what it keeps in flight): a function that cannot keep up
        // with its own arrivals has a backlog no placement can help, and would hide what the tiers do.
        const window = Math.min(10_000, Math.max(c.window, Math.ceil((2 * rate * execMs) / 1000)));
        const fn = this.#newFn(account, `fn-${j + 1}`, execMs, window, false, true);
        const slot = byHome.get(home) ?? { fns: [], rates: [] };
        slot.fns.push(fn);
        slot.rates.push(rate);
        byHome.set(home, slot);
      }
    }
    for (const [shard, { fns, rates }] of byHome) {
      const cumulative = new Float64Array(rates.length);
      let sum = 0;
      rates.forEach((r, i) => {
        sum += r;
        cumulative[i] = sum;
      });
      this.#homes.push({ shard, fns, cumulative, rate: sum, nextAt: T0 + exponentialGapMs(this.#random, sum) });
    }
  }

  #special(account: string, name: string, spec: StreamSpec, failing: boolean): Fn {
    const fn = this.#newFn(account, name, spec.execMs, spec.window, failing);
    this.#streams.push({ fn, spec, carry: 0 });
    return fn;
  }

  #shardNamed(name: string, tier: Tier): Shard {
    let shard = this.#shards.get(name);
    if (!shard) {
      shard = new Shard(name, tier, (this.#c.shardRequestsPerSec * this.#c.tickMs) / 1000, this.now);
      this.#shards.set(name, shard);
    }
    return shard;
  }

  #entry(fn: Fn, shard: Shard): Entry {
    let e = shard.entries.get(fn.id);
    if (!e) {
      e = new Entry(fn, shard, this.now);
      shard.entries.set(fn.id, e);
      if (shard.tier === "dedicated") fn.partitions.push(e);
    }
    return e;
  }

  /** Where a new task of `fn` goes now. */
  #route(fn: Fn): Entry {
    switch (fn.placement.tier) {
      case "shared":
        return this.#entry(fn, fn.home);
      case "account":
        fn.routes.account ??= this.#entry(fn, this.#shardNamed(`account:${fn.account}`, "account"));
        return fn.routes.account;
      case "dedicated": {
        const p = fn.next++ % fn.placement.partitions;
        let e = fn.routes.dedicated[p];
        if (!e) {
          e = this.#entry(fn, this.#shardNamed(`dedicated:${fn.key}:${p}`, "dedicated"));
          fn.routes.dedicated[p] = e;
        }
        return e;
      }
    }
  }

  /** A dedicated partition holds its share of the function's window. */
  #windowOf(e: Entry): number {
    return e.shard.tier === "dedicated" ? Math.max(1, Math.ceil(e.fn.window / e.fn.placement.partitions)) : e.fn.window;
  }

  #refill(shard: Shard, at: number): void {
    if (at <= shard.lastRefill) return;
    const gained = ((at - shard.lastRefill) * this.#c.shardRequestsPerSec) / 1000;
    shard.budget = Math.min(shard.budgetMax, shard.budget + gained);
    shard.lastRefill = at;
  }

  #arrive(fn: Fn, at: number): void {
    this.totals.arrived++;
    const e = this.#route(fn);
    const shard = e.shard;
    this.#refill(shard, at);
    shard.budget -= this.#c.requestsPerAccept;
    e.arrivals++;
    shard.arrivals++;
    e.lastActiveAt = at;
    shard.watched.add(e);
    if (
      shard.queued === 0 &&
      shard.budget >= this.#c.requestsPerCall &&
      shard.inFlight < this.#c.invokerSlots &&
      e.inFlight < this.#windowOf(e)
    ) {
      this.#start(e, 1, at);
      this.#recordWait(e, 0, at);
      return;
    }
    e.queue.push(at);
    shard.queued++;
    shard.waiting.add(e);
    this.#backlogged.add(shard);
  }

  #start(e: Entry, n: number, at: number): void {
    e.inFlight += n;
    e.shard.inFlight += n;
    e.shard.budget -= n * this.#c.requestsPerCall;
    this.totals.dispatched += n;
    const ticks = Math.max(1, Math.round((at - T0 + e.fn.execMs) / this.#c.tickMs) - this.#tick);
    const slot = this.#wheel[(this.#tick + ticks) % this.#wheel.length] as unknown[];
    slot.push(e, n);
  }

  #recordWait(e: Entry, waitMs: number, at: number): void {
    const tier = e.shard.tier;
    this.waits[tier].record(waitMs);
    this.#minuteWaits[tier].record(waitMs);
    const fn = e.fn;
    if (fn.background) this.backgroundWaits[tier].record(waitMs);
    if (fn === this.#flood) this.floodWaits.record(waitMs);
    else if (fn.background && fn.home === this.#floodHome) {
      const spec = this.#c.flood as StreamSpec;
      const s = (at - T0) / 1000;
      const w = this.neighbourWaits;
      const sketch =
        s < spec.startS
          ? w.beforeFlood
          : s >= spec.endS
            ? w.afterFlood
            : this.floodHomeDrainedAt === undefined
              ? w.floodOnShard
              : w.floodMoved;
      sketch.record(waitMs);
    }
  }

  #finish(): void {
    const slot = this.#wheel[this.#tick % this.#wheel.length] as unknown[];
    for (let i = 0; i < slot.length; i += 2) {
      const e = slot[i] as Entry;
      const n = slot[i + 1] as number;
      e.inFlight -= n;
      e.shard.inFlight -= n;
      e.calls += n;
      e.shard.calls += n;
      if (e.fn.failing) e.fails += n;
      e.lastActiveAt = this.now;
      e.shard.watched.add(e);
      this.totals.finished += n;
    }
    slot.length = 0;
  }

  #arrivals(until: number): void {
    for (const home of this.#homes) {
      while (home.nextAt < until) {
        const pick = this.#random() * home.rate;
        const c = home.cumulative;
        let lo = 0;
        let hi = c.length - 1;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if ((c[mid] as number) < pick) lo = mid + 1;
          else hi = mid;
        }
        this.#arrive(home.fns[lo] as Fn, home.nextAt);
        home.nextAt += exponentialGapMs(this.#random, home.rate);
      }
    }
    const from = until - this.#c.tickMs;
    for (const stream of this.#streams) {
      const s = (from - T0) / 1000;
      if (s < stream.spec.startS || s >= stream.spec.endS) continue;
      const exact = (stream.spec.ratePerSec * this.#c.tickMs) / 1000 + stream.carry;
      const n = Math.floor(exact);
      stream.carry = exact - n;
      for (let i = 0; i < n; i++) this.#arrive(stream.fn, from + ((i + 0.5) * this.#c.tickMs) / n);
    }
  }

  #dispatch(at: number): void {
    for (const shard of this.#backlogged) {
      this.#refill(shard, at);
      const slots = Math.min(Math.floor(shard.budget / this.#c.requestsPerCall), this.#c.invokerSlots - shard.inFlight);
      if (slots <= 0) continue;
      const demands: Demand[] = [];
      const byKey = new Map<string, Entry>();
      for (const e of shard.waiting) {
        const ready = e.queued;
        const room = this.#windowOf(e) - e.inFlight;
        if (room <= 0) continue;
        demands.push({ account: e.fn.account, key: e.fn.key, ready, room, cost: e.fn.cost });
        byKey.set(e.fn.key, e);
      }
      if (demands.length === 0) continue;
      const { calls } = allocateFairly(shard.fair, demands, slots, () => Number.POSITIVE_INFINITY);
      for (const [key, n] of calls) {
        const e = byKey.get(key) as Entry;
        for (let i = 0; i < n; i++) this.#recordWait(e, at - (e.queue[e.head + i] as number), at);
        e.head += n;
        if (e.head > 4_096 && e.head * 2 > e.queue.length) {
          e.queue.splice(0, e.head);
          e.head = 0;
        }
        shard.queued -= n;
        if (e.queued === 0) shard.waiting.delete(e);
        this.#start(e, n, at);
      }
      if (shard.queued === 0) this.#backlogged.delete(shard);
    }
    if (this.#flood && this.floodPromotedAt !== undefined && this.floodHomeDrainedAt === undefined) {
      const home = this.#floodHome?.entries.get(this.#flood.id);
      if (!home || home.queued === 0) this.floodHomeDrainedAt = at - T0;
    }
  }

  #fold(e: Entry, at: number): void {
    const dt = at - e.lastFold;
    if (dt <= 0) return;
    const keep = Math.exp(-dt / RATE_TAU_MS);
    const per = 1000 / dt;
    e.arrivalRate = keep * e.arrivalRate + (1 - keep) * e.arrivals * per;
    e.callRate = keep * e.callRate + (1 - keep) * e.calls * per;
    e.failRate = keep * e.failRate + (1 - keep) * e.fails * per;
    e.arrivals = 0;
    e.calls = 0;
    e.fails = 0;
    e.lastFold = at;
  }

  #foldShard(shard: Shard, at: number): void {
    const dt = at - shard.lastFold;
    if (dt <= 0) return;
    const keep = Math.exp(-dt / RATE_TAU_MS);
    shard.callRate = keep * shard.callRate + ((1 - keep) * shard.calls * 1000) / dt;
    shard.arrivalRate = keep * shard.arrivalRate + ((1 - keep) * shard.arrivals * 1000) / dt;
    shard.calls = 0;
    shard.arrivals = 0;
    shard.lastFold = at;
  }

  #loadOf(fn: Fn, entries: readonly Entry[], at: number): FunctionLoad {
    let queued = 0;
    let arrivalsPerSec = 0;
    let callsPerSec = 0;
    let inFlight = 0;
    let failingPerSec = 0;
    let lastActiveAt = 0;
    for (const e of entries) {
      this.#fold(e, at);
      queued += e.queued;
      arrivalsPerSec += e.arrivalRate;
      callsPerSec += e.callRate;
      inFlight += e.inFlight;
      failingPerSec += e.failRate;
      lastActiveAt = Math.max(lastActiveAt, e.lastActiveAt);
    }
    const placement = fn.placement;
    return {
      account: fn.account,
      name: fn.name,
      placement,
      queued,
      arrivalsPerSec,
      callsPerSec,
      inFlight,
      failingPerSec,
      lastActiveAt,
    };
  }

  #evaluate(at: number): void {
    const planned: { shard: Shard; moves: PlacementMove[] }[] = [];
    const s = this.#c.settings;
    for (const shard of this.#shards.values()) {
      if (shard.tier === "dedicated" || shard.watched.size === 0) continue;
      this.#foldShard(shard, at);
      let loud =
        shard.tier !== "shared" || shard.inFlight >= MIN_FAILURE_IN_FLIGHT || shard.callRate >= s.shardCallsPerSec;
      // No function's smoothed rate exceeds its shard's (a sum of the same kind), nor its queue the shard's queue.
      if (
        !loud &&
        shard.arrivalRate < s.promoteRatePerSec * BUSY_FRACTION &&
        shard.queued < s.promoteBacklog * BUSY_FRACTION
      )
        continue;
      for (const e of shard.watched) {
        const idle = e.queued === 0 && e.inFlight === 0 && e.lastActiveAt < at - REPORT_IDLE_MS;
        const placedHere = e.fn.placement.tier === shard.tier && shard.tier === "account";
        if (idle && !placedHere) {
          shard.watched.delete(e);
          continue;
        }
        this.#fold(e, at);
        if (e.queued >= s.promoteBacklog * BUSY_FRACTION || e.arrivalRate >= s.promoteRatePerSec * BUSY_FRACTION)
          loud = true;
      }
      // A quiet shared shard (no function busy, few calls in flight, far from its limit) can meet no rule of the
      // policy, so asking it is skipped; test/unit/placement-sim.test.ts checks that it would answer nothing.
      if (!loud) continue;
      const functions: FunctionLoad[] = [];
      for (const e of shard.watched) functions.push(this.#loadOf(e.fn, [e], at));
      if (functions.length === 0) continue;
      const load: ShardLoad = { tier: shard.tier, inFlight: shard.inFlight, callsPerSec: shard.callRate, functions };
      if (this.#c.placement) planned.push({ shard, moves: planPlacement(load, at, this.#c.settings) });
    }
    // A dedicated function decides once, over all its partitions.
    for (const fn of this.#dedicated) {
      if (fn.partitions.length === 0) continue;
      const load = this.#loadOf(fn, fn.partitions, at);
      const shardLoad: ShardLoad = {
        tier: "dedicated",
        inFlight: load.inFlight,
        callsPerSec: load.callsPerSec,
        functions: [load],
      };
      if (this.#c.placement)
        planned.push({
          shard: fn.partitions[0]?.shard as Shard,
          moves: planPlacement(shardLoad, at, this.#c.settings),
        });
    }
    for (const { shard, moves } of planned) for (const m of moves) this.#apply(shard, m, at);
  }

  #fnByKey(account: string, name: string): Fn | undefined {
    return this.#byKey.get(`${account}/${name}`);
  }

  #place(fn: Fn, placement: FunctionPlacement): void {
    fn.placement = placement;
    if (placement.tier === "dedicated") this.#dedicated.add(fn);
    else this.#dedicated.delete(fn);
  }

  #apply(shard: Shard, move: PlacementMove, at: number): void {
    const record = () => {
      this.moves.push({ t: at - T0, fromTier: shard.tier, move });
      this.#minuteMoves++;
    };
    const pinned = false;
    switch (move.kind) {
      case "promote": {
        const fn = this.#fnByKey(move.account, move.name);
        if (!fn) return;
        this.#place(fn, { tier: "dedicated", partitions: move.partitions, since: at, reason: move.reason, pinned });
        if (fn === this.#flood && this.floodPromotedAt === undefined) this.floodPromotedAt = at - T0;
        record();
        return;
      }
      case "promote-account":
        for (const name of move.functions) {
          const fn = this.#fnByKey(move.account, name);
          if (fn) this.#place(fn, { tier: "account", partitions: 1, since: at, reason: move.reason, pinned });
        }
        record();
        return;
      case "repartition": {
        const fn = this.#fnByKey(move.account, move.name);
        if (!fn) return;
        this.#place(fn, { ...fn.placement, partitions: move.partitions, since: at, reason: move.reason });
        record();
        return;
      }
      case "reclaim": {
        const fn = this.#fnByKey(move.account, move.name);
        if (!fn) return;
        this.#place(fn, { tier: "shared", partitions: 1, since: at, reason: move.reason, pinned });
        record();
        return;
      }
    }
  }

  #minute(): void {
    let accountShards = 0;
    let saturatedShared = 0;
    let queued = 0;
    let inFlight = 0;
    for (const shard of this.#shards.values()) {
      queued += shard.queued;
      inFlight += shard.inFlight;
      if (shard.tier === "shared" && shard.callRate >= this.#c.settings.shardCallsPerSec) saturatedShared++;
    }
    const accounts = new Set<string>();
    let dedicatedFunctions = 0;
    let dedicatedPartitions = 0;
    for (const fn of this.#fns) {
      if (fn.placement.tier === "account") accounts.add(fn.account);
      if (fn.placement.tier === "dedicated") {
        dedicatedFunctions++;
        dedicatedPartitions += fn.placement.partitions;
      }
    }
    accountShards = accounts.size;
    const p99 = {} as Record<Tier, number | null>;
    for (const tier of TIERS) p99[tier] = this.#minuteWaits[tier].quantile(0.99);
    this.minutes.push({
      minute: Math.round((this.now - T0) / 60_000),
      accountShards,
      dedicatedFunctions,
      dedicatedPartitions,
      saturatedShared,
      queued,
      inFlight,
      moves: this.#minuteMoves,
      p99,
    });
    this.#minuteWaits = { shared: new Histogram(), account: new Histogram(), dedicated: new Histogram() };
    this.#minuteMoves = 0;
  }

  /** One step of `tickMs`. */
  step(): void {
    const end = this.now + this.#c.tickMs;
    this.#tick++;
    this.now = end;
    this.#finish();
    this.#arrivals(end);
    this.#dispatch(end);
    if (end >= this.#nextEval) {
      this.#evaluate(end);
      this.#nextEval += this.#c.evalEveryMs;
    }
    if ((end - T0) % 60_000 === 0) this.#minute();
  }

  run(): this {
    const steps = Math.round((this.#c.durationS * 1000) / this.#c.tickMs);
    for (let i = 0; i < steps; i++) this.step();
    return this;
  }

  /** Tasks waiting and running now, over every shard. */
  backlog(): { queued: number; inFlight: number } {
    let queued = 0;
    let inFlight = 0;
    for (const shard of this.#shards.values()) {
      queued += shard.queued;
      inFlight += shard.inFlight;
    }
    return { queued, inFlight };
  }

  /** Number of shards per tier that exist (shared shards always; account and dedicated ones once used). */
  shardCounts(): Record<Tier, number> {
    const counts: Record<Tier, number> = { shared: 0, account: 0, dedicated: 0 };
    for (const shard of this.#shards.values()) counts[shard.tier]++;
    return counts;
  }

  functionCount(): number {
    return this.#fns.length;
  }

  /** All waits of every tier in one histogram. */
  allWaits(): Histogram {
    const all = new Histogram();
    for (const tier of TIERS) all.mergeFrom(this.waits[tier]);
    return all;
  }
}
