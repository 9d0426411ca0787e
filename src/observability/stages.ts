import type { Registry } from "prom-client";

/**
 * The stages of the durable write path, in the order a command passes them. Each command is timed
 * in each stage it passes (a command decided again after a clash passes some twice); the store's
 * stages, from `queue` to `hop`, count writes (the commands an actor decides together are one write,
 * and the relay's checkpoints are writes too):
 * - `edge`: from the request's arrival at its route to its dispatch (auth, parsing, validation);
 * - `mailbox`: waiting in its actor's mailbox behind the batch being written;
 * - `decide`: its actor deciding the batch it is in, and folding the events into a new state;
 * - `queue`: waiting in the store's group-commit queue for a batch to leave;
 * - `send`: the batch on its way to the writer (SQLite: serialized, posted, and waiting behind the
 *   batch the writer thread is still committing);
 * - `write`: the writer running the batch's statements, up to its commit (MongoDB: the whole round trip);
 * - `fsync`: the commit (SQLite: `COMMIT`, which is where `synchronous=FULL` syncs the WAL);
 * - `hop`: from the writer's end to the event loop taking its answer (a loop busy elsewhere shows here);
 * - `respond`: from the route's handler returning its reply to the response being made (JSON, headers,
 *   counting). The handler's own mapping of the outcome, between `hop` and `respond`, is not timed.
 */
export const writeStages = [
  "edge",
  "mailbox",
  "decide",
  "queue",
  "send",
  "write",
  "fsync",
  "hop",
  "respond",
] as const;
export type WriteStage = (typeof writeStages)[number];

/** Told how long commands spent in a stage: `count` commands, `ms` milliseconds each. */
export type StageObserver = (stage: WriteStage, ms: number, count?: number) => void;

/** Upper bounds in milliseconds: a stage may be a few microseconds (decide) or seconds (a stalled disk). */
const boundsMs = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500];

/**
 * A Prometheus histogram of the write stages (`eventfold_write_stage_seconds{stage}`), kept as plain
 * numbers: a command observes nine stages, and prom-client hashes the labels on every observation.
 */
export class StageHistogram {
  readonly name = "eventfold_write_stage_seconds";
  readonly help =
    "Time commands spend in each stage of the durable write path (edge, mailbox, decide, queue, send, write, fsync, hop, respond)";
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly counts = writeStages.map(() => new Float64Array(boundsMs.length + 1));
  private readonly sums = new Float64Array(writeStages.length);
  private readonly index = new Map<WriteStage, number>(writeStages.map((stage, i) => [stage, i]));

  constructor(registry: Registry) {
    // prom-client registers any object with a name and a `get()` that says the values.
    registry.registerMetric(this as never);
  }

  readonly observe: StageObserver = (stage, ms, count = 1) => {
    const i = this.index.get(stage) ?? 0;
    let bucket = 0;
    while (bucket < boundsMs.length && ms > (boundsMs[bucket] as number)) bucket += 1;
    const counts = this.counts[i] as Float64Array;
    counts[bucket] = (counts[bucket] ?? 0) + count;
    this.sums[i] = (this.sums[i] ?? 0) + ms * count;
  };

  get() {
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    for (const [i, stage] of writeStages.entries()) {
      const counts = this.counts[i] as Float64Array;
      let cumulative = 0;
      for (const [bucket, le] of [...boundsMs, Number.POSITIVE_INFINITY].entries()) {
        cumulative += counts[bucket] as number;
        values.push({
          metricName: `${this.name}_bucket`,
          labels: { le: le === Number.POSITIVE_INFINITY ? "+Inf" : le / 1000, stage },
          value: cumulative,
        });
      }
      values.push({
        metricName: `${this.name}_sum`,
        labels: { stage },
        value: (this.sums[i] as number) / 1000,
      });
      values.push({ metricName: `${this.name}_count`, labels: { stage }, value: cumulative });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
