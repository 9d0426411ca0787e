/** What one run does: how many accounts and events, how long each load run lasts, how many connections. */
export interface Plan {
  readonly connections: number;
  readonly pacedConnections: number;
  readonly rehydrateEvents: number;
  readonly accounts: number;
  /** `EVENTFOLD_MAX_ACTORS` for scenarios 1-4. */
  readonly maxActors: number;
  readonly seconds: number;
  readonly calibrationSeconds: number;
  readonly memoryAccounts: number;
  readonly analyticsEvents: number;
  readonly analyticsSamples: number;
  /** Events stored before scenario 8's consumers come. */
  readonly subscriptionEvents: number;
  /** Deposits a live consumer times, paced. */
  readonly liveSamples: number;
  /** Refused deposits under keys of their own, to measure what a stored outcome costs on disk. */
  readonly refusals: number;
  /**
   * The analytics SQL stage: seconds of each phase (paced deposits alone, then beside analysts' queries;
   * longer than a query's default time bound, 10 s, so that one ends within the phase), and the clients
   * that loop heavy queries in the second.
   */
  readonly analyticsSqlSeconds: number;
  readonly analyticsSqlClients: number;
  /**
   * Events the store holds at least before it (the load scenarios usually leave more; deposits flat out
   * make up the rest), so that the heavy queries read enough to take real time.
   */
  readonly analyticsSqlEvents: number;
}

const common = { connections: 64, pacedConnections: 32, rehydrateEvents: 10_000, analyticsSqlClients: 4 };

/**
 * Scenarios 1-4 size the actor cap to their working set (every account, and the transfers' own actors),
 * as a deployment would: under the default cap (50 000) 100 000 uniformly hit accounts would mostly be
 * measuring rehydration. Scenario 7 keeps the default, to show passivation bounding memory.
 */
const maxActorsFor = (accounts: number) => Math.max(50_000, accounts * 2);

/** The full run's sizes (`--full`), or the quick run's. */
export const planFor = (full: boolean): Plan =>
  full
    ? {
        ...common,
        accounts: 100_000,
        maxActors: maxActorsFor(100_000),
        seconds: 30,
        calibrationSeconds: 5,
        memoryAccounts: 1_000_000,
        analyticsEvents: 10_000_000,
        analyticsSamples: 100,
        subscriptionEvents: 1_000_000,
        liveSamples: 2_000,
        refusals: 20_000,
        analyticsSqlSeconds: 30,
        analyticsSqlEvents: 2_000_000,
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
        subscriptionEvents: 200_000,
        liveSamples: 500,
        refusals: 5_000,
        analyticsSqlSeconds: 15,
        analyticsSqlEvents: 200_000,
      };
