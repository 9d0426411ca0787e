import type { Plan } from "./plan.ts";

/** What every scenario is given: the run's plan, the progress log, and ports for its servers. */
export interface Bench {
  readonly plan: Plan;
  /** A line of progress on stderr (stdout is left to nothing). */
  log(message: string): void;
  /** A port no server of this run has had yet. */
  nextPort(): number;
}

export const benchFor = (plan: Plan): Bench => {
  // Below the ephemeral range (32768+ on Linux), where the generator's own client sockets could take it.
  let port = 21_000 + Math.floor(Math.random() * 1000);
  return {
    plan,
    log: (message) => process.stderr.write(`${message}\n`),
    nextPort: () => port++,
  };
};
