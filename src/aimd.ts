/**
 * @module
 * The AIMD governor of one function: a concurrency window that grows additively while calls succeed and shrinks
 * multiplicatively when the function pushes back (429/503, timeouts), capped by `maxConcurrency`. Like TCP congestion
 * control, it grows by about one slot per window's worth of successes, and shrinks once per round trip: rejections of
 * calls that were already in flight when the window was cut count as the same signal, not fifty more.
 */

export interface AimdState {
  readonly window: number;
  readonly lastDecreaseAt: number;
}

export interface AimdParams {
  /** Upper bound: the function's `maxConcurrency`. */
  readonly max: number;
  /** Multiplier on congestion, e.g. 0.5. */
  readonly decreaseFactor: number;
  /** Minimum time between two decreases. */
  readonly cooldownMs: number;
}

/** A new function starts with its whole window: it has not pushed back yet. */
export function initialAimd(params: AimdParams): AimdState {
  return { window: params.max, lastDecreaseAt: 0 };
}

/** Keep a stored window inside the current bounds (maxConcurrency may have changed). */
export function clampAimd(state: AimdState, params: AimdParams): AimdState {
  return { ...state, window: Math.min(params.max, Math.max(1, state.window)) };
}

/** A call succeeded: add 1/window, so a full window of successes adds about one slot. */
export function aimdOnSuccess(state: AimdState, params: AimdParams): AimdState {
  const window = Math.min(params.max, state.window + 1 / Math.max(1, state.window));
  return window === state.window ? state : { ...state, window };
}

/**
 * The function pushed back: multiply the window by the decrease factor, unless it was cut within the cooldown.
 * @example aimdOnCongestion({ window: 40, lastDecreaseAt: 0 }, { max: 100, decreaseFactor: 0.5, cooldownMs: 1000 }, 5000)
 * // { window: 20, lastDecreaseAt: 5000 }
 */
export function aimdOnCongestion(
  state: AimdState,
  params: AimdParams,
  now: number,
  callStartedAt: number = now,
): AimdState {
  // A call that started before the last cut was sent under the old, larger window: it says nothing new.
  if (callStartedAt < state.lastDecreaseAt) return state;
  if (now - state.lastDecreaseAt < params.cooldownMs) return state;
  return { window: Math.max(1, state.window * params.decreaseFactor), lastDecreaseAt: now };
}

/** How many calls may be in flight now. */
export function aimdLimit(state: AimdState): number {
  return Math.max(1, Math.floor(state.window));
}
