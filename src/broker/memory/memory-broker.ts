import { errorMessage } from "../../lib/errors.ts";
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
import { QueueFile } from "./queue-file.ts";

interface Queued extends Delivery {
  /** Called once the delivery is applied or dead-lettered. */
  readonly settle: () => void;
  /** Its row in the file, while it came from there and is not settled yet (counted there). */
  readonly held?: number;
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
 * every projection has applied (or dead-lettered) the events, or, for a paused projection, has kept
 * them on disk: the relay's checkpoint then never runs ahead of what the projections hold or will be
 * given, and a crash re-publishes whatever was in flight.
 */
export class MemoryBroker implements Broker {
  readonly name = "in-process";
  /** This broker's dead-letter port: the letters on disk, replayed onto these queues. */
  readonly deadLetters: DeadLetters = {
    list: async (projection, limit = 1000) =>
      this.file.list(projection, limit).map(({ id: _, ...letter }) => letter),
    replay: (projection, onProgress) => this.replayDeadLetters(projection, onProgress),
    replayOne: async (projection, eventId) => {
      const shards = this.shardsOf(projection);
      const letter = this.file.find(projection, eventId);
      if (!letter) return false;
      // Taken off the list once it is back on a queue: a crash in between leaves it listed, not lost.
      this.deliver(projection, shards, { event: letter.event, attempt: 1, settle: () => {} });
      this.file.remove(letter.id);
      return true;
    },
    discard: async (projection, eventId) => {
      this.shardsOf(projection);
      const letter = this.file.find(projection, eventId);
      if (letter) this.file.remove(letter.id);
      return letter !== undefined;
    },
    count: async (projection) => this.file.count(projection),
  };
  private readonly routes = new Map<string, ProjectionRoute>();
  private readonly queues = new Map<string, ShardQueue[]>();
  /** Projections whose deliveries go to the file until they resume. */
  private readonly paused = new Set<string>();
  private readonly timers = new Set<Timer>();
  private readonly file: QueueFile;

  constructor(private readonly options: BrokerOptions & { readonly deadLetterPath: string }) {
    this.file = new QueueFile(options.deadLetterPath);
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
    const held = new Map<string, { event: EventEnvelope; attempt: number }[]>();
    for (const event of events) {
      const shard = shardOf(event.streamId, this.options.shards);
      for (const route of this.routes.values()) {
        if (!route.aggregateTypes.includes(event.aggregateType)) continue;
        if (this.paused.has(route.name)) {
          const kept = held.get(route.name) ?? [];
          kept.push({ event, attempt: 1 });
          held.set(route.name, kept);
          continue;
        }
        const queue = this.queues.get(route.name)?.[shard];
        if (!queue) continue;
        settled.push(new Promise((settle) => queue.push({ event, attempt: 1, settle })));
      }
    }
    for (const [projection, deliveries] of held) this.file.hold(projection, deliveries);
    await Promise.all(settled);
  }

  async subscribe(projection: string, handler: BatchHandler): Promise<Subscription> {
    const shards = this.shardsOf(projection);
    let closed = false;
    let inFlight = new Set<Promise<void>>();

    const consume = async (queue: ShardQueue) => {
      while (!closed) {
        await queue.waitForWork();
        if (closed || queue.items.length === 0) continue;
        const batch = queue.items.splice(0, this.options.batchSize);
        const work = this.handleBatch(projection, shards, batch, handler);
        inFlight.add(work);
        await work;
        inFlight.delete(work);
      }
    };
    for (const queue of shards) void consume(queue);
    // What was held when the process stopped is delivered now (a pause does not outlive it).
    this.release(projection, shards);

    const settleInFlight = async () => {
      const pending = inFlight;
      inFlight = new Set();
      await Promise.all(pending);
    };
    return {
      pause: async () => {
        this.paused.add(projection);
        // What waits in memory goes to the file too: its publishers must not wait for the resume.
        for (const queue of shards) {
          const waiting = queue.items.splice(0);
          this.file.hold(projection, waiting);
          for (const item of waiting) item.settle();
        }
        await settleInFlight();
      },
      resume: async () => {
        if (!this.paused.delete(projection)) return;
        this.release(projection, shards);
      },
      close: async () => {
        closed = true;
        for (const queue of shards) queue.poke();
        await settleInFlight();
      },
    };
  }

  private shardsOf(projection: string): ShardQueue[] {
    const shards = this.queues.get(projection);
    if (!shards) throw new Error(`no such projection: ${projection}`);
    return shards;
  }

  /** To its shard's queue, or to the file while the projection is paused. */
  private deliver(projection: string, shards: readonly ShardQueue[], item: Queued): void {
    if (this.paused.has(projection)) {
      this.file.hold(projection, [item]);
      item.settle();
      return;
    }
    shards[shardOf(item.event.streamId, this.options.shards)]?.push(item);
  }

  /** Puts what the file holds for a projection on its queues; each leaves the file once settled. */
  private release(projection: string, shards: readonly ShardQueue[]): void {
    for (const { id, event, attempt } of this.file.held(projection)) {
      this.deliver(projection, shards, { event, attempt, held: id, settle: () => this.file.release(id) });
    }
  }

  private async handleBatch(
    projection: string,
    shards: readonly ShardQueue[],
    batch: Queued[],
    handler: BatchHandler,
  ) {
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
        this.file.add(projection, item.event, error, item.attempt);
        item.settle();
        continue;
      }
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.deliver(projection, shards, { ...item, attempt: item.attempt + 1 });
      }, this.options.retry.backoffMs(item.attempt));
      this.timers.add(timer);
    }
  }

  private async replayDeadLetters(
    projection: string,
    onProgress?: (done: number, total: number) => void,
  ): Promise<number> {
    const letters = this.file.list(projection, Number.MAX_SAFE_INTEGER);
    const shards = this.shardsOf(projection);
    let done = 0;
    await Promise.all(
      letters.map(async (letter) => {
        this.file.remove(letter.id);
        await new Promise<void>((settle) =>
          this.deliver(projection, shards, { event: letter.event, attempt: 1, settle }),
        );
        onProgress?.(++done, letters.length);
      }),
    );
    return letters.length;
  }

  async queued(projection: string): Promise<number> {
    const inMemory = (this.queues.get(projection) ?? []).reduce(
      (n, q) => n + q.items.filter((item) => item.held === undefined).length,
      0,
    );
    return inMemory + this.file.heldCount(projection);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.file.close();
  }
}
