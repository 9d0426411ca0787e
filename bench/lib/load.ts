/** The load runs: saturation, then paced at half of it, and the figures each yields. */

import { progressBar } from "../../src/cli/progress.ts";
import type { Bench } from "./context.ts";
import { pct } from "./report.ts";
import type { LagResult, LoadFigures, LoadScenarioName, ScenarioResult } from "./results.ts";
import { counterTotal, metricsOf, type RateSeries, sampleRate } from "./sampler.ts";
import { seedAccounts } from "./seed.ts";
import { type Mode, type RunningServer, startEventfold } from "./servers.ts";
import { describeStages, observeStages } from "./stages.ts";
import { failures, pacedDelayMs, runWrk, throughput, type WrkResult, type WrkRun } from "./wrk.ts";

/** The accounts scenarios 1-4 spread their load over: `a-0` … `a-<accounts - 1>`. */
export const loadAccountPrefix = "a-";

/** One mode's eventfold, already seeded, which each load scenario runs against in turn. */
export interface LoadTarget {
  readonly mode: Mode;
  readonly server: RunningServer;
  /** The ceiling's throughput at saturation, unrounded: every ratio is taken against it. */
  readonly ceilingRps: number;
}

/** Something measured beside a load scenario's 50% run: started as that run starts, stopped when it ends. */
export interface Beside<T> {
  stop(): Promise<T>;
}

export interface LoadScenario {
  readonly name: LoadScenarioName;
  /** Scenario 5 (projection lag) measures during one load scenario's 50% run. */
  readonly during?: (target: LoadTarget) => Beside<LagResult>;
}

export const figures = (r: WrkResult): LoadFigures => ({
  rps: Math.round(throughput(r)),
  requests: r.requests,
  failures: failures(r),
  latencyMs: { p50: r.latencyUs.p50 / 1000, p99: r.latencyUs.p99 / 1000, p999: r.latencyUs.p999 / 1000 },
  ...(r.cpu ? { stealPct: Math.round(r.cpu.stealPct * 10) / 10 } : {}),
});

export const stolen = (f: LoadFigures): string => pct(f.stealPct);

/** Something observed over each of the two runs: started as a run starts, stopped as it ends. */
export type Observe<O> = () => Promise<{ stop(): Promise<O> }>;

/** Saturation with `connections`, then paced at half that throughput, each sampled once a second. */
export const measure = async <T, O = undefined>(
  { plan, log }: Bench,
  label: string,
  base: Omit<WrkRun, "seconds" | "connections" | "delayMs">,
  count: () => Promise<number>,
  during?: () => Beside<T>,
  observe?: Observe<O>,
): Promise<{
  saturation: WrkResult;
  atHalf: WrkResult;
  /** The pause of the 50% run's paced connections. */
  delayMs: number;
  series: RateSeries;
  beside: T | undefined;
  observed: { saturation: O; atHalf: O } | undefined;
}> => {
  log(`  ${label}: saturation, ${plan.connections} connections, ${plan.seconds}s`);
  const sampler = sampleRate(label, count);
  const observingSaturation = await observe?.();
  const saturation = await runWrk({ ...base, seconds: plan.seconds, connections: plan.connections });
  const observedSaturation = await observingSaturation?.stop();
  const series = await sampler.stop();
  const target = throughput(saturation) / 2;
  const delayMs = await calibratePace({ plan, log }, label, base, target);
  log(
    `  ${label}: at 50% (${Math.round(target)} req/s target), ${plan.pacedConnections} paced connections, ${delayMs.toFixed(1)} ms apart`,
  );
  const side = during?.();
  const observingHalf = await observe?.();
  const atHalf = await runWrk({
    ...base,
    seconds: plan.seconds,
    connections: plan.pacedConnections,
    delayMs,
  });
  const observedHalf = await observingHalf?.stop();
  const beside = await side?.stop();
  const observed = observe && { saturation: observedSaturation as O, atHalf: observedHalf as O };
  return { saturation, atHalf, delayMs, series, beside, observed };
};

/**
 * The pause that has `plan.pacedConnections` connections send `targetRps` together: computed, then
 * corrected by two probe runs of `plan.calibrationSeconds` (see {@link pacedDelayMs}).
 */
export const calibratePace = async (
  { plan, log }: Pick<Bench, "plan" | "log">,
  label: string,
  base: Omit<WrkRun, "seconds" | "connections" | "delayMs">,
  targetRps: number,
): Promise<number> => {
  const paced = { ...base, seconds: plan.calibrationSeconds, connections: plan.pacedConnections };
  let delayMs = pacedDelayMs(plan.pacedConnections, targetRps);
  for (const step of [1, 2]) {
    const probe = await runWrk({ ...paced, delayMs });
    log(
      `  ${label}: calibrating the pace (${step}/2): ${Math.round(throughput(probe))} of ${Math.round(targetRps)} req/s`,
    );
    delayMs = pacedDelayMs(plan.pacedConnections, targetRps, { delayMs, rps: throughput(probe) });
  }
  return delayMs;
};

/** One load scenario against one mode's server: its figures, and what was measured beside it. */
export const runLoadScenario = async (
  bench: Bench,
  target: LoadTarget,
  scenario: LoadScenario,
): Promise<{ result: ScenarioResult; lag: LagResult | undefined; delayMs: number }> => {
  const { mode, server, ceilingRps } = target;
  const { during } = scenario;
  const requestsServed = async () =>
    counterTotal(await metricsOf(server.url), "eventfold_http_requests_total");
  const run = await measure(
    bench,
    `${mode} ${scenario.name}`,
    { url: server.url, scenario: scenario.name, accounts: bench.plan.accounts, prefix: loadAccountPrefix },
    requestsServed,
    during && (() => during(target)),
    () => observeStages(server.url, server.pid),
  );
  const result: ScenarioResult = {
    mode,
    scenario: scenario.name,
    saturation: figures(run.saturation),
    atHalf: figures(run.atHalf),
    ratioToCeiling: throughput(run.saturation) / ceilingRps,
    series: run.series,
    ...(run.observed ? { stages: run.observed } : {}),
  };
  bench.log(
    `  ${scenario.name}: ${result.saturation.rps} req/s (${result.ratioToCeiling.toFixed(2)}× ceiling), ` +
      `p99 at 50% ${result.atHalf.latencyMs.p99.toFixed(1)} ms, failures ${result.saturation.failures + result.atHalf.failures}, ` +
      `CPU stolen ${stolen(result.saturation)} / ${stolen(result.atHalf)}`,
  );
  if (run.observed) {
    const indent = (lines: string[]) => lines.map((line) => `      ${line}`).join("\n");
    bench.log(
      `    where a command's time goes at saturation:\n${indent(describeStages(run.observed.saturation))}`,
    );
    bench.log(`    and at 50%:\n${indent(describeStages(run.observed.atHalf))}`);
  }
  return { result, lag: run.beside, delayMs: run.delayMs };
};

/** Eventfold in `mode`, its actor cap sized to the plan, with the load scenarios' accounts opened and funded. */
export const startSeeded = async (bench: Bench, mode: Mode): Promise<RunningServer> => {
  const { plan } = bench;
  const server = await startEventfold(mode, bench.nextPort(), {
    EVENTFOLD_MAX_ACTORS: String(plan.maxActors),
  });
  try {
    await seedAccounts(server.url, loadAccountPrefix, plan.accounts, {
      open: progressBar(`${mode}: opening ${plan.accounts} accounts`),
      fund: progressBar(`${mode}: funding them`),
    });
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
};
