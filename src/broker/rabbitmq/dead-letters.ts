import type { Connection, Publisher } from "rabbitmq-client";
import type { DeadLetter, DeadLetters } from "../dead-letters.ts";
import { shardOf } from "../shard.ts";
import { decode, decodeDeadLetters, encode } from "./codec.ts";
import type { Topology } from "./topology.ts";

/** The projections' dead-letter queues: one per projection, fed by the consumers and by RabbitMQ itself. */
export class RabbitMqDeadLetters implements DeadLetters {
  constructor(
    private readonly connection: Connection,
    /** The broker's confirming publisher: a replayed letter is acked only once its copy is confirmed. */
    private readonly publisher: Publisher,
    private readonly names: Topology,
    private readonly shards: number,
  ) {}

  async list(projection: string, limit = 1000): Promise<DeadLetter[]> {
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

  async replay(projection: string, onProgress?: (done: number, total: number) => void): Promise<number> {
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
        const replay = encode(events, { attempt: 1 });
        await this.publisher.send(
          {
            exchange: "",
            routingKey: this.names.shardQueue(projection, shardOf(first.streamId, this.shards)),
            durable: true,
            messageId: message.messageId,
            contentType: "application/json",
            headers: replay.headers,
          },
          replay.body,
        );
        channel.basicAck({ deliveryTag: message.deliveryTag });
        for (const event of events) replayed.add(event.eventId);
        onProgress?.(replayed.size, replayed.size + message.messageCount);
      }
    } finally {
      await channel.close();
    }
    return replayed.size;
  }

  async count(projection: string): Promise<number> {
    const dead = await this.connection.queueDeclare({
      queue: this.names.deadLetterQueue(projection),
      passive: true,
    });
    return dead.messageCount;
  }
}
