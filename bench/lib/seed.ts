import type { Progress } from "../../src/cli/progress.ts";
import { counterTotal } from "./sampler.ts";
import { failures, runWrk } from "./wrk.ts";

/** Commands answered on one route so far, whatever the outcome, from the server's /metrics. */
const commandsOn = async (url: string, route: string) => {
  const text = await (await fetch(`${url}/metrics`)).text();
  const lines = text.split("\n").filter((line) => line.includes(`route="${route}"`));
  return counterTotal(lines.join("\n"), "eventfold_commands_total");
};

/** One command per account, ids in order, through wrk (fetch from Bun would be the bottleneck). */
export const eachAccountOnce = async (
  url: string,
  scenario: "open" | "fund" | "refusals",
  route: string,
  prefix: string,
  count: number,
  progress: Progress,
) => {
  const before = await commandsOn(url, route);
  let done = 0;
  const result = await runWrk({
    url,
    scenario,
    accounts: count,
    prefix,
    seconds: 3600,
    connections: 64,
    stopWhen: async () => {
      done = (await commandsOn(url, route)) - before;
      progress.update(Math.min(done, count), count);
      return done >= count;
    },
  });
  progress.finish();
  // A 409 on open is an account left from an earlier run: fine. Anything else is not.
  if (failures(result) > 0 && scenario === "fund") {
    throw new Error(`seeding: ${failures(result)} of ${result.requests} deposits failed`);
  }
};

/** Opens `count` accounts `<prefix><i>`, each with a large deposit (so transfers rarely bounce). */
export const seedAccounts = async (
  url: string,
  prefix: string,
  count: number,
  progress: { open: Progress; fund?: Progress },
): Promise<void> => {
  await eachAccountOnce(url, "open", "/v1/accounts", prefix, count, progress.open);
  if (progress.fund)
    await eachAccountOnce(url, "fund", "/v1/accounts/:id/deposits", prefix, count, progress.fund);
};
