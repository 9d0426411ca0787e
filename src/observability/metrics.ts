import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { FastHistogram } from "./histogram.ts";
import { stageHistogram } from "./stages.ts";
import { CounterTally } from "./tally.ts";

/**
 * The engine's Prometheus metrics, one registry per engine so tests can run several side by side.
 * `thread` names the thread whose registry it is, in the metrics that are per thread.
 */
export const createMetrics = (thread = "main") => {
  const registry = new Registry();
  new Gauge({
    name: "eventfold_heap_bytes",
    help: "JavaScript heap in use, by thread (each thread has a heap of its own)",
    labelNames: ["thread"] as const,
    registers: [registry],
    collect() {
      this.set({ thread }, process.memoryUsage().heapUsed);
    },
  });
  const commandCounts = new CounterTally<"route" | "outcome">();
  const httpRequestCounts = new CounterTally<"method" | "route" | "status">();
  const metrics = {
    registry,
    /** Per request: counted as plain numbers, handed to `commands` at scrape time. */
    commandCounts,
    commands: new Counter({
      name: "eventfold_commands_total",
      help: "Commands handled, by route and outcome (accepted, a refusal code, or an error)",
      labelNames: ["route", "outcome"] as const,
      registers: [registry],
      collect() {
        commandCounts.flushInto(this);
      },
    }),
    commandDuration: new FastHistogram<string>(
      registry,
      "eventfold_command_duration_seconds",
      "Time from request to answer for commands, including the durable append",
      "route",
      [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500],
    ),
    /**
     * Apart from the commands': a read appends nothing, and its bounds reach lower (a hot lookup
     * answers in well under a millisecond) and higher (an analytics query, a long poll of the log).
     */
    readDuration: new FastHistogram<string>(
      registry,
      "eventfold_read_duration_seconds",
      "Time from request to answer (for a stream, to its head) for reads (GET routes): accounts, analytics, the event log, admin",
      "route",
      [0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000],
    ),
    /** Per request: counted as plain numbers, handed to `httpRequests` at scrape time. */
    httpRequestCounts,
    httpRequests: new Counter({
      name: "eventfold_http_requests_total",
      help: "HTTP requests by method, route and status",
      labelNames: ["method", "route", "status"] as const,
      registers: [registry],
      collect() {
        httpRequestCounts.flushInto(this);
      },
    }),
    /** Where a command's time goes on the durable write path; see `stages.ts`. */
    writeStages: stageHistogram(registry),
    appendBatchSize: new Histogram({
      name: "eventfold_append_batch_writes",
      help: "Writes per group-committed store round trip",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
      registers: [registry],
    }),
    appendConflicts: new Counter({
      name: "eventfold_append_conflicts_total",
      help: "Appends refused by optimistic concurrency (another writer won); each is reloaded and retried",
      registers: [registry],
    }),
    projectionLag: new Histogram({
      name: "eventfold_projection_lag_seconds",
      help: "Time from an event's append to its being applied by a projection",
      labelNames: ["projection"] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 2.5, 3, 5, 10, 30],
      registers: [registry],
    }),
    projectionFailures: new Counter({
      name: "eventfold_projection_failures_total",
      help: "Events a projection failed to apply (each is retried, then dead-lettered)",
      labelNames: ["projection"] as const,
      registers: [registry],
    }),
    relayPublished: new Counter({
      name: "eventfold_relay_published_total",
      help: "Events published by the outbox relay with broker confirms",
      registers: [registry],
    }),
    overloaded: new Counter({
      name: "eventfold_overloaded_total",
      help: "Commands shed because a mailbox or the write pipeline was full",
      labelNames: ["where"] as const,
      registers: [registry],
    }),
  };
  return metrics;
};

/**
 * prom-client's default metrics that Bun does not fill: the active handles, requests and resources
 * are always 0 (and their `_total` gauges break Prometheus's naming), the V8 heap spaces do not exist
 * in JavaScriptCore (all but one read 0), and no garbage collection is ever observed.
 */
const unfilled = /^nodejs_(active_(handles|requests|resources)|heap_space_|gc_)/;

/**
 * prom-client's default metrics, from the main thread only: the process's CPU, memory, file
 * descriptors and start time are one process's, whichever thread reads them, and the read side's
 * thread would only report them again (summed into twice the figure by the edge's scrape). The
 * runtime's (`nodejs_heap_*`, `nodejs_eventloop_lag_*`) are this thread's: the edge and the actors;
 * `eventfold_heap_bytes{thread}` has each thread's heap.
 */
export const collectProcessMetrics = (metrics: Metrics): void => {
  const { registry } = metrics;
  collectDefaultMetrics({ register: registry });
  for (const { name } of registry.getMetricsAsArray())
    if (unfilled.test(name)) registry.removeSingleMetric(name);
};

/** A counter of what `read()` counts (since start) at scrape time, so nothing has to keep it up to date. */
export const observeCounter = (metrics: Metrics, name: string, help: string, read: () => number) => {
  new Counter({
    name,
    help,
    registers: [metrics.registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
};

/** A gauge read from `read()` at scrape time, so nothing has to keep it up to date. */
export const observeGauge = (
  metrics: Metrics,
  name: string,
  help: string,
  read: () => number | Promise<number>,
) => {
  new Gauge({
    name,
    help,
    registers: [metrics.registry],
    async collect() {
      this.set(await read());
    },
  });
};

/** Like `observeGauge`, with one value per label set. */
export const observeLabelledGauge = <L extends string>(
  metrics: Metrics,
  name: string,
  help: string,
  label: L,
  read: () => Promise<Record<string, number>>,
) => {
  new Gauge({
    name,
    help,
    labelNames: [label],
    registers: [metrics.registry],
    async collect() {
      this.reset();
      for (const [value, n] of Object.entries(await read()))
        this.set({ [label]: value } as Record<L, string>, n);
    },
  });
};

export type Metrics = ReturnType<typeof createMetrics>;
