/**
 * @module
 * The AIMD governor of one function: a concurrency window, capped by `maxConcurrency`, that finds and holds what the
 * function can bear, in the manner of TCP congestion control (RFC 5681):
 *
 * - **Slow start**: a new function starts with a small window (`initialWindow`) that grows by one slot per success,
 *   doubling each round trip, until the function first pushes back (429/503 or a timeout) or the window reaches
 *   `ssthresh`. Leaving it cuts to what the window was when the rejected call was sent (the window less the
 *   successes since), times `decreaseFactor`: a 429 comes back long before a round trip ends, so the overshoot is
 *   the growth during the rejection's own few milliseconds, and halving as TCP does (the doubling's worst case) left
 *   the window at half the capacity for several round trips (B4's start-up, README "Flow control"). It still halves
 *   when this memory did not see the slow start begin (a restarted shard).
 * - **Congestion avoidance**: then it grows by about one slot per round trip (faster back to where it was last cut,
 *   slower within a slot of it: `avoidanceStep`) and is multiplied
 *   by `decreaseFactor` on congestion (by half as much when the window probed the capacity it last found:
 *   `decreaseFactorAt`), at most once per round trip: rejections of calls that were already in flight
 *   when the window was cut say the same thing, not fifty more. The round trip is the smoothed time of the
 *   function's successful calls (from their start to their report, like TCP's SRTT): a 429 comes back at once, so
 *   counting its own round trip would cut the window again and again while the first cut is still taking effect.
 * - **Application-limited**: successes widen the window only while the function uses at least half of it (RFC 7661's
 *   rule), so a trickle does not inflate the window to `maxConcurrency` and then release a burst.
 * - **Restart after idle**: a function without calls for `idleRestartMs` starts slow again from `initialWindow`, with
 *   `ssthresh` at its old window, so it doubles back to where it was instead of opening with the whole window.
 * - **Retry-After**: a `Retry-After` on a 429/503 pauses every call of the function until then (`pausedUntil`).
 * - **A throttled call keeps its slot for a round trip**: a 429 comes back at once, and a slot it freed would be
 *   refilled at once by a call that meets the same full backend; so the slot stays taken until the call would have
 *   ended had it been accepted (its start plus the smoothed round trip), and the retries do not churn. The call
 *   whose 429 cuts the window holds none: the cut already took a slot away, and holding one more left the window a
 *   slot under the capacity for a round trip after every probe (B4 and the simulation, README "Flow control").
 */

export interface AimdState {
  readonly window: number;
  /** The slow-start threshold: below it a success adds one slot, above it 1/window. */
  readonly ssthresh: number;
  readonly lastDecreaseAt: number;
  /** No call starts before this time (the function's last Retry-After); 0 when none. */
  readonly pausedUntil: number;
  /** The last time a call of the function ended (for the restart after idle). */
  readonly lastActiveAt: number;
  /** Calls the last dispatch pass left in flight (in memory only; undefined until a pass after a start). */
  readonly used?: number;
  /** Smoothed round trip of successful calls, dispatch to report, ms (in memory only; undefined until a success). */
  readonly rttMs?: number;
  /** The window at the last cut: where the function last pushed back (in memory only; undefined until a cut). */
  readonly lastMax?: number;
  /** When the slots of recently throttled calls free up (in memory only; at most `max` entries). */
  readonly held?: readonly number[];
  /**
   * When each success of the current slow start widened the window, oldest first (in memory only; at most `max`
   * entries; undefined outside slow start, or when this memory did not see it begin).
   */
  readonly grownAt?: readonly number[];
}

export interface AimdParams {
  /** Upper bound: the function's `maxConcurrency`. */
  readonly max: number;
  /** Multiplier on congestion in congestion avoidance, e.g. 0.9. */
  readonly decreaseFactor: number;
  /** Minimum time between two decreases (the round-trip rule comes first; this bounds a burst of fast rejections). */
  readonly cooldownMs: number;
  /** The window a new or idle function starts slow from. */
  readonly initialWindow: number;
  /** Idle time after which a function starts slow again. */
  readonly idleRestartMs: number;
}

/** Longest pause a function's Retry-After can order (a hostile or broken header cannot park a function for days). */
export const MAX_RETRY_AFTER_PAUSE_MS = 300_000;
/** Weight of a new sample in the smoothed round trip (TCP's 1/8). */
const RTT_WEIGHT = 1 / 8;
/** Leaving slow start on congestion: doubling overshoots by up to 2× per round trip. */
const SLOW_START_EXIT_FACTOR = 0.5;

/** The window slow start opens with: `initialWindow`, within 1..max. */
function startWindow(params: AimdParams): number {
  return Math.min(params.max, Math.max(1, params.initialWindow));
}

/** A new function starts slow: a small window that doubles per round trip until the function pushes back. */
export function initialAimd(params: AimdParams, now = 0): AimdState {
  return {
    window: startWindow(params),
    ssthresh: params.max,
    lastDecreaseAt: 0,
    pausedUntil: 0,
    lastActiveAt: now,
    grownAt: [],
  };
}

/** Keep a stored window inside the current bounds (maxConcurrency may have changed). */
export function clampAimd(state: AimdState, params: AimdParams): AimdState {
  const window = Math.min(params.max, Math.max(1, state.window));
  return window === state.window ? state : { ...state, window };
}

/** Whether the window still doubles per round trip. */
export function inSlowStart(state: AimdState): boolean {
  return state.window < state.ssthresh;
}

/** A dispatch pass left `inFlight` calls of the function running. */
export function aimdOnDispatch(state: AimdState, inFlight: number): AimdState {
  return state.used === inFlight ? state : { ...state, used: inFlight };
}

/**
 * A call succeeded: the window grows, unless the function is application-limited (the last dispatch left fewer than
 * half its window in flight: there was not enough work to fill it, so success says nothing about a larger window).
 */
export function aimdOnSuccess(
  state: AimdState,
  params: AimdParams,
  now: number,
  rttMs?: number,
  callStartedAt?: number,
): AimdState {
  const active = { ...state, lastActiveAt: now, rttMs: smooth(state.rttMs, rttMs) };
  if (state.used !== undefined && state.used * 2 < aimdLimit(state)) return active;
  // A call sent before the last cut was sent under the old window: its success does not widen the new one (TCP's
  // recovery), or the window would grow back while the backend is still full.
  if (callStartedAt !== undefined && callStartedAt < state.lastDecreaseAt) return active;
  if (!inSlowStart(state)) return { ...active, window: Math.min(params.max, state.window + avoidanceStep(state)) };
  const window = Math.min(params.max, state.window + 1);
  // Reaching ssthresh ends slow start and its record. Only a success that added a slot is growth (at maxConcurrency,
  // below a higher ssthresh, none is).
  let grownAt = window < state.ssthresh ? state.grownAt : undefined;
  if (grownAt && window > state.window) grownAt = [...grownAt, now].slice(-params.max);
  return { ...active, window, grownAt };
}

/**
 * Growth per success in congestion avoidance, shaped around where the function last pushed back (as BIC and CUBIC
 * do): well below that point the window climbs back at two slots per round trip, within a slot of it it probes at
 * half a slot per round trip, and past it (the capacity grew) at the usual one. So the window spends its time just
 * under the capacity instead of a sawtooth's average, with fewer throttles per call.
 */
function avoidanceStep(state: AimdState): number {
  const perSlot = 1 / Math.max(1, state.window);
  const last = state.lastMax;
  if (last === undefined || state.window >= last + 1) return perSlot;
  return state.window < last - 1 ? 2 * perSlot : 0.5 * perSlot;
}

/**
 * The factor of a cut in congestion avoidance: `decreaseFactor` (β), or half as deep, (1 + β) ÷ 2, when the function
 * pushed back within a slot of where it last did after growing since. That is the window probing a capacity it
 * already found (the growth of {@link avoidanceStep} creeps up to it and touches it), and a cut of β would drop it a
 * slot or two below that capacity for a few round trips each time. A push-back anywhere else (the capacity fell or
 * grew), or again before any growth, cuts by β.
 */
function decreaseFactorAt(state: AimdState, decreaseFactor: number): number {
  // A push-back before any success widened the window since the last cut (it is still at the cut, `ssthresh`) is not
  // a probe: the cut window overflowed too, so the capacity fell. Without this, a small window (under 20 slots, where
  // 5 % is less than a slot) stayed "within a slot" of each last cut and fell 5 % per round trip: 8 -> 2 took 4.3 s.
  const probing =
    state.lastMax !== undefined && Math.abs(state.window - state.lastMax) < 1 && state.window > state.ssthresh;
  return probing ? (1 + decreaseFactor) / 2 : decreaseFactor;
}

/**
 * The function pushed back: cut the window (leaving slow start: {@link slowStartExit}, else by the decrease factor),
 * unless the call was sent before the last cut or the cut is within the cooldown. `callStartedAt` is when the invoker
 * began the call, `dispatchedAt` when the shard sent it (the earlier: the window it was sent under, for the exit).
 * @example aimdOnCongestion({ window: 40, ssthresh: 20, lastDecreaseAt: 0, pausedUntil: 0, lastActiveAt: 0 },
 *   { max: 100, decreaseFactor: 0.9, cooldownMs: 100, initialWindow: 4, idleRestartMs: 60000 }, 5000)
 * // { window: 36, ssthresh: 36, lastDecreaseAt: 5000, pausedUntil: 0, lastActiveAt: 5000 }
 */
export function aimdOnCongestion(
  state: AimdState,
  params: AimdParams,
  now: number,
  callStartedAt: number = now,
  dispatchedAt: number = callStartedAt,
): AimdState {
  // A decrease factor of 1 is a fixed window (the benchmarks' contrast): nothing is ever cut, nor held.
  if (params.decreaseFactor >= 1) return { ...state, lastActiveAt: now };
  const release = callStartedAt + Math.max(params.cooldownMs, state.rttMs ?? params.cooldownMs);
  const held = [...(state.held ?? []).filter((t) => t > now), ...(release > now ? [release] : [])].slice(-params.max);
  const active = { ...state, lastActiveAt: now, held };
  // A call that started before the last cut was sent under the old, larger window: it says nothing new.
  if (callStartedAt < state.lastDecreaseAt) return active;
  if (now - state.lastDecreaseAt < Math.max(params.cooldownMs, state.rttMs ?? 0)) return active;
  const { window, lastMax } = inSlowStart(state)
    ? slowStartExit(state, params, Math.min(dispatchedAt, callStartedAt))
    : { window: Math.max(1, state.window * decreaseFactorAt(state, params.decreaseFactor)), lastMax: state.window };
  // The call that cut holds no slot: the cut already took one away, and holding one more would leave the window a
  // slot under the capacity for a round trip after every probe. Throttles of calls that do not cut still hold theirs.
  const heldBefore = (state.held ?? []).filter((t) => t > now);
  return { ...active, held: heldBefore, window, ssthresh: window, lastDecreaseAt: now, lastMax, grownAt: undefined };
}

/**
 * Leaving slow start: the window the rejected call was sent under is where the function pushed back (each success
 * since added a slot: the window less those), and the window resumes at that point times `decreaseFactor`. Counting
 * successes rather than time matters: the successes of calls sent together come back together, so the window can
 * double within a few milliseconds of a round trip. At most the doubling's overshoot is taken back (half the
 * window); without the count (a restarted shard), halve, with no point to climb back to.
 */
function slowStartExit(
  state: AimdState,
  params: AimdParams,
  sentAt: number,
): { window: number; lastMax: number | undefined } {
  if (state.grownAt === undefined) {
    return { window: Math.max(1, state.window * SLOW_START_EXIT_FACTOR), lastMax: undefined };
  }
  // A success in the same millisecond as the send may have come before it: counted (the safe side).
  const grownSince = state.grownAt.filter((t) => t >= sentAt).length;
  const sent = Math.max(state.window * SLOW_START_EXIT_FACTOR, state.window - grownSince);
  return { window: Math.max(1, sent * params.decreaseFactor), lastMax: sent };
}

/** A 429/503 with Retry-After: no call of the function starts before then (bounded by MAX_RETRY_AFTER_PAUSE_MS). */
export function aimdPause(state: AimdState, now: number, retryAfterMs: number): AimdState {
  const until = now + Math.min(Math.max(0, retryAfterMs), MAX_RETRY_AFTER_PAUSE_MS);
  return until > state.pausedUntil ? { ...state, pausedUntil: until } : state;
}

/**
 * Before dispatching: a function with no call in flight and none ended for `idleRestartMs` starts slow again, with
 * its old window as the threshold to double back to.
 */
export function aimdRestartIfIdle(state: AimdState, params: AimdParams, now: number, running: number): AimdState {
  if (running > 0 || now - state.lastActiveAt < params.idleRestartMs) return state;
  const initial = startWindow(params);
  if (state.window <= initial) return state;
  return {
    ...state,
    window: initial,
    ssthresh: Math.max(state.ssthresh, state.window),
    lastActiveAt: now,
    grownAt: [],
  };
}

function smooth(before: number | undefined, sample: number | undefined): number | undefined {
  if (sample === undefined || !Number.isFinite(sample) || sample < 0) return before;
  return before === undefined ? sample : before + RTT_WEIGHT * (sample - before);
}

/** How many calls may be in flight now (none while a Retry-After pause lasts). */
export function aimdLimit(state: AimdState, now?: number): number {
  const window = Math.max(1, Math.floor(state.window));
  if (now === undefined) return window;
  if (now < state.pausedUntil) return 0;
  const held = state.held?.filter((t) => t > now).length ?? 0;
  return Math.max(0, window - held);
}

/** The next time the limit rises by itself (a pause ends, a held slot frees up), if any: the shard wakes then. */
export function aimdNextRelease(state: AimdState, now: number): number | null {
  const times = [state.pausedUntil, ...(state.held ?? [])].filter((t) => t > now);
  return times.length === 0 ? null : Math.min(...times);
}
