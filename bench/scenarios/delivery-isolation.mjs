/**
 * @module
 * B8 (delivery isolation): the quiet tenant's finished → delivered p99 (timeline `deliveredAt − finishedAt`) for tasks
 * whose onSuccess webhook goes to a fast local receiver, first alone, then while another account has a few hundred
 * deliveries to a receiver that accepts the connection and never answers.
 *
 * The platform runs with `DELIVERY_TIMEOUT_MS` shortened (HANG_TIMEOUT_MS below; the default is 10 s) so that a hung
 * delivery attempt gives up within the run; whatever the hanging deliveries cost the quiet tenant scales with it.
 * Each noisy round adds a fresh batch of hanging deliveries (earlier ones are by then waiting out their retry backoff,
 * 5 s and 30 s, and come back). The hanging receiver's sockets are destroyed at the end.
 */

import { createServer as createHttpServer } from "node:http";
import { createServer as createTcpServer } from "node:net";
import { putFunction, runPool, startPlatform, submitTask } from "../lib.mjs";
import {
  accountingText,
  collect,
  functionStats,
  PAYLOAD,
  percentile,
  span,
  spread,
  spreadText,
  tally,
  tenant,
} from "../measure.mjs";

/** The platform's DELIVERY_TIMEOUT_MS for this benchmark. */
const HANG_TIMEOUT_MS = 1_000;

const demo = { type: "service", service: "DEMO_FN" };
const listen = (server) =>
  new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port)));

/** A receiver that answers 204 at once, counting what it got. */
async function fastReceiver() {
  let received = 0;
  const server = createHttpServer((req, res) => {
    req.resume();
    req.on("end", () => {
      received++;
      res.writeHead(204).end();
    });
  });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}/hook`, received: () => received, close: () => server.close() };
}

/** A receiver that accepts every connection, reads what arrives and never answers. */
async function hangingReceiver() {
  const sockets = new Set();
  let connections = 0;
  const server = createTcpServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on("data", () => {});
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}/hook`,
    connections: () => connections,
    open: () => sockets.size,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

/** Submit `count` no-op tasks one by one (8 at a time); ids in order, null for a failed submit. */
const submitMany = (platform, apiKey, fn, count) =>
  runPool(count, 8, () => submitTask(platform.url, apiKey, fn, JSON.parse(PAYLOAD)).catch(() => null));

const lagOf = (tasks) => tasks.map((t) => span(t, "finishedAt", "deliveredAt")).filter(Number.isFinite);

/**
 * @param {{quick: boolean, rounds: number, extraVars: Record<string,string>, log: Function}} ctx
 * @returns {Promise<{rows: object[], notes: string[]}>}
 */
export async function runDeliveryIsolation({ quick, rounds, extraVars, log }) {
  const size = quick ? { quiet: 20, hang: 60 } : { quiet: 50, hang: 200 };
  const fast = await fastReceiver();
  const hang = await hangingReceiver();
  const vars = { ...extraVars, SHARED_SHARDS: "1", DELIVERY_TIMEOUT_MS: String(HANG_TIMEOUT_MS) };
  log(`B8: starting the platform with ${JSON.stringify(vars)}`);
  const platform = await startPlatform(vars);
  const started = Date.now();
  try {
    const quiet = await tenant(platform, "b8-quiet");
    const noisy = await tenant(platform, "b8-hang");
    await putFunction(platform.url, quiet.apiKey, "notify", {
      target: demo,
      isolation: "shared",
      destinations: { onSuccess: { type: "webhook", url: fast.url } },
    });
    // Each noisy round has its own function, so its 200 tasks can be counted apart.
    const quietRound = async (label) => {
      const ids = await submitMany(platform, quiet.apiKey, "notify", size.quiet);
      const done = await collect(platform.url, quiet.apiKey, "notify", ids, {
        timeoutMs: 600_000,
        done: (t) => Boolean(t.timeline.deliveredAt),
      });
      const lags = lagOf(done.tasks);
      log(`B8 ${label}: delivered ${lags.length}/${size.quiet}, p99 ${percentile(lags, 99)} ms`);
      return {
        p99: percentile(lags, 99),
        p50: percentile(lags, 50),
        max: Math.max(...lags),
        delivered: lags.length,
        done: tally(done),
      };
    };

    const alone = [];
    for (let r = 1; r <= rounds; r++) alone.push(await quietRound(`alone round ${r}`));

    const loaded = [];
    for (let r = 1; r <= rounds; r++) {
      const fn = `hang-${r}`;
      await putFunction(platform.url, noisy.apiKey, fn, {
        target: demo,
        isolation: "shared",
        destinations: { onSuccess: { type: "webhook", url: hang.url } },
      });
      log(`B8 round ${r}: ${size.hang} tasks of another account delivering to a receiver that never answers`);
      const hangIds = await submitMany(platform, noisy.apiKey, fn, size.hang);
      const hangDone = await collect(platform.url, noisy.apiKey, fn, hangIds, { timeoutMs: 120_000 });
      const before = hang.connections();
      const m = await quietRound(`round ${r} with hanging deliveries`);
      const stats = await functionStats(platform.url, noisy.apiKey, fn);
      loaded.push({
        ...m,
        hangDone: tally(hangDone),
        hangConnectionsDuring: hang.connections() - before,
        hangCounts: stats.counts,
      });
    }

    const measured = spread(loaded.map((r) => r.p99));
    const baseline = spread(alone.map((r) => r.p99));
    const ratio = measured.median / baseline.median;
    const rows = [
      {
        id: "B8",
        what: `delivery isolation: quiet tenant's finished -> delivered p99 for ${size.quiet} webhook deliveries to a fast local receiver, while another account has ${size.hang} (more each round) to a receiver that accepts and never answers (DELIVERY_TIMEOUT_MS=${HANG_TIMEOUT_MS})`,
        measured: measured.median,
        unit: "ms",
        baseline: baseline.median,
        ratio,
        target: "<= 2",
        pass: ratio <= 2,
        spread: { measured, baseline },
        details: { alone, loaded, deliveryTimeoutMs: HANG_TIMEOUT_MS },
      },
    ];
    const notes = [
      `B8: quiet p99 ms with hanging deliveries ${spreadText(measured)} (p50 ${loaded.map((r) => r.p50).join(", ")}, max ${loaded.map((r) => r.max).join(", ")}), alone ${spreadText(baseline)} (p50 ${alone.map((r) => r.p50).join(", ")}); delivered quiet ${[...alone, ...loaded].map((r) => `${r.delivered}/${size.quiet}`).join(", ")}; connections the hanging receiver got while each quiet round waited ${loaded.map((r) => r.hangConnectionsDuring).join(", ")} (${hang.open()} still open at the end; fast receiver got ${fast.received()} requests); DELIVERY_TIMEOUT_MS=${HANG_TIMEOUT_MS}; ${[...alone.map((r, i) => accountingText(`quiet alone ${i + 1}`, r.done)), ...loaded.map((r, i) => `${accountingText(`quiet loaded ${i + 1}`, r.done)}, ${accountingText(`hang ${i + 1}`, r.hangDone)}`)].join(", ")}; ${((Date.now() - started) / 1000).toFixed(0)} s in all`,
    ];
    return { rows, notes };
  } catch (error) {
    console.error(platform.logs().slice(-5_000));
    throw error;
  } finally {
    await platform.stop();
    hang.close();
    fast.close();
  }
}
