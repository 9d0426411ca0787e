import type { Connection, Publisher } from "rabbitmq-client";
import type { EventEnvelope } from "../../store/envelope.ts";
import type { DeadLetter, DeadLetters } from "../dead-letters.ts";
import { shardOf } from "../shard.ts";
import { decode, decodeDeadLetters, encode } from "./codec.ts";
import type { Topology } from "./topology.ts";

/** The projections' dead-letter queues: one per projection, fed by the consumers and by RabbitMQ itself. */
export class RabbitMqDeadLetters implements DeadLetters {
  /**
   * Per projection, the last operation on its dead-letter queue. They go one at a time: a list reads
   * the queue without acknowledging, which hides what it read from every other channel until it is
   * done, so an operation beside it would not find a letter that is there (nor count it).
   */
  private readonly last = new Map<string, Promise<unknown>>();

  constructor(
    private readonly connection: Connection,
    /** The broker's confirming publisher: a replayed letter is acked only once its copy is confirmed. */
    private readonly publisher: Publisher,
    private readonly names: Topology,
    private readonly shards: number,
  ) {}

  private serially<T>(projection: string, work: () => Promise<T>): Promise<T> {
    const next = (this.last.get(projection) ?? Promise.resolve()).then(work, work);
    this.last.set(
      projection,
      next.catch(() => {}),
    );
    return next;
  }

  list(projection: string, limit = 1000): Promise<DeadLetter[]> {
    return this.serially(projection, () => this.read(projection, limit));
  }

  private async read(projection: string, limit: number): Promise<DeadLetter[]> {
    // Unacknowledged gets on a channel of our own: closing it puts every message back, in order.
    const channel = await this.connection.acquire();
    try {
      const letters: DeadLetter[] = [];
      while (letters.length < limit) {
        const message = await channel.basicGet({ queue: this.names.deadLetterQueue(projection) });
        if (!message) break;
        letters.push(...decodeDeadLetters(message));
      }
      return letters.slice(0, limit);
    } finally {
      await channel.close();
    }
  }

  replay(projection: string, onProgress?: (done: number, total: number) => void): Promise<number> {
    return this.serially(projection, () => this.replayAll(projection, onProgress));
  }

  private async replayAll(
    projection: string,
    onProgress?: (done: number, total: number) => void,
  ): Promise<number> {
    const queue = this.names.deadLetterQueue(projection);
    const channel = await this.connection.acquire();
    // Until the queue is empty, or a letter comes round again (it failed anew during the replay).
    const replayed = new Set<string>();
    try {
      for (;;) {
        const message = await channel.basicGet({ queue });
        if (!message) break;
        const events = decode(message.body);
        const first = events[0];
        if (!first || replayed.has(first.eventId)) {
          channel.basicNack({ deliveryTag: message.deliveryTag, requeue: true });
          break;
        }
        // A message holds the events of one shard, so it goes back as it is.
        await this.requeue(projection, events, message.messageId);
        channel.basicAck({ deliveryTag: message.deliveryTag });
        for (const event of events) replayed.add(event.eventId);
        onProgress?.(replayed.size, replayed.size + message.messageCount);
      }
    } finally {
      await channel.close();
    }
    return replayed.size;
  }

  replayOne(projection: string, eventId: string): Promise<boolean> {
    return this.serially(projection, () =>
      this.takeOne(projection, eventId, (event) => this.requeue(projection, [event], event.eventId)),
    );
  }

  discard(projection: string, eventId: string): Promise<boolean> {
    return this.serially(projection, () => this.takeOne(projection, eventId, async () => {}));
  }

  /**
   * Finds the letter of one event and hands it to `use`, then takes it off the queue. The queue is read
   * with unacknowledged gets on a channel of its own, so whatever else was read goes back, in order,
   * when the channel closes. A message RabbitMQ dead-lettered itself may hold several events: the
   * others go back to the dead letters as a message of their own, with its error and tries, once the
   * one asked for is used and before the original is acknowledged (a failure in between leaves the
   * original where it was: at worst a replayed event is replayed again, which a projection takes).
   */
  private async takeOne(
    projection: string,
    eventId: string,
    use: (event: EventEnvelope) => Promise<void>,
  ): Promise<boolean> {
    const queue = this.names.deadLetterQueue(projection);
    const channel = await this.connection.acquire();
    try {
      for (;;) {
        const message = await channel.basicGet({ queue });
        if (!message) return false;
        const letters = decodeDeadLetters(message);
        const found = letters.find((letter) => letter.event.eventId === eventId);
        if (!found) continue;
        await use(found.event);
        const others = letters.filter((letter) => letter !== found);
        const first = others[0];
        if (first) {
          const kept = encode(
            others.map((letter) => letter.event),
            {
              attempt: first.attempts,
              error: first.error,
              ...(first.deadLetteredAt === null ? {} : { deadLetteredAt: first.deadLetteredAt }),
            },
          );
          await this.publisher.send(
            {
              exchange: this.names.deadLetterExchange,
              routingKey: projection,
              durable: true,
              messageId: message.messageId,
              contentType: "application/json",
              headers: kept.headers,
            },
            kept.body,
          );
        }
        channel.basicAck({ deliveryTag: message.deliveryTag });
        return true;
      }
    } finally {
      await channel.close();
    }
  }

  /** Publishes events of one shard to the shard's queue as first tries, confirmed. */
  private async requeue(projection: string, events: readonly EventEnvelope[], messageId?: string) {
    const first = events[0];
    if (!first) return;
    const replay = encode(events, { attempt: 1 });
    await this.publisher.send(
      {
        exchange: "",
        routingKey: this.names.shardQueue(projection, shardOf(first.streamId, this.shards)),
        durable: true,
        messageId,
        contentType: "application/json",
        headers: replay.headers,
      },
      replay.body,
    );
  }

  count(projection: string): Promise<number> {
    return this.serially(projection, async () => {
      const dead = await this.connection.queueDeclare({
        queue: this.names.deadLetterQueue(projection),
        passive: true,
      });
      return dead.messageCount;
    });
  }
}
