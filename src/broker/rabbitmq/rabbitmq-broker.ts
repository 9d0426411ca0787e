import {
  type AsyncMessage,
  Connection,
  ConsumerStatus,
  type Publisher,
  type SyncMessage,
} from "rabbitmq-client";
import { Batcher } from "../../lib/batcher.ts";
import type { EventEnvelope } from "../../store/envelope.ts";
import type {
  BatchHandler,
  Broker,
  BrokerOptions,
  DeadLetter,
  Delivery,
  ProjectionRoute,
  Subscription,
  Verdict,
} from "../broker.ts";
import { shardOf } from "../shard.ts";
import { headers, routingKey, type Topology, topology } from "./topology.ts";

type MessageHeaders = Record<string, unknown> | undefined;

/** A message holds one event, or (as published by the relay) several of one shard and aggregate type. */
const decode = (body: unknown): EventEnvelope[] => {
  const parsed = (Buffer.isBuffer(body) ? JSON.parse(body.toString("utf8")) : body) as
    | EventEnvelope
    | EventEnvelope[];
  return Array.isArray(parsed) ? parsed : [parsed];
};

/**
 * The body and headers of a message holding `events`: how many, and, for a single event, which one
 * and its trace context (several events each carry theirs in their metadata).
 */
const eventsMessage = (events: readonly EventEnvelope[]) => {
  const only = events.length === 1 ? events[0] : undefined;
  return {
    body: Buffer.from(JSON.stringify(events)),
    headers: {
      [headers.count]: events.length,
      ...(only && {
        streamId: only.streamId,
        version: only.version,
        ...(only.metadata.traceparent ? { traceparent: only.metadata.traceparent } : {}),
      }),
    },
  };
};

const attemptOf = (h: MessageHeaders): number => Number(h?.[headers.attempt] ?? 1) || 1;

export interface RabbitMqBrokerOptions extends BrokerOptions {
  readonly url: string;
  /** Prefix of every exchange and queue name. */
  readonly namespace: string;
  /** RabbitMQ's own redelivery cap for messages whose consumer dies mid-handling. */
  readonly deliveryLimit?: number;
  /** Most events in one message (default 100). */
  readonly eventsPerMessage?: number;
  /** Unacknowledged messages per shard consumer (default 256). */
  readonly prefetch?: number;
  readonly onError?: (error: unknown) => void;
}

/**
 * RabbitMQ: a durable topic exchange, per projection a quorum queue per shard, persistent messages,
 * publisher confirms and manual acks. The relay's events go as one message per shard and aggregate
 * type (up to `eventsPerMessage`, in stream order): publishing, routing, storing and acking a message
 * cost RabbitMQ and this process much the same whatever it holds. A failed event is re-published alone
 * to the shard's retry queue with a growing per-message TTL, which dead-letters it back to the shard
 * queue; after the last attempt it goes to the projection's dead-letter queue with its error. A message
 * is acked only after the outcome of each of its events (applied, retry or dead letter) is confirmed,
 * so nothing is lost on a crash in between. `rabbitmq-client` reconnects and re-declares by itself.
 */
export class RabbitMqBroker implements Broker {
  readonly name = "rabbitmq";
  private readonly connection: Connection;
  private readonly publisher: Publisher;
  private readonly routes = new Map<string, ProjectionRoute>();
  private readonly subscriptions = new Set<Subscription>();
  private readonly names: Topology;

  constructor(private readonly options: RabbitMqBrokerOptions) {
    this.names = topology(options.namespace);
    this.connection = new Connection({ url: options.url, connectionName: "eventfold", retryHigh: 5_000 });
    this.connection.on("error", (error) => options.onError?.(error));
    this.publisher = this.connection.createPublisher({
      confirm: true,
      maxAttempts: 5,
      exchanges: [{ exchange: this.names.eventsExchange, type: "topic", durable: true }],
    });
  }

  private get deliveryLimit(): number {
    return this.options.deliveryLimit ?? Math.max(10, this.options.retry.maxAttempts * 2);
  }

  async declare(routes: readonly ProjectionRoute[]): Promise<void> {
    const c = this.connection;
    await c.exchangeDeclare({ exchange: this.names.eventsExchange, type: "topic", durable: true });
    await c.exchangeDeclare({ exchange: this.names.deadLetterExchange, type: "direct", durable: true });
    for (const route of routes) {
      this.routes.set(route.name, route);
      const dlq = this.names.deadLetterQueue(route.name);
      await c.queueDeclare({ queue: dlq, durable: true });
      await c.queueBind({ queue: dlq, exchange: this.names.deadLetterExchange, routingKey: route.name });
      for (let shard = 0; shard < this.options.shards; shard++) {
        const queue = this.names.shardQueue(route.name, shard);
        await c.queueDeclare({
          queue,
          durable: true,
          arguments: this.names.shardQueueArguments(route.name, this.deliveryLimit),
        });
        for (const type of route.aggregateTypes) {
          await c.queueBind({ queue, exchange: this.names.eventsExchange, routingKey: `${shard}.${type}.#` });
        }
        await c.queueDeclare({
          queue: this.names.retryQueue(route.name, shard),
          durable: true,
          arguments: this.names.retryQueueArguments(route.name, shard),
        });
      }
    }
  }

  async publish(events: readonly EventEnvelope[]): Promise<void> {
    // Sent back to back on one confirming channel: AMQP keeps their order, confirms come back in bulk.
    await Promise.all(
      this.toMessages(events).map(({ shard, aggregateType, events: held }) => {
        const first = held[0] as EventEnvelope;
        const type = held.length === 1 ? first.type : undefined;
        const message = eventsMessage(held);
        return this.publisher.send(
          {
            exchange: this.names.eventsExchange,
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
  }

  /** Events grouped by shard and aggregate type (a stream's events stay in order), in message-sized runs. */
  private toMessages(events: readonly EventEnvelope[]) {
    const limit = this.options.eventsPerMessage ?? 100;
    const open = new Map<string, { shard: number; aggregateType: string; events: EventEnvelope[] }>();
    const messages: { shard: number; aggregateType: string; events: EventEnvelope[] }[] = [];
    for (const event of events) {
      const shard = shardOf(event.streamId, this.options.shards);
      const key = `${shard} ${event.aggregateType}`;
      let message = open.get(key);
      if (!message || message.events.length >= limit) {
        message = { shard, aggregateType: event.aggregateType, events: [] };
        open.set(key, message);
        messages.push(message);
      }
      message.events.push(event);
    }
    return messages;
  }

  async subscribe(projection: string, handler: BatchHandler): Promise<Subscription> {
    const { batchSize, batchWaitMs, shards } = this.options;
    const consumers = Array.from({ length: shards }, (_, shard) => {
      // Messages arrive one at a time; they are handed to the projection in batches, in arrival order.
      const batcher = new Batcher<Delivery, Verdict>((batch) => handler(batch), {
        maxBatch: batchSize,
        lingerMs: Math.max(1, batchWaitMs),
      });
      const queue = this.names.shardQueue(projection, shard);
      const start = () =>
        this.connection.createConsumer(
          {
            queue,
            queueOptions: {
              durable: true,
              arguments: this.names.shardQueueArguments(projection, this.deliveryLimit),
            },
            qos: { prefetchCount: this.options.prefetch ?? 256 },
            concurrency: this.options.prefetch ?? 256,
            requeue: true,
          },
          (message) => this.onMessage(projection, shard, batcher, message),
        );
      let consumer = start();
      consumer.on("error", (error) => this.options.onError?.(error));
      return {
        pause: async () => {
          await consumer.close();
          await batcher.drain();
        },
        resume: async () => {
          consumer = start();
          consumer.on("error", (error) => this.options.onError?.(error));
        },
      };
    });
    const subscription: Subscription = {
      pause: async () => {
        await Promise.all(consumers.map((c) => c.pause()));
      },
      resume: async () => {
        await Promise.all(consumers.map((c) => c.resume()));
      },
      close: async () => {
        await Promise.all(consumers.map((c) => c.pause()));
        this.subscriptions.delete(subscription);
      },
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  private async onMessage(
    projection: string,
    shard: number,
    batcher: Batcher<Delivery, Verdict>,
    message: AsyncMessage,
  ): Promise<ConsumerStatus> {
    const attempt = attemptOf(message.headers);
    const events = decode(message.body);
    const verdicts = await Promise.all(events.map((event) => batcher.submit({ event, attempt })));
    // Each failed event goes on alone: to wait out its backoff, or to the dead letters.
    await Promise.all(
      events.map((event, i) => {
        const verdict = verdicts[i];
        return verdict && !verdict.ok
          ? this.fail(projection, shard, event, attempt, verdict.error)
          : undefined;
      }),
    );
    // Every retry or dead letter is confirmed: only now may the original go.
    return ConsumerStatus.ACK;
  }

  private fail(projection: string, shard: number, event: EventEnvelope, attempt: number, error: string) {
    const retry = attempt < this.options.retry.maxAttempts;
    const message = eventsMessage([event]);
    return this.publisher.send(
      {
        ...(retry
          ? {
              exchange: "",
              routingKey: this.names.retryQueue(projection, shard),
              expiration: String(this.options.retry.backoffMs(attempt)),
            }
          : { exchange: this.names.deadLetterExchange, routingKey: projection }),
        durable: true,
        messageId: event.eventId,
        contentType: "application/json",
        headers: {
          ...message.headers,
          [headers.attempt]: retry ? attempt + 1 : attempt,
          [headers.error]: error,
          ...(retry ? {} : { [headers.deadLetteredAt]: new Date().toISOString() }),
        },
      },
      message.body,
    );
  }

  async deadLetters(projection: string, limit = 1000): Promise<DeadLetter[]> {
    // Unacknowledged gets on a channel of our own: closing it puts every message back, in order.
    const channel = await this.connection.acquire();
    try {
      const letters: DeadLetter[] = [];
      while (letters.length < limit) {
        const message = await channel.basicGet({ queue: this.names.deadLetterQueue(projection) });
        if (!message) break;
        letters.push(...toDeadLetters(message));
      }
      return letters.slice(0, limit);
    } finally {
      await channel.close();
    }
  }

  async replayDeadLetters(
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
        const replay = eventsMessage(events);
        await this.publisher.send(
          {
            exchange: "",
            routingKey: this.names.shardQueue(projection, shardOf(first.streamId, this.options.shards)),
            durable: true,
            messageId: message.messageId,
            contentType: "application/json",
            headers: { ...replay.headers, [headers.attempt]: 1 },
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

  async depth(projection: string) {
    let queued = 0;
    for (let shard = 0; shard < this.options.shards; shard++) {
      for (const queue of [
        this.names.shardQueue(projection, shard),
        this.names.retryQueue(projection, shard),
      ]) {
        queued += (await this.connection.queueDeclare({ queue, passive: true })).messageCount;
      }
    }
    const dead = await this.connection.queueDeclare({
      queue: this.names.deadLetterQueue(projection),
      passive: true,
    });
    return { queued, deadLettered: dead.messageCount };
  }

  async ping(): Promise<void> {
    await this.connection.exchangeDeclare({
      exchange: this.names.eventsExchange,
      type: "topic",
      passive: true,
    });
  }

  /** Deletes the projections' queues and this namespace's exchanges (teardown of a deployment). */
  async deleteTopology(projections: readonly string[]): Promise<void> {
    for (const projection of projections) {
      await this.connection.queueDelete({ queue: this.names.deadLetterQueue(projection) });
      for (let shard = 0; shard < this.options.shards; shard++) {
        await this.connection.queueDelete({ queue: this.names.shardQueue(projection, shard) });
        await this.connection.queueDelete({ queue: this.names.retryQueue(projection, shard) });
      }
    }
    await this.connection.exchangeDelete({ exchange: this.names.eventsExchange });
    await this.connection.exchangeDelete({ exchange: this.names.deadLetterExchange });
  }

  async close(): Promise<void> {
    for (const subscription of [...this.subscriptions]) await subscription.close();
    await this.publisher.close();
    await this.connection.close();
  }
}

const toDeadLetters = (message: SyncMessage): DeadLetter[] => {
  const h = message.headers as MessageHeaders;
  const death = (h?.["x-death"] as { count?: number }[] | undefined)?.[0];
  // A message RabbitMQ itself dead-lettered (delivery limit) carries x-death instead of our error.
  const error = String(
    h?.[headers.error] ?? (death ? "delivery limit reached: the consumer kept failing" : "unknown"),
  );
  const attempts = Number(h?.[headers.attempt] ?? death?.count ?? 0);
  const deadLetteredAt = String(h?.[headers.deadLetteredAt] ?? "");
  return decode(message.body).map((event) => ({ event, error, attempts, deadLetteredAt }));
};
