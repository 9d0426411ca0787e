/** Runs wrk (C, epoll, keep-alive connections) with the scenario script and reads its summary. */
import { type CpuShares, measureCpuShares } from "./cpu-steal.ts";

const script = new URL("../wrk/eventfold.lua", import.meta.url).pathname;

export interface WrkResult {
  readonly requests: number;
  readonly durationUs: number;
  readonly errors: {
    readonly connect: number;
    readonly read: number;
    readonly write: number;
    /** Answers with a status of 400 or more. */
    readonly status: number;
    readonly timeout: number;
  };
  readonly latencyUs: {
    readonly p50: number;
    readonly p90: number;
    readonly p99: number;
    readonly p999: number;
    readonly max: number;
    readonly mean: number;
  };
  /** The machine's CPU over the run (measured here, not by wrk); undefined off Linux. */
  readonly cpu?: CpuShares;
}

export interface WrkRun {
  readonly url: string;
  readonly scenario:
    | "open"
    | "fund"
    | "refusals"
    | "soak"
    | "deposits"
    | "hotspot"
    | "transfers"
    | "mixed"
    | "references";
  readonly accounts: number;
  readonly prefix: string;
  readonly seconds: number;
  readonly connections: number;
  /** Pause before each request on each connection, fractions dithered; 0 runs flat out (saturation). */
  readonly delayMs?: number;
  /** Polled twice a second; once true, wrk is stopped (seeding runs have work, not time, to do). */
  readonly stopWhen?: () => Promise<boolean>;
  /** The soak: a name for this run in its correlation ids, and where it writes the acknowledged ones. */
  readonly acks?: { readonly runId: string; readonly dir: string };
}

export const wrkAvailable = (): boolean => Bun.which("wrk") !== null;

export const runWrk = async (run: WrkRun): Promise<WrkResult> => {
  const threads = Math.min(2, run.connections);
  const cpu = measureCpuShares();
  const proc = Bun.spawn(
    [
      "wrk",
      `-t${threads}`,
      `-c${run.connections}`,
      `-d${run.seconds}s`,
      "--timeout",
      "10s",
      "--latency",
      "-s",
      script,
      run.url,
      "--",
      run.scenario,
      String(run.accounts),
      run.prefix,
      String(run.delayMs ?? 0),
      String(threads),
      ...(run.acks ? [run.acks.runId, run.acks.dir] : []),
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  const { stopWhen } = run;
  if (stopWhen) {
    void (async () => {
      while (proc.exitCode === null) {
        await Bun.sleep(500);
        if (await stopWhen().catch(() => false)) {
          // wrk prints its summary (and the script's done()) on SIGINT.
          proc.kill("SIGINT");
          return;
        }
      }
    })();
  }
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  const line = out.split("\n").find((l) => l.startsWith("WRK_RESULT "));
  if (code !== 0 || !line) throw new Error(`wrk failed (${code}): ${err || out}`);
  const summary = JSON.parse(line.slice("WRK_RESULT ".length)) as Omit<WrkResult, "cpu">;
  return { ...summary, cpu: cpu.stop() };
};

export const throughput = (r: WrkResult): number => r.requests / (r.durationUs / 1e6);

/**
 * The pause that has `connections` paced connections send `targetRps` together. A connection's cycle is
 * its pause plus what a request costs it (the latency, and wrk's own timer slack), so a pause computed
 * from the target alone undershoots it: a probe run at a known pause measures that cost, and the pause
 * is shortened by it.
 */
export const pacedDelayMs = (
  connections: number,
  targetRps: number,
  probe?: { readonly delayMs: number; readonly rps: number },
): number => {
  const cycleMs = (connections * 1000) / Math.max(1, targetRps);
  const costMs = probe ? (connections * 1000) / Math.max(1, probe.rps) - probe.delayMs : 0;
  return Math.max(0, cycleMs - Math.max(0, costMs));
};
export const failures = (r: WrkResult): number =>
  r.errors.connect + r.errors.read + r.errors.write + r.errors.status + r.errors.timeout;
