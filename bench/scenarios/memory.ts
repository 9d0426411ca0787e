/**
 * Scenario 7: `memoryAccounts` accounts opened one after another in a fresh embedded process with the
 * default actor cap, RSS sampled as they go: passivation keeps the live actors, and memory, bounded.
 */
import { progressBar } from "../../src/cli/progress.ts";
import type { Bench } from "../lib/context.ts";
import type { TouchedResult } from "../lib/results.ts";
import { counterTotal, metricsOf } from "../lib/sampler.ts";
import { seedAccounts } from "../lib/seed.ts";
import { rssPartsOf, startEventfold } from "../lib/servers.ts";

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
    const scraped = await metricsOf(server.url);
    const liveActors = counterTotal(scraped, "eventfold_live_actors");
    const rssBytes = server.rss();
    const parts = rssPartsOf(server.pid);
    const heapBytes: Record<string, number> = Object.fromEntries(
      [...scraped.matchAll(/^eventfold_heap_bytes\{thread="([^"]+)"\} (\d+)/gm)].map((m) => [
        m[1],
        Number(m[2]),
      ]),
    );
    log(
      `  ${plan.memoryAccounts} accounts in ${seconds.toFixed(0)} s; RSS ${(rssBytes / 2 ** 20).toFixed(0)} MiB ` +
        `(peak ${(Math.max(peak, rssBytes) / 2 ** 20).toFixed(0)} MiB), ${liveActors} actors live; ` +
        `mapped from files ${(parts.fileBytes / 2 ** 20).toFixed(0)} MiB, anonymous ${(parts.anonBytes / 2 ** 20).toFixed(0)} MiB; ` +
        `heaps ${Object.entries(heapBytes)
          .map(([thread, bytes]) => `${thread} ${(bytes / 2 ** 20).toFixed(0)} MiB`)
          .join(", ")}`,
    );
    return {
      accounts: plan.memoryAccounts,
      seconds,
      rssBytes,
      peakRssBytes: Math.max(peak, rssBytes),
      rssFileBytes: parts.fileBytes,
      rssAnonBytes: parts.anonBytes,
      heapBytes,
      liveActors,
      series,
    };
  } finally {
    await server.stop();
  }
};
