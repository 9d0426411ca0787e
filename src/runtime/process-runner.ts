import { type AnyAggregate, idOfStream } from "../aggregate.ts";
import { exponentialBackoff } from "../lib/backoff.ts";
import type { EventStore } from "../store/event-store.ts";

/**
 * A durable process (a saga): its progress is an aggregate's stream, and `run` moves it on until the
 * aggregate is final. Every step must be idempotent, because after a crash `run` starts again from
 * whatever the stream says, and two processes may run it at once.
 */
export interface ProcessManager<Ctx> {
  readonly aggregate: AnyAggregate;
  run(context: Ctx, id: string): Promise<void>;
}

export interface ProcessRunnerOptions {
  readonly onError: (error: unknown, process: string, id: string, attempt: number) => void;
  readonly maxBackoffMs?: number;
}

/** Runs processes in the background, once per id at a time, retrying failures with growing backoff. */
export class ProcessRunner<Ctx> {
  private readonly running = new Map<string, Promise<void>>();
  /** Ends the backoff pauses at once, on drain. */
  private readonly wakers = new Set<() => void>();
  private stopped = false;

  /** `context` is read when a process runs, so the runner can be built before what it serves. */
  constructor(
    private readonly context: () => Ctx,
    private readonly options: ProcessRunnerOptions,
  ) {}

  get active(): number {
    return this.running.size;
  }

  start(process: ProcessManager<Ctx>, id: string): Promise<void> {
    const key = `${process.aggregate.type}:${id}`;
    const existing = this.running.get(key);
    if (existing) return existing;
    const run = this.runWithRetry(process, id).finally(() => this.running.delete(key));
    this.running.set(key, run);
    return run;
  }

  /** Starts every process the store says is unfinished: what a crash left half-done. */
  async resumeAll(store: EventStore, processes: readonly ProcessManager<Ctx>[]): Promise<number> {
    let count = 0;
    for (const process of processes) {
      for await (const streamId of store.nonFinalStreams(process.aggregate.type)) {
        void this.start(process, idOfStream(process.aggregate.type, streamId));
        count += 1;
      }
    }
    return count;
  }

  /** Lets running processes finish their current attempt; retries after this are left to the next start. */
  async drain(): Promise<void> {
    this.stopped = true;
    for (const wake of this.wakers) wake();
    await Promise.allSettled([...this.running.values()]);
  }

  /** A backoff pause that a drain ends at once. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  private async runWithRetry(process: ProcessManager<Ctx>, id: string): Promise<void> {
    // Jittered: the processes a store outage failed together do not all come back at once.
    const backoff = exponentialBackoff({
      baseMs: 100,
      maxMs: this.options.maxBackoffMs ?? 30_000,
      jitter: 0.5,
    });
    for (let attempt = 1; ; attempt++) {
      try {
        await process.run(this.context(), id);
        return;
      } catch (error) {
        this.options.onError(error, process.aggregate.type, id, attempt);
        if (this.stopped) return;
        await this.pause(backoff(attempt));
        if (this.stopped) return;
      }
    }
  }
}
