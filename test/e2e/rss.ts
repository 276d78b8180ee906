/**
 * @module
 * Resident memory of the platform's workerd processes (Linux /proc only): the processes of a `wrangler dev` process
 * group whose comm or cmdline names workerd (wrangler runs two: its proxy and the one serving the Workers), summed.
 * Also finds the HTTP port of the workerd serving the Workers itself, so a test can bypass wrangler's proxy.
 */

import { readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";

const MB = 1024 * 1024;

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** Pids in process group `pgid` whose comm or cmdline contains "workerd". */
export function workerdPids(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = read(`/proc/${entry}/stat`);
    if (!stat) continue;
    // comm (field 2) may hold spaces and parentheses: the fields after the last ")" are state, ppid, pgrp, ...
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) !== pgid) continue;
    const comm = read(`/proc/${entry}/comm`) ?? "";
    const cmdline = (read(`/proc/${entry}/cmdline`) ?? "").replace(/\0/g, " ");
    if (comm.includes("workerd") || cmdline.includes("workerd")) pids.push(Number(entry));
  }
  return pids;
}

function statusKb(pid: number, field: "VmRSS" | "VmHWM"): number {
  const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, "m").exec(read(`/proc/${pid}/status`) ?? "");
  return match ? Number(match[1]) : 0;
}

/** Summed VmRSS of the given pids, in MB (MiB). */
export function rssMb(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + statusKb(pid, "VmRSS"), 0) / 1024;
}

/** Summed VmHWM (each process's own peak RSS since its last reset), in MB (MiB). */
export function hwmMb(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + statusKb(pid, "VmHWM"), 0) / 1024;
}

/** Reset each process's VmHWM to its current RSS (`echo 5 > clear_refs`); false when the kernel refused. */
export function resetHwm(pids: readonly number[]): boolean {
  let ok = pids.length > 0;
  for (const pid of pids) {
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, "5");
    } catch {
      ok = false;
    }
  }
  return ok;
}

export interface RssMeasurement<T> {
  readonly value: T;
  /** Summed VmRSS just before `run` started, MB. */
  readonly beforeMb: number;
  /** Largest summed VmRSS sampled (every `intervalMs`) while `run` ran, MB. */
  readonly peakMb: number;
  /** Summed VmRSS `settleMs` after `run` ended, MB. */
  readonly afterMb: number;
  /** peakMb - beforeMb. */
  readonly growthMb: number;
  /** Summed VmHWM after the run when the peaks could be reset before it (a cross-check that misses no spike), MB. */
  readonly hwmMb: number | undefined;
  readonly samples: number;
  readonly pids: readonly number[];
  /** Per process: VmRSS before, largest sampled, after (MB). */
  readonly perPid: readonly { pid: number; beforeMb: number; peakMb: number; afterMb: number }[];
  /** A workerd process came or went while measuring (wrangler reloads when a source file changes). */
  readonly restarted: boolean;
}

/** Run `run` while sampling the workerd processes of process group `pgid` (looked up again at every sample). */
export async function measureRss<T>(
  pgid: number,
  run: () => Promise<T>,
  { intervalMs = 20, settleMs = 300 }: { intervalMs?: number; settleMs?: number } = {},
): Promise<RssMeasurement<T>> {
  const initial = workerdPids(pgid);
  if (initial.length === 0) throw new Error(`no workerd process in process group ${pgid}`);
  const hwmReset = resetHwm(initial);
  const perPid = new Map<number, { pid: number; beforeMb: number; peakMb: number; afterMb: number }>();
  const sampleAll = (): number => {
    let sum = 0;
    const live = workerdPids(pgid);
    for (const pid of live) {
      const mb = rssMb([pid]);
      const entry = perPid.get(pid);
      if (entry) {
        entry.peakMb = Math.max(entry.peakMb, mb);
        entry.afterMb = mb;
      } else {
        perPid.set(pid, { pid, beforeMb: mb, peakMb: mb, afterMb: mb });
      }
      sum += mb;
    }
    for (const [pid, entry] of perPid) if (!live.includes(pid)) entry.afterMb = 0;
    return sum;
  };
  const beforeMb = sampleAll();
  let peakMb = beforeMb;
  let samples = 1;
  const sample = () => {
    peakMb = Math.max(peakMb, sampleAll());
    samples++;
  };
  const timer = setInterval(sample, intervalMs);
  let value: T;
  try {
    value = await run();
  } finally {
    clearInterval(timer);
  }
  sample();
  await new Promise((r) => setTimeout(r, settleMs));
  const afterMb = sampleAll();
  peakMb = Math.max(peakMb, afterMb);
  const pids = [...perPid.keys()];
  const final = workerdPids(pgid);
  const restarted = pids.length !== initial.length || pids.some((pid) => !final.includes(pid));
  return {
    value,
    beforeMb,
    peakMb,
    afterMb,
    growthMb: peakMb - beforeMb,
    hwmMb: hwmReset && !restarted ? hwmMb(final) : undefined,
    samples,
    pids,
    perPid: [...perPid.values()],
    restarted,
  };
}

/** One line for a test log: before / peak / after (growth), MB. */
export function describeRss(m: RssMeasurement<unknown>): string {
  const f = (n: number) => n.toFixed(1);
  const hwm = m.hwmMb === undefined ? "" : `, VmHWM ${f(m.hwmMb)}`;
  const each = m.perPid.map((p) => `${p.pid}: ${f(p.beforeMb)}/${f(p.peakMb)}/${f(p.afterMb)}`).join(", ");
  return `workerd RSS before ${f(m.beforeMb)} MB / peak ${f(m.peakMb)} MB / after ${f(m.afterMb)} MB (growth +${f(m.growthMb)} MB${hwm}; ${m.samples} samples${m.restarted ? "; WORKERD RESTARTED DURING THE MEASUREMENT" : ""}; per pid before/peak/after ${each})`;
}

// ---------------------------------------------------------------------------------------------------------------
// The user workerd's own listening port

/** A listening TCP socket a process holds. */
export interface ListeningSocket {
  readonly pid: number;
  /** The address to connect to: "127.0.0.1" style for IPv4 (and IPv4-mapped IPv6), "::1" style for IPv6. */
  readonly host: string;
  readonly port: number;
  readonly inode: number;
  readonly loopback: boolean;
}

/** Inodes of the sockets process `pid` has open (`/proc/<pid>/fd/* -> socket:[inode]`). */
function socketInodes(pid: number): Set<number> {
  const inodes = new Set<number>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(Number(match[1]));
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** The bytes of a /proc/net/tcp{,6} address: 32-bit words in host (little-endian) order, as hex. */
function addressBytes(hex: string): number[] {
  const bytes: number[] = [];
  for (let word = 0; word < hex.length; word += 8) {
    for (let i = 6; i >= 0; i -= 2) bytes.push(parseInt(hex.slice(word + i, word + i + 2), 16));
  }
  return bytes;
}

/** Listening sockets in /proc/<pid>/net/tcp and tcp6 (the process's network namespace), by inode. */
function listeningInNamespace(pid: number): Map<number, { host: string; port: number; loopback: boolean }> {
  const found = new Map<number, { host: string; port: number; loopback: boolean }>();
  for (const file of ["tcp", "tcp6"]) {
    const lines = (read(`/proc/${pid}/net/${file}`) ?? "").split("\n").slice(1);
    for (const line of lines) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== "0A") continue; // 0A = TCP_LISTEN
      const [addressHex, portHex] = fields[1]!.split(":");
      const inode = Number(fields[9]);
      if (!addressHex || !portHex || !inode) continue;
      const bytes = addressBytes(addressHex);
      let host: string;
      let loopback: boolean;
      if (bytes.length === 4) {
        host = bytes.join(".");
        loopback = bytes[0] === 127;
      } else {
        const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
        if (mapped) {
          host = bytes.slice(12).join(".");
          loopback = bytes[12] === 127;
        } else {
          const groups: string[] = [];
          for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
          host = groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::");
          loopback = bytes.slice(0, 15).every((b) => b === 0) && bytes[15] === 1;
        }
      }
      found.set(inode, { host, port: parseInt(portHex, 16), loopback });
    }
  }
  return found;
}

/** The listening TCP sockets (IPv4 and IPv6) held by process `pid`. */
export function listeningSockets(pid: number): ListeningSocket[] {
  const inodes = socketInodes(pid);
  const sockets: ListeningSocket[] = [];
  for (const [inode, socket] of listeningInNamespace(pid))
    if (inodes.has(inode)) sockets.push({ pid, inode, ...socket });
  return sockets.sort((a, b) => a.port - b.port);
}

/** `GET /` on host:port: the status and up to 4 kB of the answer, or undefined (refused, closed, not HTTP, too slow). */
function probeRoot(
  host: string,
  port: number,
  timeoutMs: number,
): Promise<{ status: number; text: string } | undefined> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (value: { status: number; text: string } | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    const req = httpRequest({
      host,
      port,
      method: "GET",
      path: "/",
      agent: false,
      headers: { accept: "application/json" },
    });
    req.on("response", (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        if (text.length < 4_096) text += chunk;
      });
      res.on("end", () => finish({ status: res.statusCode ?? 0, text }));
      res.on("error", () => finish(undefined));
    });
    req.on("error", () => finish(undefined));
    req.end();
  });
}

export interface UserWorkerdEndpoint {
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  /** What was looked at, for a log line. */
  readonly describe: string;
}

/**
 * The HTTP socket of the workerd that serves the Workers of a `wrangler dev` process group (wrangler's own proxy
 * workerd in front of it owns the public port): among the loopback listening sockets of the group's workerd processes,
 * leaving out the public port, the inspector port and every socket of the process that holds the public port, the one
 * whose `GET /` answers 200 with Sluice's JSON (`{"name":"sluice",...}`). Looked up afresh on each call: wrangler
 * restarts that workerd on new ports when it reloads. Throws when there is no such socket.
 */
export async function findUserWorkerd(
  platform: { readonly pid: number; readonly port: number; readonly inspectorPort?: number },
  { timeoutMs = 2_000 }: { timeoutMs?: number } = {},
): Promise<UserWorkerdEndpoint> {
  const byPid = workerdPids(platform.pid).map((pid) => ({ pid, sockets: listeningSockets(pid) }));
  const proxyPids = new Set(byPid.filter((p) => p.sockets.some((s) => s.port === platform.port)).map((p) => p.pid));
  const excluded = new Set([platform.port, ...(platform.inspectorPort ? [platform.inspectorPort] : [])]);
  const candidates = byPid
    .filter((p) => !proxyPids.has(p.pid))
    .flatMap((p) => p.sockets)
    .filter((s) => s.loopback && !excluded.has(s.port));
  const probed = await Promise.all(
    candidates.map(async (socket) => ({ socket, answer: await probeRoot(socket.host, socket.port, timeoutMs) })),
  );
  const isSluice = (answer: { status: number; text: string } | undefined) => {
    if (answer?.status !== 200) return false;
    try {
      return (JSON.parse(answer.text) as { name?: unknown } | null)?.name === "sluice";
    } catch {
      return false;
    }
  };
  const describe =
    `workerd pids ${byPid.map((p) => `${p.pid}${proxyPids.has(p.pid) ? " (proxy)" : ""}: ${p.sockets.map((s) => `${s.host}:${s.port}`).join(" ")}`).join("; ")}; ` +
    `GET / ${probed.map(({ socket, answer }) => `${socket.port} -> ${answer ? `${answer.status}${isSluice(answer) ? " sluice" : ""}` : "no HTTP answer"}`).join(", ")}`;
  const found = probed.filter(({ answer }) => isSluice(answer)).map(({ socket }) => socket);
  if (proxyPids.size === 0 || found.length === 0) {
    throw new Error(
      `no user workerd HTTP socket found for process group ${platform.pid} (public port ${platform.port}): ${describe}`,
    );
  }
  const chosen = found[0]!;
  return { host: chosen.host, port: chosen.port, pid: chosen.pid, describe };
}

export { MB };
