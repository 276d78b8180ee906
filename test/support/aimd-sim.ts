/**
 * A millisecond-step simulation of one function under the AIMD governor (src/aimd.ts) against a backend of hidden,
 * changing capacity: above `capacity(t)` calls in flight it answers 429 at once, otherwise it works `serviceMs`. Each
 * call also spends `hopMs` between the platform and the backend (half before the call, half for its report), as a
 * real dispatch and report do; both vary by up to ±`jitter` (a seeded generator, so runs repeat). A backlog is
 * always waiting, so the window is the only limit.
 */

import {
  type AimdParams,
  type AimdState,
  aimdLimit,
  aimdOnCongestion,
  aimdOnDispatch,
  aimdOnSuccess,
  initialAimd,
} from "../../src/aimd";

type SimEvent = { kind: "arrive" | "done" | "report"; startedAt: number; success: boolean; serviceMs?: number };

export interface SimResult {
  /** Calls that succeeded. */
  readonly ok: number;
  readonly throttled: number;
  /** Window (aimdLimit) and backend in-flight, sampled every 100 ms: [t, window, backendInFlight, capacity]. */
  readonly samples: [number, number, number, number][];
  /** Mean backend in-flight ÷ capacity over [from, to). */
  utilisation(from: number, to: number): number;
  /** The first time at or after `from` the window is within [lo, hi]. */
  firstWithin(from: number, lo: number, hi: number): number | undefined;
}

export function simulate({
  params,
  capacity,
  serviceMs,
  hopMs,
  durationMs,
  jitter = 0.3,
}: {
  params: AimdParams;
  capacity: (t: number) => number;
  serviceMs: number;
  hopMs: number;
  durationMs: number;
  jitter?: number;
}): SimResult {
  let seed = 42;
  const vary = (ms: number) => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return Math.max(1, Math.round(ms * (1 + jitter * (2 * (seed / 2_147_483_648) - 1))));
  };
  let state: AimdState = initialAimd(params, 0);
  let ours = 0;
  let atBackend = 0;
  let ok = 0;
  let throttled = 0;
  /** Events by the millisecond they happen at. */
  const events = new Map<number, SimEvent[]>();
  const at = (t: number, e: SimEvent) => {
    const list = events.get(t) ?? [];
    list.push(e);
    events.set(t, list);
  };
  const half = Math.max(1, Math.round(hopMs / 2));
  const samples: [number, number, number, number][] = [];
  const inFlightPerMs: number[] = [];
  const capPerMs: number[] = [];
  for (let t = 0; t < durationMs; t++) {
    for (const e of events.get(t) ?? []) {
      if (e.kind === "arrive") {
        if (atBackend >= capacity(t)) {
          throttled++;
          at(t + vary(half), { kind: "report", startedAt: e.startedAt, success: false });
        } else {
          atBackend++;
          const took = vary(serviceMs);
          at(t + took, { kind: "done", startedAt: e.startedAt, success: true, serviceMs: took });
        }
      } else if (e.kind === "done") {
        atBackend--;
        ok++;
        at(t + vary(half), { kind: "report", startedAt: e.startedAt, success: true, serviceMs: e.serviceMs });
      } else {
        ours--;
        state = e.success
          ? aimdOnSuccess(state, params, t, t - e.startedAt, e.startedAt)
          : aimdOnCongestion(state, params, t, e.startedAt);
      }
    }
    events.delete(t);
    // Dispatch whatever the window allows (the backlog never runs out).
    const room = aimdLimit(state, t) - ours;
    for (let i = 0; i < room; i++) {
      ours++;
      at(t + vary(half), { kind: "arrive", startedAt: t, success: true });
    }
    if (room > 0) state = aimdOnDispatch(state, ours);
    inFlightPerMs.push(atBackend);
    capPerMs.push(capacity(t));
    if (t % 100 === 0) samples.push([t, aimdLimit(state), atBackend, capacity(t)]);
  }
  return {
    ok,
    throttled,
    samples,
    utilisation(from, to) {
      let used = 0;
      let cap = 0;
      for (let t = from; t < to; t++) {
        used += inFlightPerMs[t] ?? 0;
        cap += capPerMs[t] ?? 0;
      }
      return used / Math.max(1, cap);
    },
    firstWithin(from, lo, hi) {
      return samples.find(([t, w]) => t >= from && w >= lo && w <= hi)?.[0];
    },
  };
}
