/**
 * npm run bench [-- --full]: the load benchmark. See bench/README.md for what it measures and why.
 * This file only runs the scenarios (bench/scenarios/) in order and writes the results and the report.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { benchFor } from "./lib/context.ts";
import { type LoadScenario, runLoadScenario, startSeeded } from "./lib/load.ts";
import { startOtlpSink } from "./lib/otlp-sink.ts";
import { planFor } from "./lib/plan.ts";
import { writeReport } from "./lib/report.ts";
import type {
  AnalyticsSqlResult,
  LagResult,
  MemoryResult,
  Results,
  ScenarioResult,
  StoreFootprint,
} from "./lib/results.ts";
import { exportSpansTo, fullStackAvailable, fullStackUrls, type Mode } from "./lib/servers.ts";
import { writeSoakReport } from "./lib/soak-report.ts";
import { wrkAvailable } from "./lib/wrk.ts";
import { measureAnalytics } from "./scenarios/analytics.ts";
import { measureAnalyticsSql, measureAnalyticsSqlAlone } from "./scenarios/analytics-sql.ts";
import { measureCeiling } from "./scenarios/ceiling.ts";
import { deposits } from "./scenarios/deposits.ts";
import { hotspot } from "./scenarios/hotspot.ts";
import { measureLedger } from "./scenarios/ledger.ts";
import { measureTouched } from "./scenarios/memory.ts";
import { mixed } from "./scenarios/mixed.ts";
import { seedProbeAccount } from "./scenarios/projection-lag.ts";
import { measureRehydration } from "./scenarios/rehydration.ts";
import { faultsByName, runSoak } from "./scenarios/soak.ts";
import { measureStoreFootprint } from "./scenarios/store-footprint.ts";
import { measureSubscriptions } from "./scenarios/subscriptions.ts";
import { transfers } from "./scenarios/transfers.ts";

const usage = () => {
  const sizes = (full: boolean) => {
    const p = planFor(full);
    const n = (v: number) => v.toLocaleString("en");
    return `${n(p.accounts)} accounts, ${p.seconds} s per load run, ${n(p.memoryAccounts)} accounts opened, ${n(p.analyticsEvents)} analytics events, ${n(p.subscriptionEvents)} events for subscriptions`;
  };
  return `usage: npm run bench [-- --full]

  (no flag)  quick run: ${sizes(false)}
  --full     full run: ${sizes(true)}
  --subscriptions  only scenario 8 (catch-up subscriptions), its figures on stdout
  --memory   only scenario 7 (accounts opened in one process, its RSS), its figures on stdout; with --full, a million
  --connections N  saturation runs with N connections instead of 64
  soak [--minutes N] [--fault-every M] [--faults kill,broker,redis] [--accounts A]
             an hour (N minutes) of mixed commands at half of saturation on the full stack, a fault every
             5 (M) minutes (each of --faults in turn: kill -9 and restart, broker connections dropped,
             Redis keys flushed), then an audit; writes bench/results/<timestamp>-soak/ (soak.md,
             soak.json, charts)
  --stages   only the ceiling, embedded deposits with where their time goes, and the store's bytes on disk; figures on stdout
  --ledger         only the ledger stage: deposits with references, tree and sealing on against off (in
                   turns), then ledger verify's speed and erasures' latency; its figures on stdout
  --analytics-sql  only the analytics SQL stage: embedded deposits paced at 50% alone, then beside clients looping
             heavy analysts' queries (POST /v1/analytics/sql); its figures on stdout
  --otel     with any of the above: every server exports its spans (OTEL_EXPORTER_OTLP_ENDPOINT) to a local OTLP
             sink that keeps nothing, to measure what tracing costs; without it the servers trace nothing
  --access-log  with any of the above: the servers log at info (LOG_LEVEL's default), an access line per
             request; without it they log at warn

Writes bench/results/<timestamp>/ (results.json, report.md and its charts). Needs wrk; see bench/README.md.
`;
};

/** Scenarios 1-4, run in this order against each mode's server (scenario 5 rides on deposits). */
const loadScenarios: readonly LoadScenario[] = [deposits, hotspot, transfers, mixed];

/** Scenario 1, embedded, against the ceiling: for `--stages`. */
const measureDepositStages = async (bench: ReturnType<typeof benchFor>) => {
  const ceiling = await measureCeiling(bench);
  const server = await startSeeded(bench, "embedded");
  try {
    const run = await runLoadScenario(bench, { mode: "embedded", server, ceilingRps: ceiling.rps }, deposits);
    const storeFootprint = await measureStoreFootprint(bench, server);
    return { ceiling: ceiling.rps, ...run.result, series: undefined, storeFootprint };
  } finally {
    await server.stop();
  }
};

/** The value after a flag (`--connections 256`), if given. */
const flagValue = (flag: string): string | undefined => {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

const main = async () => {
  if (process.argv.includes("--help") || process.argv.includes("-h")) {
    process.stdout.write(usage());
    return;
  }
  const full = process.argv.includes("--full");
  const connections = Number(flagValue("--connections") ?? Number.NaN);
  const plan = { ...planFor(full), ...(connections > 0 ? { connections } : {}) };
  const bench = benchFor(plan);
  if (process.argv.includes("--memory")) {
    // Scenario 7 alone, for work on memory: its figures on stdout, no report.
    process.stdout.write(`${JSON.stringify(await measureTouched(bench), null, 2)}\n`);
    return;
  }
  if (process.argv.includes("--subscriptions")) {
    // Scenario 8 alone, for work on the subscriptions: its figures on stdout, no report.
    process.stdout.write(`${JSON.stringify(await measureSubscriptions(bench), null, 2)}\n`);
    return;
  }
  const { log } = bench;
  if (!wrkAvailable()) {
    log("bench needs wrk: apt-get install wrk (see bench/README.md)");
    process.exit(1);
  }
  if (process.argv[2] === "soak") {
    const startedAt = new Date().toISOString();
    const dir = join(
      new URL(".", import.meta.url).pathname,
      "results",
      `${startedAt.replace(/[:.]/g, "-")}-soak`,
    );
    mkdirSync(dir, { recursive: true });
    const soak = await runSoak(
      bench,
      {
        minutes: Number(flagValue("--minutes") ?? 60),
        faultEveryMinutes: Number(flagValue("--fault-every") ?? 5),
        faults: (flagValue("--faults") ?? "kill,broker,redis").split(",").map((name) => {
          const fault = faultsByName[name];
          if (!fault)
            throw new Error(`--faults: "${name}" is none of ${Object.keys(faultsByName).join(", ")}`);
          return fault;
        }),
        accounts: Number(flagValue("--accounts") ?? 100_000),
        segmentSeconds: 10,
      },
      join(dir, "acks"),
    );
    writeSoakReport(dir, soak, startedAt);
    log(`\nsoak: ${join(dir, "soak.md")}`);
    const { audit } = soak;
    log(
      `audit: lost ${audit.lost}, doubled ${audit.doubled}, money ${audit.moneyIn === audit.moneyHeld ? "conserved" : "NOT conserved"}, read models ${audit.hotLookupMismatches === 0 && audit.analyticsMismatches.length === 0 ? "equal to the log" : "UNLIKE the log"}`,
    );
    return;
  }
  if (process.argv.includes("--ledger")) {
    // The ledger stage alone: the tree's and sealing's cost on deposits, verify's speed, erasures.
    process.stdout.write(`${JSON.stringify(await measureLedger(bench), null, 2)}\n`);
    return;
  }
  if (process.argv.includes("--analytics-sql")) {
    // The analytics SQL stage alone, on an embedded server of its own: its figures on stdout, no report.
    process.stdout.write(`${JSON.stringify(await measureAnalyticsSqlAlone(bench), null, 2)}\n`);
    return;
  }
  if (process.argv.includes("--stages")) {
    // The write path alone, for work on it: the ceiling, then embedded deposits, stage by stage.
    process.stdout.write(`${JSON.stringify(await measureDepositStages(bench), null, 2)}\n`);
    return;
  }
  const startedAt = new Date().toISOString();
  const skipped: string[] = [];
  const modes: Mode[] = ["embedded"];
  if (await fullStackAvailable()) modes.push("full stack");
  else skipped.push("full stack: RabbitMQ or Redis does not answer on 127.0.0.1");
  log(
    `eventfold bench (${full ? "full" : "quick"}): ${modes.join(", ")}; ${plan.accounts} accounts, ${plan.seconds}s per run`,
  );

  const ceiling = await measureCeiling(bench);

  const scenarios: ScenarioResult[] = [];
  const lag: LagResult[] = [];
  const memory: MemoryResult[] = [];
  let storeFootprint: StoreFootprint | undefined;
  let analyticsSql: AnalyticsSqlResult | undefined;
  for (const mode of modes) {
    log(`\n${mode}: starting eventfold`);
    const server = await startSeeded(bench, mode);
    try {
      await seedProbeAccount(server, mode);
      let depositsDelayMs: number | undefined;
      for (const scenario of loadScenarios) {
        const run = await runLoadScenario(bench, { mode, server, ceilingRps: ceiling.rps }, scenario);
        scenarios.push(run.result);
        if (run.lag) lag.push(run.lag);
        if (scenario === deposits) depositsDelayMs = run.delayMs;
      }
      memory.push({ mode, accountsTouched: plan.accounts, rssBytes: server.rss() });
      if (mode === "embedded") storeFootprint = await measureStoreFootprint(bench, server);
      if (mode === "embedded" && depositsDelayMs !== undefined) {
        // Analysts' heavy SQL beside paced deposits, at the 50% run's pace; a failure here costs its section.
        try {
          analyticsSql = await measureAnalyticsSql(bench, server, depositsDelayMs);
        } catch (error) {
          log(`  analytics SQL stage failed: ${(error as Error).message}`);
          skipped.push(`analytics SQL stage: ${(error as Error).message}`);
        }
      }
    } finally {
      await server.stop();
    }
  }

  const rehydration = await measureRehydration(bench);
  const touched = await measureTouched(bench);
  const analytics = await measureAnalytics(bench);
  const subscriptions = await measureSubscriptions(bench);

  const all: Results = {
    startedAt,
    full,
    plan,
    machine: { cpus: navigator.hardwareConcurrency, bun: Bun.version },
    generator: "wrk 4 (closed loop, keep-alive; paced with delay() for the 50% runs)",
    eventStores: `embedded: SQLite; full stack: ${fullStackUrls.mongo ? "MongoDB (MONGO_URL)" : "SQLite (MONGO_URL not set)"}`,
    ceiling: ceiling.result,
    scenarios,
    lag,
    memory,
    touched,
    analytics,
    rehydration,
    subscriptions,
    ...(storeFootprint ? { storeFootprint } : {}),
    ...(analyticsSql ? { analyticsSql } : {}),
    ...(tracingOn
      ? { tracing: "on: spans exported over OTLP/HTTP to a local sink that keeps nothing (--otel)" }
      : {}),
    skipped,
  };
  const dir = join(new URL(".", import.meta.url).pathname, "results", startedAt.replace(/[:.]/g, "-"));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "results.json"), `${JSON.stringify(all, null, 2)}\n`);
  writeReport(dir, all);
  log(`\nresults: ${join(dir, "report.md")}`);
};

/** `--otel`: the run's servers export their spans to a sink in this process, which keeps nothing. */
const tracingOn = process.argv.includes("--otel");

const withTracing = async (run: () => Promise<void>) => {
  if (!tracingOn) return run();
  const sink = startOtlpSink();
  exportSpansTo(sink.url);
  process.stderr.write(`tracing on: the servers export their spans to ${sink.url}, which keeps nothing\n`);
  try {
    await run();
  } finally {
    const { requests, bytes } = sink.taken();
    process.stderr.write(`tracing: ${requests} exports taken, ${(bytes / 2 ** 20).toFixed(1)} MiB\n`);
    await sink.stop();
  }
};

await withTracing(main);
