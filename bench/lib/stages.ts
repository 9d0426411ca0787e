/**
 * Where a command's time goes during a load run: the server's write-stage histograms
 * (`eventfold_write_stage_seconds`) and its threads' CPU time, read before and after the run.
 */
import { readdirSync, readFileSync } from "node:fs";
import { measureCpuShares } from "./cpu-steal.ts";
import { metricsOf } from "./sampler.ts";

/** A stage over one run: how many commands passed it, their mean and 99th percentile, in ms. */
export interface StageFigures {
  readonly count: number;
  readonly meanMs: number;
  /** The upper bound of the bucket holding the 99th percentile (null past the last bound). */
  readonly p99Ms: number | null;
}

export interface StageBreakdown {
  /** By stage, in the order a command passes them. */
  readonly stages: Record<string, StageFigures>;
  /** Mean time from request to answer (the command histogram), to set the stages against. */
  readonly totalMeanMs: number;
  /** CPU seconds per second of the run, per thread of the server (named as the kernel names them). */
  readonly threadCpu: Record<string, number>;
  /** The machine's busy share over the run, in percent (100 - idle). */
  readonly machineBusyPct?: number;
}

interface Histogram {
  /** le (ms) → cumulative count, by stage. */
  readonly buckets: Map<string, Map<number, number>>;
  readonly sums: Map<string, number>;
  readonly counts: Map<string, number>;
}

const stageHistogram = "eventfold_write_stage_seconds";

const parseStages = (text: string): Histogram => {
  const h: Histogram = { buckets: new Map(), sums: new Map(), counts: new Map() };
  const line = new RegExp(`^${stageHistogram}_(bucket|sum|count)\\{([^}]*)\\} (\\S+)$`);
  for (const row of text.split("\n")) {
    const m = line.exec(row);
    if (!m) continue;
    const [, part, labelText = "", value = "0"] = m;
    const labels = Object.fromEntries([...labelText.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    const stage = labels.stage ?? "";
    if (part === "sum") h.sums.set(stage, Number(value) * 1000);
    else if (part === "count") h.counts.set(stage, Number(value));
    else {
      const le = labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(labels.le) * 1000;
      const byLe = h.buckets.get(stage) ?? new Map<number, number>();
      byLe.set(le, Number(value));
      h.buckets.set(stage, byLe);
    }
  }
  return h;
};

/** `_sum` and `_count` of one histogram family, summed over its label sets. */
const sumAndCount = (text: string, name: string) => {
  let sum = 0;
  let count = 0;
  for (const row of text.split("\n")) {
    if (row.startsWith(`${name}_sum`)) sum += Number(row.split(" ").at(-1));
    if (row.startsWith(`${name}_count`)) count += Number(row.split(" ").at(-1));
  }
  return { sum, count };
};

/** CPU ticks per thread name of a process (threads of one name added up). */
export const threadTicks = (pid: number): Map<string, number> => {
  const ticks = new Map<string, number>();
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return ticks; // not Linux, or the process is gone
  }
  for (const tid of tasks) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      // The name is in parentheses and may hold spaces; the fields after it are space-separated.
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
      const used = Number(fields[11]) + Number(fields[12]);
      ticks.set(name, (ticks.get(name) ?? 0) + used);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return ticks;
};

/** Clock ticks per second, as /proc counts them (USER_HZ is 100 on every Linux that matters here). */
export const ticksPerSecond = 100;

const p99Of = (before: Map<number, number> | undefined, after: Map<number, number>): number | null => {
  const les = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Number.POSITIVE_INFINITY) ?? 0) - (before?.get(Number.POSITIVE_INFINITY) ?? 0);
  if (total <= 0) return null;
  for (const le of les) {
    const below = (after.get(le) ?? 0) - (before?.get(le) ?? 0);
    if (below >= total * 0.99) return Number.isFinite(le) ? le : null;
  }
  return null;
};

/** Starts observing a server; `stop` gives the breakdown since. */
export const observeStages = async (url: string, pid: number) => {
  const before = await metricsOf(url);
  const ticksBefore = threadTicks(pid);
  const cpu = measureCpuShares();
  const started = performance.now();
  return {
    stop: async (): Promise<StageBreakdown> => {
      const seconds = (performance.now() - started) / 1000;
      const shares = cpu.stop();
      const ticksAfter = threadTicks(pid);
      const after = await metricsOf(url);
      const [h0, h1] = [parseStages(before), parseStages(after)];
      const stages: Record<string, StageFigures> = {};
      for (const [stage, count] of h1.counts) {
        const n = count - (h0.counts.get(stage) ?? 0);
        const sum = (h1.sums.get(stage) ?? 0) - (h0.sums.get(stage) ?? 0);
        stages[stage] = {
          count: n,
          meanMs: n > 0 ? sum / n : 0,
          p99Ms: p99Of(h0.buckets.get(stage), h1.buckets.get(stage) ?? new Map()),
        };
      }
      const [t0, t1] = [
        sumAndCount(before, "eventfold_command_duration_seconds"),
        sumAndCount(after, "eventfold_command_duration_seconds"),
      ];
      const commands = t1.count - t0.count;
      const threadCpu: Record<string, number> = {};
      for (const [name, used] of ticksAfter) {
        const share = (used - (ticksBefore.get(name) ?? 0)) / ticksPerSecond / seconds;
        if (share >= 0.005) threadCpu[name] = Math.round(share * 100) / 100;
      }
      return {
        stages,
        totalMeanMs: commands > 0 ? ((t1.sum - t0.sum) * 1000) / commands : 0,
        threadCpu,
        ...(shares ? { machineBusyPct: Math.round((100 - shares.idlePct) * 10) / 10 } : {}),
      };
    },
  };
};

/** The breakdown as lines of text, for the progress log and the report. */
export const describeStages = (b: StageBreakdown): string[] => {
  const ms = (v: number | null) => (v === null ? "-" : v < 1 ? v.toFixed(3) : v.toFixed(2));
  const rows = Object.entries(b.stages).map(
    ([stage, f]) => `${stage.padEnd(8)} mean ${ms(f.meanMs).padStart(7)} ms  p99 ≤ ${ms(f.p99Ms)} ms`,
  );
  const staged = Object.values(b.stages).reduce((a, f) => a + f.meanMs, 0);
  const threads = Object.entries(b.threadCpu)
    .sort((a, c) => c[1] - a[1])
    .map(([name, share]) => `${name} ${share.toFixed(2)}`)
    .join(", ");
  return [
    ...rows,
    `total    mean ${ms(b.totalMeanMs).padStart(7)} ms (stages add up to ${ms(staged)} ms)`,
    `CPU per thread (cores): ${threads}; machine ${b.machineBusyPct ?? "?"}% busy`,
  ];
};
