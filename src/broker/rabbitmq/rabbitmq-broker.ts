import { Connection, type Publisher } from "rabbitmq-client";
import type { EventEnvelope } from "../../store/envelope.ts";
import type { BatchHandler, Broker, BrokerOptions, ProjectionRoute, Subscription } from "../broker.ts";
import { type ConsumerContext, consumeShards } from "./consumer.ts";
import { RabbitMqDeadLetters } from "./dead-letters.ts";
import { confirmingPublisher, type PublishOptions, publishEvents } from "./publisher.ts";
import { declareTopology, deleteTopology, queuedMessages, type Topology, topology } from "./topology.ts";

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
 *
 * One connection and one confirming publisher serve the topology (`topology.ts`), publishing
 * (`publisher.ts`), the consumers (`consumer.ts`) and the dead letters (`dead-letters.ts`).
 */
export class RabbitMqBroker implements Broker {
  readonly name = "rabbitmq";
  /** This broker's dead-letter port; it shares the connection, so `close` closes it too. */
  readonly deadLetters: RabbitMqDeadLetters;
  private readonly connection: Connection;
  private readonly publisher: Publisher;
  private readonly names: Topology;
  private readonly publishing: PublishOptions;
  private readonly consuming: ConsumerContext;
  private readonly subscriptions = new Set<Subscription>();

  constructor(private readonly options: RabbitMqBrokerOptions) {
    this.names = topology(options.namespace);
    this.connection = new Connection({ url: options.url, connectionName: "eventfold", retryHigh: 5_000 });
    this.connection.on("error", (error) => options.onError?.(error));
    this.publisher = confirmingPublisher(this.connection, this.names);
    this.publishing = { shards: options.shards, eventsPerMessage: options.eventsPerMessage ?? 100 };
    this.consuming = {
      connection: this.connection,
      publisher: this.publisher,
      names: this.names,
      shards: options.shards,
      batchSize: options.batchSize,
      batchWaitMs: options.batchWaitMs,
      retry: options.retry,
      prefetch: options.prefetch ?? 256,
      deliveryLimit: options.deliveryLimit ?? Math.max(10, options.retry.maxAttempts * 2),
      onError: options.onError,
    };
    this.deadLetters = new RabbitMqDeadLetters(this.connection, this.publisher, this.names, options.shards);
  }

  async declare(routes: readonly ProjectionRoute[]): Promise<void> {
    const { shards, deliveryLimit } = this.consuming;
    await declareTopology(this.connection, this.names, routes, { shards, deliveryLimit });
  }

  async publish(events: readonly EventEnvelope[]): Promise<void> {
    await publishEvents(this.publisher, this.names, events, this.publishing);
  }

  async subscribe(projection: string, handler: BatchHandler): Promise<Subscription> {
    const consumers = consumeShards(this.consuming, projection, handler);
    const subscription: Subscription = {
      pause: () => consumers.pause(),
      resume: () => consumers.resume(),
      close: async () => {
        await consumers.close();
        this.subscriptions.delete(subscription);
      },
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  async queued(projection: string): Promise<number> {
    return await queuedMessages(this.connection, this.names, projection, this.options.shards);
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
    await deleteTopology(this.connection, this.names, projections, this.options.shards);
  }

  async close(): Promise<void> {
    for (const subscription of [...this.subscriptions]) await subscription.close();
    await this.publisher.close();
    await this.connection.close();
  }
}
