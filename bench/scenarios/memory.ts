/**
 * Scenario 7: `memoryAccounts` accounts opened one after another in a fresh embedded process with the
 * default actor cap, RSS sampled as they go: passivation keeps the live actors, and memory, bounded.
 */
import { progressBar } from "../../src/cli/progress.ts";
import type { Bench } from "../lib/context.ts";
import type { TouchedResult } from "../lib/results.ts";
import { counterTotal, metricsOf } from "../lib/sampler.ts";
import { seedAccounts } from "../lib/seed.ts";
import { startEventfold } from "../lib/servers.ts";

export const measureTouched = async ({ plan, log, nextPort }: Bench): Promise<TouchedResult> => {
  log(`\nmemory: ${plan.memoryAccounts.toLocaleString("en")} accounts opened in one embedded process`);
  const server = await startEventfold("embedded", nextPort());
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
