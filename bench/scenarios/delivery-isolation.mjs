/**
 * @module
 * B8 (delivery isolation): the quiet tenant's finished → delivered p99 (timeline `deliveredAt − finishedAt`) for tasks
 * whose onSuccess webhook goes to a fast local receiver, first alone, then while another account has a few hundred
 * deliveries to a receiver that accepts the connection and never answers.
 *
 * The platform runs with `DELIVERY_TIMEOUT_MS` shortened (HANG_TIMEOUT_MS below; the default is 10 s) so that a hung
 * delivery attempt gives up within the run; whatever the hanging deliveries cost the quiet tenant scales with it.
 * Each round runs on a fresh platform: the quiet tenant alone, then the hanging deliveries, then the quiet tenant again.
 * A quiet delivery still missing after the wait counts with the time it waited. The hanging receiver's sockets are
 * destroyed after every round and at the end.
 */

import { createServer as createHttpServer } from "node:http";
import { createServer as createTcpServer } from "node:net";
import { putFunction, runPool, startPlatform, submitTask } from "../lib.mjs";
import { accountingText, collect, PAYLOAD, percentile, span, spread, spreadText, tally, tenant } from "../measure.mjs";

/** The platform's DELIVERY_TIMEOUT_MS for this benchmark. */
const HANG_TIMEOUT_MS = 1_000;

const demo = { type: "service", service: "DEMO_FN" };
const listen = (server) =>
  new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port)));

/** A receiver that answers 204 at once, counting requests and distinct `webhook-id`s (duplicates are allowed). */
async function fastReceiver() {
  let requests = 0;
  const ids = new Set();
  const server = createHttpServer((req, res) => {
    req.resume();
    req.on("end", () => {
      requests++;
      ids.add(req.headers["webhook-id"]);
      res.writeHead(204).end();
    });
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests: () => requests,
    distinct: () => ids.size,
    close: () => server.close(),
  };
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
    dropAll: () => {
      for (const socket of sockets) socket.destroy();
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

/** Submit `count` no-op tasks one by one (8 at a time); ids in order, null for a failed submit. */
const submitMany = (platform, apiKey, fn, count) =>
  runPool(count, 8, () => submitTask(platform.url, apiKey, fn, JSON.parse(PAYLOAD)).catch(() => null));

/** One round on a fresh platform: the quiet tenant alone, then behind `size.hang` hanging deliveries. */
async function round(r, { size, vars, fast, hang, log }) {
  const platform = await startPlatform(vars);
  try {
    const quiet = await tenant(platform, "b8-quiet");
    const noisy = await tenant(platform, "b8-hang");
    await putFunction(platform.url, quiet.apiKey, "notify", {
      target: demo,
      isolation: "shared",
      destinations: { onSuccess: { type: "webhook", url: fast.url } },
    });
    await putFunction(platform.url, noisy.apiKey, "hang", {
      target: demo,
      isolation: "shared",
      destinations: { onSuccess: { type: "webhook", url: hang.url } },
    });
    const quietRound = async (label) => {
      const ids = await submitMany(platform, quiet.apiKey, "notify", size.quiet);
      const done = await collect(platform.url, quiet.apiKey, "notify", ids, {
        timeoutMs: size.waitMs,
        done: (t) => Boolean(t.timeline.deliveredAt),
      });
      // A delivery still missing when the wait ran out counts with the time it had waited (a lower bound).
      const lags = done.tasks.map((t) =>
        t.timeline.deliveredAt ? span(t, "finishedAt", "deliveredAt") : Date.now() - Date.parse(t.timeline.finishedAt),
      );
      const delivered = done.tasks.filter((t) => t.timeline.deliveredAt).length;
      log(`B8 round ${r} ${label}: delivered ${delivered}/${size.quiet}, p99 ${percentile(lags, 99)} ms`);
      return {
        p99: percentile(lags, 99),
        p50: percentile(lags, 50),
        max: Math.max(...lags),
        delivered,
        done: tally(done),
      };
    };
    const alone = await quietRound("alone");
    log(`B8 round ${r}: ${size.hang} tasks of another account delivering to a receiver that never answers`);
    const hangIds = await submitMany(platform, noisy.apiKey, "hang", size.hang);
    const hangDone = await collect(platform.url, noisy.apiKey, "hang", hangIds, { timeoutMs: 120_000 });
    const before = hang.connections();
    const loaded = await quietRound("with hanging deliveries");
    return { alone, loaded: { ...loaded, hangDone: tally(hangDone), hangConnections: hang.connections() - before } };
  } catch (error) {
    console.error(platform.logs().slice(-5_000));
    throw error;
  } finally {
    await platform.stop();
    hang.dropAll();
  }
}

/**
 * Each round runs on a fresh platform (a second batch of hanging deliveries on the same one would meet the first
 * batch's retries, and the rounds would not be comparable).
 * @param {{quick: boolean, rounds: number, extraVars: Record<string,string>, log: Function}} ctx
 * @returns {Promise<{rows: object[], notes: string[]}>}
 */
export async function runDeliveryIsolation({ quick, rounds, extraVars, log }) {
  const size = quick ? { quiet: 20, hang: 60, waitMs: 60_000 } : { quiet: 50, hang: 200, waitMs: 180_000 };
  const fast = await fastReceiver();
  const hang = await hangingReceiver();
  const vars = { ...extraVars, SHARED_SHARDS: "1", DELIVERY_TIMEOUT_MS: String(HANG_TIMEOUT_MS) };
  log(`B8: ${rounds} rounds, each on a fresh platform with ${JSON.stringify(vars)}`);
  const started = Date.now();
  try {
    const rs = [];
    for (let r = 1; r <= rounds; r++) rs.push(await round(r, { size, vars, fast, hang, log }));
    const measured = spread(rs.map((r) => r.loaded.p99));
    const baseline = spread(rs.map((r) => r.alone.p99));
    const ratio = measured.median / baseline.median;
    const undelivered = rs.reduce((n, r) => n + size.quiet - r.loaded.delivered, 0);
    const rows = [
      {
        id: "B8",
        what: `delivery isolation: quiet tenant's finished -> delivered p99 for ${size.quiet} webhook deliveries to a fast local receiver, while another account has ${size.hang} to a receiver that accepts and never answers (DELIVERY_TIMEOUT_MS=${HANG_TIMEOUT_MS})`,
        measured: measured.median,
        unit: "ms",
        baseline: baseline.median,
        ratio,
        target: "<= 2",
        pass: ratio <= 2 && undelivered === 0,
        spread: { measured, baseline },
        details: { rounds: rs, deliveryTimeoutMs: HANG_TIMEOUT_MS },
      },
    ];
    const notes = [
      `B8: quiet p99 ms with hanging deliveries ${spreadText(measured)} (p50 ${rs.map((r) => r.loaded.p50).join(", ")}), alone ${spreadText(baseline)} (p50 ${rs.map((r) => r.alone.p50).join(", ")}); quiet delivered alone ${rs.map((r) => `${r.alone.delivered}/${size.quiet}`).join(", ")}, with hanging deliveries ${rs.map((r) => `${r.loaded.delivered}/${size.quiet}`).join(", ")}${undelivered ? ` ⚠ ${undelivered} not delivered within ${size.waitMs / 1000} s (counted with the time waited)` : ""}; connections the hanging receiver got while the quiet tenant waited ${rs.map((r) => r.loaded.hangConnections).join(", ")}; fast receiver: ${fast.requests()} requests for ${fast.distinct()} distinct webhook-ids (${size.quiet * 2 * rounds} deliveries expected); DELIVERY_TIMEOUT_MS=${HANG_TIMEOUT_MS} (default 10,000); ${rs.map((r, i) => `round ${i + 1}: ${accountingText("quiet alone", r.alone.done)}, ${accountingText("quiet loaded", r.loaded.done)}, ${accountingText("hang", r.loaded.hangDone)}`).join("; ")}; ${((Date.now() - started) / 1000).toFixed(0)} s in all`,
    ];
    return { rows, notes };
  } finally {
    hang.close();
    fast.close();
  }
}
