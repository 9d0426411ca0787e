import { realScheduler, type Scheduler } from "./scheduler.ts";

/** The batcher's queue is full: the caller should shed load. */
export class BatcherFullError extends Error {
  override readonly name = "BatcherFullError";
}

export interface BatcherOptions<Req = unknown> {
  /** Most requests written in one store round trip (or most weight, with `weigh`). */
  readonly maxBatch: number;
  /**
   * How much a request counts toward `maxBatch` (default 1). A request that is itself a batch (the
   * analytics inserter's rows) weighs its size, so a batch closes at so many rows, not so many parts.
   */
  readonly weigh?: (request: Req) => number;
  /** Most requests waiting for a batch; beyond it `submit` fails fast, with `full()`. */
  readonly maxPending?: number;
  /** The error a submit gets when `maxPending` are waiting (default a `BatcherFullError`). */
  readonly full?: () => Error;
  /**
   * How long a first request waits for others before its batch goes; 0 (the default) is the next turn
   * of the event loop. Requests that trickle in one by one (a broker consumer's messages) need longer
   * to make a batch; a full batch never waits.
   */
  readonly lingerMs?: number;
  /**
   * Instead of lingering after the first request: batches start at least this far apart, unless one
   * is full. A steady stream goes once per interval and waits less than one interval; a request after
   * a quiet spell goes at once. For writers that want few, large writes (ClickHouse inserts).
   */
  readonly minIntervalMs?: number;
  /**
   * Batches sent before the previous one is answered (default 1). A writer that takes batches in
   * order (one thread, one connection) can start the next as soon as it finishes one, instead of
   * idling for the round trip; answers still come back in submission order.
   */
  readonly maxInFlight?: number;
  /** Observes each flushed batch's size, for metrics. */
  readonly onBatch?: (size: number) => void;
  /** Told, as a batch leaves, how long each of its requests waited in the queue. */
  readonly onWaited?: (ms: number) => void;
  /** Time (default: the event loop's). */
  readonly scheduler?: Scheduler;
}

interface Pending<Req, Res> {
  readonly request: Req;
  readonly weight: number;
  /** When it was submitted, on the scheduler's clock. */
  readonly at: number;
  readonly resolve: (result: Res) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Batching (group commit, for a store): requests that arrive while a batch is being written wait and
 * go together in the next one, so under load one round trip serves many writers. Idle, a request is written on the
 * next turn of the event loop (or after `lingerMs`), so batching costs little latency. Batches are
 * handed to the writer in submission order, `maxInFlight` at a time. The event stores batch appends
 * with it, the RabbitMQ consumer batches deliveries for a projection, and the analytics projection
 * batches inserts.
 */
export class Batcher<Req, Res> {
  private queue: Pending<Req, Res>[] = [];
  private queuedWeight = 0;
  private inFlight = 0;
  private scheduled = false;
  private cancelLinger: (() => void) | undefined;
  private lastFlushAt = Number.NEGATIVE_INFINITY;
  private idle: (() => void)[] = [];
  private readonly scheduler: Scheduler;

  constructor(
    private readonly write: (batch: readonly Req[]) => Promise<readonly Res[]> | readonly Res[],
    private readonly options: BatcherOptions<Req>,
  ) {
    this.scheduler = options.scheduler ?? realScheduler;
  }

  get pending(): number {
    return this.queue.length;
  }

  submit(request: Req): Promise<Res> {
    if (this.queue.length >= (this.options.maxPending ?? Number.POSITIVE_INFINITY)) {
      return Promise.reject(this.options.full?.() ?? new BatcherFullError("the batcher's queue is full"));
    }
    const weight = this.options.weigh?.(request) ?? 1;
    return new Promise<Res>((resolve, reject) => {
      this.queue.push({ request, weight, at: this.scheduler.now(), resolve, reject });
      this.queuedWeight += weight;
      this.schedule();
    });
  }

  /** Resolves once every request submitted so far is written. */
  drain(): Promise<void> {
    if (this.inFlight === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private schedule(): void {
    if (this.inFlight >= (this.options.maxInFlight ?? 1)) return;
    const { minIntervalMs } = this.options;
    const linger =
      minIntervalMs === undefined
        ? (this.options.lingerMs ?? 0)
        : Math.max(0, this.lastFlushAt + minIntervalMs - this.scheduler.now());
    if (linger > 0 && this.queuedWeight >= this.options.maxBatch) {
      this.cancelLinger?.();
      this.scheduled = false;
      this.flush();
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    const go = () => {
      this.scheduled = false;
      this.flush();
    };
    if (linger > 0) this.cancelLinger = this.scheduler.after(linger, go);
    else this.scheduler.soon(go);
  }

  private flush(): void {
    const maxInFlight = this.options.maxInFlight ?? 1;
    while (this.queue.length > 0 && this.inFlight < maxInFlight) {
      this.inFlight += 1;
      this.lastFlushAt = this.scheduler.now();
      void this.writeBatch(this.takeBatch());
    }
  }

  /** The oldest requests up to `maxBatch` in weight; at least one, however heavy. */
  private takeBatch(): Pending<Req, Res>[] {
    let count = 0;
    let weight = 0;
    for (const p of this.queue) {
      if (count > 0 && weight + p.weight > this.options.maxBatch) break;
      count += 1;
      weight += p.weight;
    }
    this.queuedWeight -= weight;
    const batch = this.queue.splice(0, count);
    const { onWaited } = this.options;
    if (onWaited) {
      const now = this.scheduler.now();
      for (const p of batch) onWaited(now - p.at);
    }
    return batch;
  }

  private async writeBatch(batch: Pending<Req, Res>[]): Promise<void> {
    try {
      const results = await this.write(batch.map((p) => p.request));
      this.options.onBatch?.(batch.length);
      for (const [i, p] of batch.entries()) p.resolve(results[i] as Res);
    } catch (error) {
      for (const p of batch) p.reject(error);
    }
    // Let the requests that came in during the write join the next batch.
    if (this.queue.length > 0 && this.queuedWeight < this.options.maxBatch) {
      await new Promise<void>((resolve) => this.scheduler.soon(resolve));
    }
    this.inFlight -= 1;
    if (this.options.minIntervalMs === undefined) this.flush();
    else if (this.queue.length > 0) this.schedule();
    if (this.inFlight === 0 && this.queue.length === 0) for (const resolve of this.idle.splice(0)) resolve();
  }
}
