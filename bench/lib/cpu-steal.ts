import { readFileSync } from "node:fs";

/** The machine's CPU time so far, in clock ticks. */
export interface CpuTicks {
  readonly total: number;
  /** Idle and waiting for I/O. */
  readonly idle: number;
  readonly steal: number;
}

/** Shares of the machine's CPU time over an interval, in percent. */
export interface CpuShares {
  /**
   * Time the hypervisor gave to other guests while this one had work: on a shared virtual machine the
   * same run can lose a fifth of its CPU this way, and its figures move with it.
   */
  readonly stealPct: number;
  readonly idlePct: number;
}

/** The aggregate `cpu` line of /proc/stat: user nice system idle iowait irq softirq steal (guest in user). */
export const parseProcStat = (text: string): CpuTicks | undefined => {
  const line = text.split("\n", 1)[0]?.trim() ?? "";
  if (!line.startsWith("cpu ")) return undefined;
  const ticks = line.split(/\s+/).slice(1, 9).map(Number);
  if (ticks.length < 8 || ticks.some((n) => !Number.isFinite(n))) return undefined;
  const [, , , idle = 0, iowait = 0, , , steal = 0] = ticks;
  return { total: ticks.reduce((a, b) => a + b, 0), idle: idle + iowait, steal };
};

export const sharesBetween = (before: CpuTicks, after: CpuTicks): CpuShares | undefined => {
  const span = after.total - before.total;
  if (span <= 0) return undefined;
  return {
    stealPct: (100 * (after.steal - before.steal)) / span,
    idlePct: (100 * (after.idle - before.idle)) / span,
  };
};

const readTicks = (): CpuTicks | undefined => {
  try {
    return parseProcStat(readFileSync("/proc/stat", "utf8"));
  } catch {
    return undefined; // not Linux: nothing measured
  }
};

/** Starts measuring; `stop` gives the shares since, or undefined where they cannot be read. */
export const measureCpuShares = (): { stop(): CpuShares | undefined } => {
  const before = readTicks();
  return {
    stop: () => {
      const after = readTicks();
      return before && after ? sharesBetween(before, after) : undefined;
    },
  };
};
