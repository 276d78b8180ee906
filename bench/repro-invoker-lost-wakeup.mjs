#!/usr/bin/env node
/**
 * Reproduces a lost wake-up in the invoker's drain loop (durable-objects/invoker.ts): a call that finishes while the
 * loop is awaiting `#reportFinished()` calls `#pump()` when no waiter is installed, so its outcome is not reported until
 * the invoker is woken again. On an invoker that also runs a long call, that may not be before the long call ends: the
 * no-op task finishes tens of seconds late, or the shard's lease runs out first and the task is run a second time
 * (attemptLog shows `lease_expired`, ~45 s late).
 *
 * Run: `node bench/repro-invoker-lost-wakeup.mjs` (about 1-2 minutes). Exit code 1 when the bug shows.
 * A small invoker pool (INVOKERS_PER_SHARD=8) makes no-op jobs land on the invoker busy with the long call.
 */

import {
  createAccount,
  getTask,
  putFunction,
  runPool,
  sleep,
  startPlatform,
  submitTask,
  TERMINAL_STATES,
} from "./lib.mjs";

const platform = await startPlatform({ INVOKERS_PER_SHARD: process.env.INVOKERS_PER_SHARD ?? "8" });
let lost = [];
try {
  const acct = await createAccount(platform.url, platform.adminToken, "repro-wakeup");
  const demo = { type: "service", service: "DEMO_FN" };
  // Same shard for both functions; the slow one pins one invoker slot with a 60 s call.
  await putFunction(platform.url, acct.apiKey, "slow", {
    target: demo,
    isolation: "account",
    maxConcurrency: 1,
    timeoutMs: 120_000,
  });
  await putFunction(platform.url, acct.apiKey, "fast", { target: demo, isolation: "account" });
  await submitTask(platform.url, acct.apiKey, "slow", { sleepMs: 60_000 });
  await sleep(2_000);

  const t0 = Date.now();
  const ids = await runPool(100, 16, () => submitTask(platform.url, acct.apiKey, "fast", { echo: 1 }));
  let views = [];
  const deadline = Date.now() + 90_000;
  for (;;) {
    views = await runPool(ids.length, 8, (i) => getTask(platform.url, acct.apiKey, ids[i]));
    const done = views.filter((v) => TERMINAL_STATES.has(v.state)).length;
    console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${done}/${ids.length} no-op tasks finished`);
    if (done === ids.length || Date.now() > deadline) break;
    await sleep(3_000);
  }
  // A report that sat in the invoker: either the lease ran out (re-run), or the outcome reached the shard long after
  // the call itself had ended.
  const reportLagMs = (v) => {
    const last = v.attemptLog.at(-1);
    return last ? Date.parse(v.timeline.finishedAt) - (Date.parse(last.startedAt) + last.durationMs) : 0;
  };
  lost = views.filter((v) => v.attemptLog.some((a) => a.error?.kind === "lease_expired") || reportLagMs(v) > 5_000);
  for (const v of lost) {
    console.log(
      `task ${v.id}: finished ${Date.parse(v.timeline.finishedAt) - t0} ms after submit; outcome reached the shard ` +
        `${reportLagMs(v)} ms after the call ended; attemptLog ${JSON.stringify(v.attemptLog)}`,
    );
  }
  console.log(
    lost.length > 0 ? `BUG: ${lost.length} no-op task(s) whose outcome report sat in an invoker` : "no stuck reports",
  );
} finally {
  await platform.stop();
}
process.exit(lost.length > 0 ? 1 : 0);
