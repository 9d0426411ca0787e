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
  /** Set when the servers traced (`--otel`): how. */
  readonly tracing?: string;
  readonly skipped: string[];
}
