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
/** What a release hands to the queues at a time. */
const RELEASE_PAGE = 1_000;
/** How long a delivery or a release waits to try a file that refused it again. */
const FILE_RETRY_MS = 1_000;

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
      // Through the held deliveries, which stay on disk until it is applied: a crash loses nothing.
      this.file.requeue(projection, letter.id);
      this.release(projection, shards);
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
  /** Per projection, the loop that hands what the file holds to its queues, while one runs. */
  private readonly releasing = new Map<string, Promise<void>>();
  /** Projections whose release loop must look again from the start once its page is done. */
  private readonly releaseAgain = new Set<string>();
  private closed = false;
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
    const pushes: [ShardQueue, EventEnvelope][] = [];
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
        if (queue) pushes.push([queue, event]);
      }
    }
    // Kept on disk first: a file that refuses them fails the round before any projection sees it.
    for (const [projection, deliveries] of held) this.file.hold(projection, deliveries);
    await Promise.all(
      pushes.map(
        ([queue, event]) => new Promise<void>((settle) => queue.push({ event, attempt: 1, settle })),
      ),
    );
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
    if (!this.paused.has(projection)) this.release(projection, shards);

    const settleInFlight = async () => {
      const pending = inFlight;
      inFlight = new Set();
      await Promise.all(pending);
    };
    return {
      pause: async () => {
        this.paused.add(projection);
        // What waits in memory goes to the file too: its publishers must not wait for the resume.
        // Written before it leaves the queue: a file that refuses it leaves it where it was.
        for (const queue of shards) {
          this.file.hold(projection, queue.items);
          for (const item of queue.items.splice(0)) item.settle();
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

  /**
   * To its shard's queue, or to the file while the projection is paused. A file that refuses it
   * (a disk full) is tried again a second later: it stays unsettled, so its publisher waits.
   */
  private deliver(projection: string, shards: readonly ShardQueue[], item: Queued): void {
    if (this.paused.has(projection)) {
      try {
        this.file.hold(projection, [item]);
      } catch {
        this.later(() => this.deliver(projection, shards, item), FILE_RETRY_MS);
        return;
      }
      item.settle();
      return;
    }
    shards[shardOf(item.event.streamId, this.options.shards)]?.push(item);
  }

  private later(work: () => void, ms: number): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      work();
    }, ms);
    this.timers.add(timer);
  }

  /**
   * Hands what the file holds for a projection to its queues, a page at a time (a long pause may have
   * kept millions), each page once the one before is settled; the rows leave the file once settled,
   * a page in one transaction. One loop per projection, so no row is handed out twice (a row waiting
   * out a retry is still its loop's); asked again while it runs, it looks again once its page is done.
   */
  private release(projection: string, shards: readonly ShardQueue[]): void {
    if (this.releasing.has(projection)) {
      this.releaseAgain.add(projection);
      return;
    }
    const loop = (async () => {
      let after = 0;
      while (!this.closed && !this.paused.has(projection)) {
        const page = this.file.held(projection, after, RELEASE_PAGE);
        const last = page.at(-1);
        if (!last) {
          if (!this.releaseAgain.delete(projection)) return;
          after = 0;
          continue;
        }
        after = last.id;
        const settled = page.map(
          (row) =>
            new Promise<number>((settle) =>
              this.deliver(projection, shards, {
                event: row.event,
                attempt: row.attempt,
                held: row.id,
                settle: () => settle(row.id),
              }),
            ),
        );
        this.file.release(await Promise.all(settled));
      }
    })()
      .catch(() => {
        // The file refused a read or a delete: what it holds stays there, and is looked at again.
        this.later(() => this.release(projection, shards), FILE_RETRY_MS);
      })
      .finally(() => {
        this.releasing.delete(projection);
        // Asked again as it ended (a resume just after the pause that ended it): it looks again.
        if (this.releaseAgain.delete(projection)) this.release(projection, shards);
      });
    this.releasing.set(projection, loop);
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
      this.later(
        () => this.deliver(projection, shards, { ...item, attempt: item.attempt + 1 }),
        this.options.retry.backoffMs(item.attempt),
      );
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
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.file.close();
  }
}
