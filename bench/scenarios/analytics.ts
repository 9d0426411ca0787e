import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Bench } from "../lib/context.ts";
import { percentile } from "../lib/lag.ts";
import type { AnalyticsResult } from "../lib/results.ts";
import { startEventfold } from "../lib/servers.ts";

const root = new URL("../..", import.meta.url).pathname;

/** Runs the loader in its own process: chDB binds its directory to one process, the server comes next. */
const load = async (chdbPath: string, db: string, events: number, accounts: number) => {
  const proc = Bun.spawn(
    [process.execPath, "bench/analytics-loader.ts", chdbPath, db, String(events), String(accounts)],
    { cwd: root, stdout: "pipe", stderr: "inherit" },
  );
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  const line = out.split("\n").find((l) => l.startsWith("ANALYTICS_LOADED "));
  if (code !== 0 || !line) throw new Error(`the analytics loader failed (${code}): ${out}`);
  return JSON.parse(line.slice("ANALYTICS_LOADED ".length)) as {
    from: number;
    to: number;
    projectionsRead: Record<string, string[]>;
  };
};

/**
 * Scenario 6: `analyticsEvents` synthetic events in the analytics table, then each analytics route asked
 * `analyticsSamples` times in turn (one at a time: this is latency, not throughput), with varying parameters.
 */
export const measureAnalytics = async ({ plan, log, nextPort }: Bench): Promise<AnalyticsResult> => {
  log(`\nanalytics: ${plan.analyticsEvents.toLocaleString("en")} events, then each analytics route`);
  const dir = mkdtempSync(join(tmpdir(), "eventfold-bench-analytics-"));
  const db = "bench_analytics";
  try {
    const started = performance.now();
    const loaded = await load(join(dir, "chdb"), db, plan.analyticsEvents, plan.accounts);
    const loadSeconds = (performance.now() - started) / 1000;
    log(
      `  loaded in ${loadSeconds.toFixed(1)} s; projections read: ${JSON.stringify(loaded.projectionsRead)}`,
    );
    const server = await startEventfold("embedded", nextPort(), {
      EVENTFOLD_CHDB_PATH: join(dir, "chdb"),
      EVENTFOLD_CLICKHOUSE_DATABASE: db,
    });
    try {
      const iso = (s: number) => new Date(s * 1000).toISOString();
      const day = 86_400;
      const pick = <T>(options: readonly T[], i: number) => options[i % options.length] as T;
      const routes: Record<string, (i: number) => string> = {
        volume: (i) => {
          const [interval, span] = pick(
            [
              ["day", 30 * day],
              ["hour", 7 * day],
              ["minute", 6 * 3600],
            ] as const,
            i,
          );
          const currency = pick(["", "&currency=EUR", "&currency=USD"], i);
          return `/v1/analytics/volume?from=${iso(loaded.to - span)}&to=${iso(loaded.to)}&interval=${interval}${currency}`;
        },
        "event-counts": (i) =>
          `/v1/analytics/event-counts?from=${iso(loaded.to - pick([30, 7, 1], i) * day)}&to=${iso(loaded.to)}`,
        "top-accounts": (i) =>
          `/v1/analytics/top-accounts?by=${pick(["balance", "volume"], i)}&limit=10${pick(["", "&currency=USD"], i)}`,
      };
      const results: AnalyticsResult["routes"] = [];
      for (const [route, path] of Object.entries(routes)) {
        const times: number[] = [];
        let failures = 0;
        for (let i = 0; i < plan.analyticsSamples; i++) {
          const t0 = performance.now();
          const response = await fetch(server.url + path(i));
          await response.arrayBuffer();
          if (response.ok) times.push(performance.now() - t0);
          else failures++;
        }
        const result = {
          route,
          samples: times.length,
          p50Ms: percentile(times, 50) ?? Number.NaN,
          p99Ms: percentile(times, 99) ?? Number.NaN,
          failures,
        };
        log(
          `  ${route}: p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms, failures ${failures}`,
        );
        results.push(result);
      }
      return {
        events: plan.analyticsEvents,
        projectionsRead: loaded.projectionsRead,
        loadSeconds,
        routes: results,
      };
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};
