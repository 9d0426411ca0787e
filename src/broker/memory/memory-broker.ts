import { errorMessage } from "../../lib/errors.ts";
import { pollUntil } from "../../lib/poll.ts";
import type { EventEnvelope } from "../../store/envelope.ts";
import type {
  BatchHandler,
  Broker,
  BrokerOptions,
  Delivery,
  ProjectionRoute,
  Subscription,
} from "../broker.ts";
import type { DeadLetters } from "../dead-letters.ts";
import { shardOf } from "../shard.ts";
import { DeadLetterFile } from "./dead-letter-file.ts";

interface Queued extends Delivery {
  /** Called once the delivery is applied or dead-lettered. */
  readonly settle: () => void;
}

class ShardQueue {
  readonly items: Queued[] = [];
  private wake: (() => void) | undefined;

  push(item: Queued): void {
    this.items.push(item);
    this.wake?.();
  }

  /** Resolves when there is something to take, or when `poke` is called. */
  waitForWork(): Promise<void> {
    if (this.items.length > 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.wake = () => {
        this.wake = undefined;
        resolve();
      };
    });
  }

  poke(): void {
    this.wake?.();
  }
}

/**
 * The broker for the embedded mode: queues in memory, with the same sharding, retry backoff and
 * dead-lettering as RabbitMQ. There is nothing durable in between, so `publish` resolves only once
 * every projection has applied (or dead-lettered) the events: the relay's checkpoint then never runs
 * ahead of what the projections hold, and a crash re-publishes whatever was in flight.
 */
export class MemoryBroker implements Broker {
  readonly name = "in-process";
  /** This broker's dead-letter port: the letters on disk, replayed onto these queues. */
  readonly deadLetters: DeadLetters = {
    list: async (projection, limit = 1000) =>
      this.deadLetterFile.list(projection, limit).map(({ id: _, ...letter }) => letter),
    replay: (projection, onProgress) => this.replayDeadLetters(projection, onProgress),
    count: async (projection) => this.deadLetterFile.count(projection),
  };
  private readonly routes = new Map<string, ProjectionRoute>();
  private readonly queues = new Map<string, ShardQueue[]>();
  private readonly timers = new Set<Timer>();
  private readonly deadLetterFile: DeadLetterFile;

  constructor(private readonly options: BrokerOptions & { readonly deadLetterPath: string }) {
    this.deadLetterFile = new DeadLetterFile(options.deadLetterPath);
  }

  async declare(routes: readonly ProjectionRoute[]): Promise<void> {
    for (const route of routes) {
      this.routes.set(route.name, route);
      if (!this.queues.has(route.name)) {
        this.queues.set(
          route.name,
          Array.from({ length: this.options.shards }, () => new ShardQueue()),
        );
      }
    }
  }

  async publish(events: readonly EventEnvelope[]): Promise<void> {
    const settled: Promise<void>[] = [];
    for (const event of events) {
      const shard = shardOf(event.streamId, this.options.shards);
      for (const route of this.routes.values()) {
        if (!route.aggregateTypes.includes(event.aggregateType)) continue;
        const queue = this.queues.get(route.name)?.[shard];
        if (!queue) continue;
        settled.push(new Promise((settle) => queue.push({ event, attempt: 1, settle })));
      }
    }
    await Promise.all(settled);
  }

  async subscribe(projection: string, handler: BatchHandler): Promise<Subscription> {
    const shards = this.queues.get(projection);
    if (!shards) throw new Error(`no such projection: ${projection}`);
    let paused = false;
    let closed = false;
    let inFlight = new Set<Promise<void>>();

    const consume = async (queue: ShardQueue) => {
      while (!closed) {
        await queue.waitForWork();
        if (paused) {
          // `resume` wakes only a loop waiting for work; one that was handed work while paused looks
          // again every 5 ms.
          await pollUntil(
            () => paused && !closed,
            (stillPaused) => !stillPaused,
            { timeoutMs: Number.POSITIVE_INFINITY, intervalMs: 5 },
          );
          continue;
        }
        if (closed || queue.items.length === 0) continue;
        const batch = queue.items.splice(0, this.options.batchSize);
        const work = this.handleBatch(projection, queue, batch, handler);
        inFlight.add(work);
        await work;
        inFlight.delete(work);
      }
    };
    for (const queue of shards) void consume(queue);

    const settleInFlight = async () => {
      const pending = inFlight;
      inFlight = new Set();
      await Promise.all(pending);
    };
    return {
      pause: async () => {
        paused = true;
        await settleInFlight();
      },
      resume: async () => {
        paused = false;
        for (const queue of shards) queue.poke();
      },
      close: async () => {
        closed = true;
        for (const queue of shards) queue.poke();
        await settleInFlight();
      },
    };
  }

  private async handleBatch(projection: string, queue: ShardQueue, batch: Queued[], handler: BatchHandler) {
    let verdicts: readonly { ok: boolean; error?: string }[];
    try {
      verdicts = await handler(batch);
    } catch (error) {
      verdicts = batch.map(() => ({
        ok: false,
        error: errorMessage(error),
      }));
    }
    for (const [i, item] of batch.entries()) {
      const verdict = verdicts[i];
      if (verdict?.ok) {
        item.settle();
        continue;
      }
      const error = verdict?.error ?? "no verdict";
      if (item.attempt >= this.options.retry.maxAttempts) {
        this.deadLetterFile.add(projection, item.event, error, item.attempt);
        item.settle();
        continue;
      }
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        queue.push({ ...item, attempt: item.attempt + 1 });
      }, this.options.retry.backoffMs(item.attempt));
      this.timers.add(timer);
    }
  }

  private async replayDeadLetters(
    projection: string,
    onProgress?: (done: number, total: number) => void,
  ): Promise<number> {
    const letters = this.deadLetterFile.list(projection, Number.MAX_SAFE_INTEGER);
    const shards = this.queues.get(projection);
    if (!shards) throw new Error(`no such projection: ${projection}`);
    let done = 0;
    await Promise.all(
      letters.map(async (letter) => {
        this.deadLetterFile.remove(letter.id);
        const queue = shards[shardOf(letter.event.streamId, this.options.shards)];
        await new Promise<void>((settle) => queue?.push({ event: letter.event, attempt: 1, settle }));
        onProgress?.(++done, letters.length);
      }),
    );
    return letters.length;
  }

  async queued(projection: string): Promise<number> {
    return (this.queues.get(projection) ?? []).reduce((n, q) => n + q.items.length, 0);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.deadLetterFile.close();
  }
}
