/** What a run measured: the shape of results.json, read by the report. */
import type { Plan } from "./plan.ts";
import type { RateSeries } from "./sampler.ts";
import type { Mode } from "./servers.ts";
import type { StageBreakdown } from "./stages.ts";
import type { StoreSize } from "./store-size.ts";

/** The load scenarios (1-4), as bench/wrk/eventfold.lua names them. */
export type LoadScenarioName = "deposits" | "hotspot" | "transfers" | "mixed";

export interface LoadFigures {
  readonly rps: number;
  readonly requests: number;
  readonly failures: number;
  readonly latencyMs: { p50: number; p99: number; p999: number };
  /** Share of the machine's CPU time the hypervisor gave to other guests during the run (Linux only). */
  readonly stealPct?: number;
}

export interface CeilingResult {
  readonly rps: number;
  readonly stealPct?: number;
  readonly atHalf: LoadFigures;
  readonly series: RateSeries;
}

export interface ScenarioResult {
  readonly mode: Mode | "ceiling";
  readonly scenario: LoadScenarioName;
  readonly saturation: LoadFigures;
  readonly atHalf: LoadFigures;
  readonly ratioToCeiling: number;
  readonly series: RateSeries;
  /** Where a command's time went, stage by stage, and the server's CPU per thread, over each run. */
  readonly stages?: { readonly saturation: StageBreakdown; readonly atHalf: StageBreakdown };
}

export interface LagResult {
  readonly mode: Mode;
  /** ms from a deposit's 2xx to its version readable through GET /v1/accounts/:id?minVersion. */
  readonly redisProbeMs: { p50: number | null; p99: number | null; samples: number };
  /** seconds from append to applied, from the projector's histogram, over the 50% deposits run. */
  readonly appliedSeconds: Record<string, { p50: number | null; p99: number | null }>;
}

/** The server's RSS once a mode's load scenarios are done. */
export interface MemoryResult {
  readonly mode: Mode;
  readonly accountsTouched: number;
  readonly rssBytes: number;
}

/** Scenario 7: accounts opened one after another in one embedded process, RSS sampled as they go. */
export interface TouchedResult {
  readonly accounts: number;
  readonly seconds: number;
  readonly rssBytes: number;
  readonly peakRssBytes: number;
  /** At the end, the RSS in pages mapped from files (chDB's library, mostly) and in anonymous memory. */
  readonly rssFileBytes?: number;
  readonly rssAnonBytes?: number;
  /** At the end, each thread's JavaScript heap in use (`eventfold_heap_bytes`). */
  readonly heapBytes?: Readonly<Record<string, number>>;
  readonly liveActors: number;
  readonly series: { accounts: number; rssBytes: number }[];
}

export interface RehydrationResult {
  readonly events: number;
  /** The median of `firstCommandsMs`. */
  readonly firstCommandMs: number;
  /** The first command on each long stream, after the restart has settled. */
  readonly firstCommandsMs: number[];
  readonly warmCommandMs: number;
}

export interface AnalyticsResult {
  readonly events: number;
  /** Which table projection each route's query reads, from EXPLAIN (empty: it scans the table). */
  readonly projectionsRead: Record<string, string[]>;
  readonly loadSeconds: number;
  readonly routes: { route: string; samples: number; p50Ms: number; p99Ms: number; failures: number }[];
}

/** Analysts' answers of one kind (a query, a status) over a phase: how many, and their latency. */
export interface SqlAnswers {
  readonly query: string;
  /** The HTTP status; 0 where no answer came (a socket error or the client's own timeout). */
  readonly status: number;
  readonly count: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly maxMs: number | null;
}

/** One phase of the analytics SQL stage: paced deposits, alone or beside analysts' queries. */
export interface AnalyticsSqlPhase {
  readonly phase: string;
  readonly deposits: LoadFigures;
  /** By query and status; empty in the phase without queries. */
  readonly answers: SqlAnswers[];
}

/**
 * The analytics SQL stage (embedded): what analysts' heavy queries (`POST /v1/analytics/sql`) do to
 * the latency of paced deposits, and whether the service's bounds on them held.
 */
export interface AnalyticsSqlResult {
  /** Events in the analysts' `events` view once the projection had caught up with the store. */
  readonly viewEvents: number;
  /** How long that catching up was waited for. */
  readonly catchUpSeconds: number;
  /** The service's bounds, as it ran (its settings, from the environment or their defaults). */
  readonly concurrency: number;
  readonly timeoutMs: number;
  readonly maxRowsRead: number;
  readonly maxThreads: number;
  readonly clients: number;
  readonly seconds: number;
  /** The paced connections' pause, and the rate it was calibrated for (50% of deposits' saturation). */
  readonly delayMs: number;
  readonly queries: Record<string, string>;
  readonly phases: AnalyticsSqlPhase[];
  /**
   * The most accepted (not 429) queries whose windows overlapped, as the clients saw them: each
   * window from the request sent to its answer in, shortened at its end by the slowest 429's round
   * trip (an answer's way back, which the next query may overlap without running beside it).
   */
  readonly maxAtOnce: number;
}

export interface SubscriptionResult {
  /** Events stored before the consumers came. */
  readonly events: number;
  /** One SSE consumer reading them all from position 0. */
  readonly catchUpEventsPerSecond: number;
  /** Events a live consumer received while deposits were paced, and its delay from commit to receipt. */
  readonly liveSamples: number;
  readonly liveP50Ms: number;
  readonly liveP99Ms: number;
  /** Deposits at saturation without consumers (the mean of a run before and one after) and with 100. */
  readonly depositsAlone: number;
  readonly depositsWith100Consumers: number;
  /** A consumer that reads nothing: whether it was cut off, when, and the server's RSS growth until then. */
  readonly stalledCutOff: boolean;
  readonly stalledCutOffSeconds: number;
  readonly stalledRssGrowthBytes: number;
}

/** The embedded store's size on disk, after the load scenarios and after refusals under new keys. */
export interface StoreFootprint {
  readonly afterLoad: StoreSize;
  readonly afterRefusals: StoreSize;
  readonly refusals: number;
  /** The data directory's growth (database, WAL and all) over the refusals, per refusal. */
  readonly dataDirGrowthPerRefusal: number;
}

export interface Results {
  readonly startedAt: string;
  readonly full: boolean;
  readonly plan: Plan;
  readonly machine: { cpus: number; bun: string };
  readonly generator: string;
  /** The event store of each mode. */
  readonly eventStores: string;
  readonly ceiling: CeilingResult;
  readonly scenarios: ScenarioResult[];
  readonly lag: LagResult[];
  readonly memory: MemoryResult[];
  readonly touched: TouchedResult;
  readonly analytics: AnalyticsResult;
  readonly rehydration: RehydrationResult | null;
  readonly subscriptions: SubscriptionResult;
  readonly storeFootprint?: StoreFootprint;
  /** The analytics SQL stage, on the embedded server after its load scenarios. */
  readonly analyticsSql?: AnalyticsSqlResult;
  /** Set when the servers traced (`--otel`): how. */
  readonly tracing?: string;
  readonly skipped: string[];
}
