import type { Connection, Publisher } from "rabbitmq-client";
import type { EventEnvelope } from "../../store/envelope.ts";
import { shardOf } from "../shard.ts";
import { encode } from "./codec.ts";
import { routingKey, type Topology } from "./topology.ts";

/**
 * The one channel this process sends on (events, retries, dead letters, replays), in confirm mode: a
 * send resolves only once RabbitMQ has taken responsibility for the message.
 */
export const confirmingPublisher = (connection: Connection, names: Topology): Publisher =>
  connection.createPublisher({
    confirm: true,
    maxAttempts: 5,
    exchanges: [{ exchange: names.eventsExchange, type: "topic", durable: true }],
  });

export interface PublishOptions {
  readonly shards: number;
  /** Most events in one message. */
  readonly eventsPerMessage: number;
}

/** Sends `events` to the events exchange; resolves once RabbitMQ has confirmed every message. */
export const publishEvents = async (
  publisher: Publisher,
  names: Topology,
  events: readonly EventEnvelope[],
  options: PublishOptions,
): Promise<void> => {
  // Sent back to back on one confirming channel: AMQP keeps their order, confirms come back in bulk.
  await Promise.all(
    toMessages(events, options).map(({ shard, aggregateType, events: held }) => {
      const first = held[0] as EventEnvelope;
      const type = held.length === 1 ? first.type : undefined;
      const message = encode(held);
      return publisher.send(
        {
          exchange: names.eventsExchange,
          routingKey: routingKey(shard, aggregateType, type ?? "batch"),
          durable: true,
          messageId: first.eventId,
          correlationId: first.metadata.correlationId,
          contentType: "application/json",
          ...(type ? { type } : {}),
          headers: message.headers,
        },
        message.body,
      );
    }),
  );
};

interface Message {
  readonly shard: number;
  readonly aggregateType: string;
  readonly events: EventEnvelope[];
}

/** Events grouped by shard and aggregate type (a stream's events stay in order), in message-sized runs. */
const toMessages = (
  events: readonly EventEnvelope[],
  { shards, eventsPerMessage }: PublishOptions,
): Message[] => {
  const open = new Map<string, Message>();
  const messages: Message[] = [];
  for (const event of events) {
    const shard = shardOf(event.streamId, shards);
    const key = `${shard} ${event.aggregateType}`;
    let message = open.get(key);
    if (!message || message.events.length >= eventsPerMessage) {
      message = { shard, aggregateType: event.aggregateType, events: [] };
      open.set(key, message);
      messages.push(message);
    }
    message.events.push(event);
  }
  return messages;
};
