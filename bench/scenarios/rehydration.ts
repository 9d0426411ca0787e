/**
 * Scenario 7's second half: the first command on 10 000-event accounts after a restart (the newest
 * snapshot plus the events after it, plus one append), against a warm one.
 */
import { rmSync } from "node:fs";
import { progressBar } from "../../src/cli/progress.ts";
import type { Bench } from "../lib/context.ts";
import { percentile } from "../lib/lag.ts";
import type { RehydrationResult } from "../lib/results.ts";
import { seedAccounts } from "../lib/seed.ts";
import { startEventfold } from "../lib/servers.ts";

/** Long streams timed after a restart: one first command is as noisy as the start-up work beside it. */
const rehydrateStreams = 3;
/** Start-up work (the relay's catch-up, chDB opening its tables) runs beside the first commands. */
const settleAfterStartMs = 2_000;

export const measureRehydration = async ({ plan, log, nextPort }: Bench): Promise<RehydrationResult> => {
  log(`\nrehydration: ${rehydrateStreams} accounts with 10 000 events each, then a cold start`);
  const dataDir = `${process.env.TMPDIR ?? "/tmp"}/eventfold-bench-rehydrate-${process.pid}`;
  const first = await startEventfold("embedded", nextPort(), { EVENTFOLD_DATA_DIR: dataDir });
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
  const second = await startEventfold("embedded", nextPort(), { EVENTFOLD_DATA_DIR: dataDir });
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
