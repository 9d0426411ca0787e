import type { Connection } from "rabbitmq-client";
import type { ProjectionRoute } from "../broker.ts";

/**
 * Names and arguments of everything eventfold declares on RabbitMQ, in one place. Every name starts
 * with the namespace, so several deployments (or test runs) can share one broker.
 */
export const topology = (namespace: string) => {
  const shardQueue = (projection: string, shard: number) => `${namespace}.${projection}.${shard}`;
  return {
    eventsExchange: `${namespace}.events`,
    deadLetterExchange: `${namespace}.dead-letters`,
    shardQueue,
    retryQueue: (projection: string, shard: number) => `${namespace}.${projection}.${shard}.retry`,
    deadLetterQueue: (projection: string) => `${namespace}.${projection}.dead-letters`,

    /**
     * A shard queue: quorum (replicated, durable), one active consumer at a time (so one process applies
     * an aggregate's events, in order), and a delivery limit as the last guard against a message that
     * crashes its consumer every time: past it, RabbitMQ dead-letters the message itself.
     */
    shardQueueArguments: (projection: string, deliveryLimit: number) => ({
      "x-queue-type": "quorum" as const,
      "x-single-active-consumer": true,
      "x-delivery-limit": deliveryLimit,
      "x-dead-letter-exchange": `${namespace}.dead-letters`,
      "x-dead-letter-routing-key": projection,
    }),

    /** Where a failed message waits out its backoff (per-message TTL), then goes back to its shard queue. */
    retryQueueArguments: (projection: string, shard: number) => ({
      "x-dead-letter-exchange": "",
      "x-dead-letter-routing-key": shardQueue(projection, shard),
    }),
  };
};

export type Topology = ReturnType<typeof topology>;

/**
 * `<shard>.<aggregateType>.<eventType>`, or `….batch` for a message of several events: a shard queue
 * binds `<shard>.<aggregateType>.#`.
 */
export const routingKey = (shard: number, aggregateType: string, type: string) =>
  `${shard}.${aggregateType}.${type}`;

export interface TopologyOptions {
  readonly shards: number;
  /** RabbitMQ's own redelivery cap, on each shard queue. */
  readonly deliveryLimit: number;
}

/**
 * Declares the exchanges and, per route, its dead-letter queue and its shard queues (bound to the
 * route's aggregate types) with their retry queues. Declaring what exists with the same arguments is a
 * no-op, so this is safe to call again.
 */
export const declareTopology = async (
  connection: Connection,
  names: Topology,
  routes: readonly ProjectionRoute[],
  { shards, deliveryLimit }: TopologyOptions,
): Promise<void> => {
  await connection.exchangeDeclare({ exchange: names.eventsExchange, type: "topic", durable: true });
  await connection.exchangeDeclare({ exchange: names.deadLetterExchange, type: "direct", durable: true });
  for (const route of routes) {
    const dlq = names.deadLetterQueue(route.name);
    await connection.queueDeclare({ queue: dlq, durable: true });
    await connection.queueBind({ queue: dlq, exchange: names.deadLetterExchange, routingKey: route.name });
    for (let shard = 0; shard < shards; shard++) {
      const queue = names.shardQueue(route.name, shard);
      await connection.queueDeclare({
        queue,
        durable: true,
        arguments: names.shardQueueArguments(route.name, deliveryLimit),
      });
      for (const type of route.aggregateTypes) {
        await connection.queueBind({
          queue,
          exchange: names.eventsExchange,
          routingKey: `${shard}.${type}.#`,
        });
      }
      await connection.queueDeclare({
        queue: names.retryQueue(route.name, shard),
        durable: true,
        arguments: names.retryQueueArguments(route.name, shard),
      });
    }
  }
};

/** Messages in a projection's shard and retry queues; a passive declare reads a count, creates nothing. */
export const queuedMessages = async (
  connection: Connection,
  names: Topology,
  projection: string,
  shards: number,
): Promise<number> => {
  let queued = 0;
  for (let shard = 0; shard < shards; shard++) {
    for (const queue of [names.shardQueue(projection, shard), names.retryQueue(projection, shard)]) {
      queued += (await connection.queueDeclare({ queue, passive: true })).messageCount;
    }
  }
  return queued;
};

/** Deletes the projections' queues and this namespace's exchanges (teardown of a deployment). */
export const deleteTopology = async (
  connection: Connection,
  names: Topology,
  projections: readonly string[],
  shards: number,
): Promise<void> => {
  for (const projection of projections) {
    await connection.queueDelete({ queue: names.deadLetterQueue(projection) });
    for (let shard = 0; shard < shards; shard++) {
      await connection.queueDelete({ queue: names.shardQueue(projection, shard) });
      await connection.queueDelete({ queue: names.retryQueue(projection, shard) });
    }
  }
  await connection.exchangeDelete({ exchange: names.eventsExchange });
  await connection.exchangeDelete({ exchange: names.deadLetterExchange });
};
