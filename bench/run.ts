/**
 * npm run bench [-- --full]: the load benchmark. See bench/README.md for what it measures and why.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { progressBar } from "../src/cli/progress.ts";
import { type AnalyticsResult, measureAnalytics } from "./lib/analytics.ts";
import { histogramBuckets, percentile, probeRedisLag, quantileBetween } from "./lib/lag.ts";
import { pct, writeReport } from "./lib/report.ts";
import { counterTotal, type RateSeries, sampleRate } from "./lib/sampler.ts";
import { seedAccounts } from "./lib/seed.ts";
import {
  fullStackAvailable,
  fullStackUrls,
  type Mode,
  type RunningServer,
  startCeiling,
  startEventfold,
} from "./lib/servers.ts";
import {
  failures,
  pacedDelayMs,
  runWrk,
  throughput,
  type WrkResult,
  type WrkRun,
  wrkAvailable,
} from "./lib/wrk.ts";

const full = process.argv.includes("--full");
const common = { connections: 64, pacedConnections: 32, rehydrateEvents: 10_000 };
/**
 * Scenarios 1-4 size the actor cap to their working set (every account, and the transfers' own actors),
 * as a deployment would: under the default cap (50 000) 100 000 uniformly hit accounts would mostly be
 * measuring rehydration. Scenario 7 keeps the default, to show passivation bounding memory.
 */
const maxActorsFor = (accounts: number) => Math.max(50_000, accounts * 2);
const plan = full
  ? {
      ...common,
      accounts: 100_000,
      maxActors: maxActorsFor(100_000),
      seconds: 30,
      calibrationSeconds: 5,
      memoryAccounts: 1_000_000,
      analyticsEvents: 10_000_000,
      analyticsSamples: 100,
    }
  : {
      ...common,
      accounts: 10_000,
      maxActors: maxActorsFor(10_000),
      seconds: 6,
      calibrationSeconds: 2,
      memoryAccounts: 100_000,
      analyticsEvents: 1_000_000,
      analyticsSamples: 30,
    };
const scenarios = ["deposits", "hotspot", "transfers", "mixed"] as const;
type Scenario = (typeof scenarios)[number];

export interface LoadFigures {
  readonly rps: number;
  readonly requests: number;
  readonly failures: number;
  readonly latencyMs: { p50: number; p99: number; p999: number };
  /** Share of the machine's CPU time the hypervisor gave to other guests during the run (Linux only). */
  readonly stealPct?: number;
}

export interface ScenarioResult {
  readonly mode: Mode | "ceiling";
  readonly scenario: Scenario;
  readonly saturation: LoadFigures;
  readonly atHalf: LoadFigures;
  readonly ratioToCeiling: number;
  readonly series: RateSeries;
}

export interface LagResult {
  readonly mode: Mode;
  /** ms from a deposit's 2xx to its version readable through GET /v1/accounts/:id?minVersion. */
  readonly redisProbeMs: { p50: number | null; p99: number | null; samples: number };
  /** seconds from append to applied, from the projector's histogram, over the 50% deposits run. */
  readonly appliedSeconds: Record<string, { p50: number | null; p99: number | null }>;
}

export interface Results {
  readonly startedAt: string;
  readonly full: boolean;
  readonly plan: typeof plan;
  readonly machine: { cpus: number; bun: string };
  readonly generator: string;
  /** The event store of each mode. */
  readonly eventStores: string;
  readonly ceiling: { rps: number; stealPct?: number; atHalf: LoadFigures; series: RateSeries };
  readonly scenarios: ScenarioResult[];
  readonly lag: LagResult[];
  readonly memory: { mode: Mode; accountsTouched: number; rssBytes: number }[];
  /** Scenario 7: accounts opened one after another in one embedded process, RSS sampled as they go. */
  readonly touched: {
    accounts: number;
    seconds: number;
    rssBytes: number;
    peakRssBytes: number;
    liveActors: number;
    series: { accounts: number; rssBytes: number }[];
  };
  readonly analytics: AnalyticsResult;
  readonly rehydration: {
    events: number;
    /** The median of `firstCommandsMs`. */
    firstCommandMs: number;
    /** The first command on each long stream, after the restart has settled. */
    firstCommandsMs: number[];
    warmCommandMs: number;
  } | null;
  readonly skipped: string[];
}

const stolen = (f: LoadFigures) => pct(f.stealPct);

const figures = (r: WrkResult): LoadFigures => ({
  rps: Math.round(throughput(r)),
  requests: r.requests,
  failures: failures(r),
  latencyMs: { p50: r.latencyUs.p50 / 1000, p99: r.latencyUs.p99 / 1000, p999: r.latencyUs.p999 / 1000 },
  ...(r.cpu ? { stealPct: Math.round(r.cpu.stealPct * 10) / 10 } : {}),
});

const log = (message: string) => process.stderr.write(`${message}\n`);
const metricsOf = async (url: string) => (await fetch(`${url}/metrics`)).text();
// Below the ephemeral range (32768+ on Linux), where the generator's own client sockets could take it.
let port = 21_000 + Math.floor(Math.random() * 1000);

/** Saturation with `connections`, then paced at half that throughput, each sampled once a second. */
const measure = async (
  label: string,
  base: Omit<WrkRun, "seconds" | "connections" | "delayMs">,
  count: () => Promise<number>,
  during?: () => { stop(): Promise<void> },
) => {
  log(`  ${label}: saturation, ${plan.connections} connections, ${plan.seconds}s`);
  const sampler = sampleRate(label, count);
  const saturation = await runWrk({ ...base, seconds: plan.seconds, connections: plan.connections });
  const series = await sampler.stop();
  const target = throughput(saturation) / 2;
  const paced = { ...base, seconds: plan.calibrationSeconds, connections: plan.pacedConnections };
  let delayMs = pacedDelayMs(plan.pacedConnections, target);
  for (const step of [1, 2]) {
    const probe = await runWrk({ ...paced, delayMs });
    log(
      `  ${label}: calibrating the pace (${step}/2): ${Math.round(throughput(probe))} of ${Math.round(target)} req/s`,
    );
    delayMs = pacedDelayMs(plan.pacedConnections, target, { delayMs, rps: throughput(probe) });
  }
  log(
    `  ${label}: at 50% (${Math.round(target)} req/s target), ${plan.pacedConnections} paced connections, ${delayMs.toFixed(1)} ms apart`,
  );
  const side = during?.();
  const atHalf = await runWrk({ ...paced, seconds: plan.seconds, delayMs });
  await side?.stop();
  return { saturation, atHalf, series };
};

const main = async () => {
  if (!wrkAvailable()) {
    log("bench needs wrk: apt-get install wrk (see bench/README.md)");
    process.exit(1);
  }
  const startedAt = new Date().toISOString();
  const skipped: string[] = [];
  const modes: Mode[] = ["embedded"];
  if (await fullStackAvailable()) modes.push("full stack");
  else skipped.push("full stack: RabbitMQ or Redis does not answer on 127.0.0.1");
  log(
    `eventfold bench (${full ? "full" : "quick"}): ${modes.join(", ")}; ${plan.accounts} accounts, ${plan.seconds}s per run`,
  );

  // The ceiling, under the same generator, connections and body.
  log("ceiling: bare Hono route, same body and validation, answers from memory");
  const ceilingServer = await startCeiling(port++);
  const ceilingRun = await measure(
    "ceiling",
    { url: ceilingServer.url, scenario: "deposits", accounts: plan.accounts, prefix: "c-" },
    async () =>
      ((await (await fetch(`${ceilingServer.url}/requests`)).json()) as { requests: number }).requests,
  );
  await ceilingServer.stop();
  const ceilingRps = throughput(ceilingRun.saturation);
  log(`ceiling: ${Math.round(ceilingRps)} req/s, CPU stolen ${stolen(figures(ceilingRun.saturation))}`);

  const results: ScenarioResult[] = [];
  const lag: LagResult[] = [];
  const memory: Results["memory"] = [];
  for (const mode of modes) {
    log(`\n${mode}: starting eventfold`);
    const server: RunningServer = await startEventfold(mode, port++, {
      EVENTFOLD_MAX_ACTORS: String(plan.maxActors),
    });
    try {
      await seedAccounts(server.url, "a-", plan.accounts, {
        open: progressBar(`${mode}: opening ${plan.accounts} accounts`),
        fund: progressBar(`${mode}: funding them`),
      });
      await seedAccounts(server.url, "probe-", 1, { open: progressBar(`${mode}: probe account`) });
      const requestsServed = async () =>
        counterTotal(await metricsOf(server.url), "eventfold_http_requests_total");
      for (const scenario of scenarios) {
        let probe: ReturnType<typeof probeRedisLag> | undefined;
        let before = "";
        const run = await measure(
          `${mode} ${scenario}`,
          { url: server.url, scenario, accounts: plan.accounts, prefix: "a-" },
          requestsServed,
          scenario === "deposits"
            ? () => {
                probe = probeRedisLag(server.url, "probe-0");
                const scraping = metricsOf(server.url).then((text) => {
                  before = text;
                });
                return {
                  stop: async () => {
                    await scraping;
                    const lags = (await probe?.stop()) ?? [];
                    const after = await metricsOf(server.url);
                    const applied = Object.fromEntries(
                      ["accounts", "analytics"].map((projection) => {
                        const name = "eventfold_projection_lag_seconds";
                        const labels = `projection="${projection}"`;
                        const b = histogramBuckets(before, name, labels);
                        const a = histogramBuckets(after, name, labels);
                        return [
                          projection,
                          { p50: quantileBetween(b, a, 0.5), p99: quantileBetween(b, a, 0.99) },
                        ];
                      }),
                    );
                    lag.push({
                      mode,
                      redisProbeMs: {
                        p50: percentile(lags, 50),
                        p99: percentile(lags, 99),
                        samples: lags.length,
                      },
                      appliedSeconds: applied,
                    });
                  },
                };
              }
            : undefined,
        );
        const result: ScenarioResult = {
          mode,
          scenario,
          saturation: figures(run.saturation),
          atHalf: figures(run.atHalf),
          ratioToCeiling: throughput(run.saturation) / ceilingRps,
          series: run.series,
        };
        results.push(result);
        log(
          `  ${scenario}: ${result.saturation.rps} req/s (${result.ratioToCeiling.toFixed(2)}× ceiling), ` +
            `p99 at 50% ${result.atHalf.latencyMs.p99.toFixed(1)} ms, failures ${result.saturation.failures + result.atHalf.failures}, ` +
            `CPU stolen ${stolen(result.saturation)} / ${stolen(result.atHalf)}`,
        );
      }
      memory.push({ mode, accountsTouched: plan.accounts, rssBytes: server.rss() });
    } finally {
      await server.stop();
    }
  }

  log(`\nrehydration: ${rehydrateStreams} accounts with 10 000 events each, then a cold start`);
  const rehydration = await measureRehydration();

  log(`\nmemory: ${plan.memoryAccounts.toLocaleString("en")} accounts opened in one embedded process`);
  const touched = await measureTouched();

  log(`\nanalytics: ${plan.analyticsEvents.toLocaleString("en")} events, then each analytics route`);
  const analytics = await measureAnalytics(
    (env) => startEventfold("embedded", port++, env),
    { events: plan.analyticsEvents, accounts: plan.accounts, samples: plan.analyticsSamples },
    log,
  );

  const all: Results = {
    startedAt,
    full,
    plan,
    machine: { cpus: navigator.hardwareConcurrency, bun: Bun.version },
    generator: "wrk 4 (closed loop, keep-alive; paced with delay() for the 50% runs)",
    eventStores: `embedded: SQLite; full stack: ${fullStackUrls.mongo ? "MongoDB (MONGO_URL)" : "SQLite (MONGO_URL not set)"}`,
    ceiling: {
      rps: Math.round(ceilingRps),
      stealPct: figures(ceilingRun.saturation).stealPct,
      atHalf: figures(ceilingRun.atHalf),
      series: ceilingRun.series,
    },
    scenarios: results,
    lag,
    memory,
    touched,
    analytics,
    rehydration,
    skipped,
  };
  const dir = join(new URL(".", import.meta.url).pathname, "results", startedAt.replace(/[:.]/g, "-"));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "results.json"), `${JSON.stringify(all, null, 2)}\n`);
  writeReport(dir, all);
  log(`\nresults: ${join(dir, "report.md")}`);
};

/** Scenario 7: RSS while `memoryAccounts` accounts are opened; passivation keeps the live actors bounded. */
const measureTouched = async (): Promise<Results["touched"]> => {
  const server = await startEventfold("embedded", port++);
  try {
    const series: { accounts: number; rssBytes: number }[] = [];
    let peak = 0;
    const started = performance.now();
    const bar = progressBar("memory: opening accounts");
    await seedAccounts(server.url, "m-", plan.memoryAccounts, {
      open: {
        update: (done, total) => {
          bar.update(done, total);
          const rssBytes = server.rss();
          peak = Math.max(peak, rssBytes);
          series.push({ accounts: done, rssBytes });
        },
        finish: () => bar.finish(),
      },
    });
    const seconds = (performance.now() - started) / 1000;
    const liveActors = counterTotal(await metricsOf(server.url), "eventfold_live_actors");
    const rssBytes = server.rss();
    log(
      `  ${plan.memoryAccounts} accounts in ${seconds.toFixed(0)} s; RSS ${(rssBytes / 2 ** 20).toFixed(0)} MiB ` +
        `(peak ${(Math.max(peak, rssBytes) / 2 ** 20).toFixed(0)} MiB), ${liveActors} actors live`,
    );
    return {
      accounts: plan.memoryAccounts,
      seconds,
      rssBytes,
      peakRssBytes: Math.max(peak, rssBytes),
      liveActors,
      series,
    };
  } finally {
    await server.stop();
  }
};

/** Long streams timed after a restart: one first command is as noisy as the start-up work beside it. */
const rehydrateStreams = 3;
/** Start-up work (the relay's catch-up, chDB opening its tables) runs beside the first commands. */
const settleAfterStartMs = 2_000;

/** Time of the first command on 10 000-event accounts after a restart (snapshot + tail), vs a warm one. */
const measureRehydration = async (): Promise<Results["rehydration"]> => {
  const dataDir = `${process.env.TMPDIR ?? "/tmp"}/eventfold-bench-rehydrate-${process.pid}`;
  const first = await startEventfold("embedded", port++, { EVENTFOLD_DATA_DIR: dataDir });
  const bar = progressBar("rehydration: appending events");
  const deposit = async (url: string, account: string) =>
    (
      await fetch(`${url}/v1/accounts/${account}/deposits`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"amount":1}',
      })
    ).arrayBuffer();
  try {
    await seedAccounts(first.url, "long-", rehydrateStreams, { open: progressBar("rehydration: accounts") });
    const total = rehydrateStreams * (plan.rehydrateEvents - 1);
    let sent = 0;
    const worker = async () => {
      while (sent < total) {
        const account = `long-${sent % rehydrateStreams}`;
        sent++;
        await deposit(first.url, account);
        if (sent % 500 === 0) bar.update(sent, total);
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    bar.finish();
  } finally {
    await first.stop().catch(() => {});
  }
  const second = await startEventfold("embedded", port++, { EVENTFOLD_DATA_DIR: dataDir });
  try {
    await Bun.sleep(settleAfterStartMs);
    const timed = async (account: string) => {
      const started = performance.now();
      await deposit(second.url, account);
      return performance.now() - started;
    };
    const firsts: number[] = [];
    for (let i = 0; i < rehydrateStreams; i++) firsts.push(await timed(`long-${i}`));
    const warm: number[] = [];
    for (let i = 0; i < 20; i++) warm.push(await timed("long-0"));
    return {
      events: plan.rehydrateEvents,
      firstCommandMs: percentile(firsts, 50) ?? 0,
      firstCommandsMs: firsts,
      warmCommandMs: percentile(warm, 50) ?? 0,
    };
  } finally {
    await second.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
};

await main();
