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

export const headers = {
  /** How many events the message holds. */
  count: "x-eventfold-count",
  attempt: "x-eventfold-attempt",
  error: "x-eventfold-error",
  deadLetteredAt: "x-eventfold-dead-lettered-at",
} as const;
