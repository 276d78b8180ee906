/**
 * @module
 * Resident memory of the platform's workerd processes (Linux /proc only): the processes of a `wrangler dev` process
 * group whose comm or cmdline names workerd (wrangler runs two: its proxy and the one serving the Workers), summed.
 */

import { readdirSync, readFileSync, writeFileSync } from "node:fs";

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

export { MB };
