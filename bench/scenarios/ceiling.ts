/**
 * The ceiling, under the same generator, connections and body as the load scenarios: bench/ceiling.ts,
 * a bare Hono route that validates the deposit body and answers from memory. Every throughput is
 * reported as a ratio to it.
 */
import type { Bench } from "../lib/context.ts";
import { figures, measure, stolen } from "../lib/load.ts";
import type { CeilingResult } from "../lib/results.ts";
import { startCeiling } from "../lib/servers.ts";
import { throughput } from "../lib/wrk.ts";

/** The ceiling's figures, and its throughput unrounded (the ratios are taken against that). */
export const measureCeiling = async (bench: Bench): Promise<{ rps: number; result: CeilingResult }> => {
  const { plan, log } = bench;
  log("ceiling: bare Hono route, same body and validation, answers from memory");
  const server = await startCeiling(bench.nextPort());
  const run = await measure(
    bench,
    "ceiling",
    { url: server.url, scenario: "deposits", accounts: plan.accounts, prefix: "c-" },
    async () => ((await (await fetch(`${server.url}/requests`)).json()) as { requests: number }).requests,
  );
  await server.stop();
  const rps = throughput(run.saturation);
  log(`ceiling: ${Math.round(rps)} req/s, CPU stolen ${stolen(figures(run.saturation))}`);
  return {
    rps,
    result: {
      rps: Math.round(rps),
      stealPct: figures(run.saturation).stealPct,
      atHalf: figures(run.atHalf),
      series: run.series,
    },
  };
};
