import { type AsyncMessage, type Connection, ConsumerStatus, type Publisher } from "rabbitmq-client";
import { Batcher } from "../../lib/batcher.ts";
import type { EventEnvelope } from "../../store/envelope.ts";
import type { BatchHandler, Delivery, RetryPolicy, Subscription, Verdict } from "../broker.ts";
import { attemptOf, decode, encode } from "./codec.ts";
import type { Topology } from "./topology.ts";

/** What a projection's consumers need: the connection, the confirming publisher, and the settings. */
export interface ConsumerContext {
  readonly connection: Connection;
  readonly publisher: Publisher;
  readonly names: Topology;
  readonly shards: number;
  readonly batchSize: number;
  /** How long a partial batch waits for more deliveries. */
  readonly batchWaitMs: number;
  readonly retry: RetryPolicy;
  /** Unacknowledged messages per shard consumer. */
  readonly prefetch: number;
  /** RabbitMQ's own redelivery cap, on each shard queue. */
  readonly deliveryLimit: number;
  readonly onError?: (error: unknown) => void;
}

/**
 * One consumer per shard queue of `projection`, each handing the events of its messages to `handler`
 * in batches. A message is acked only once the outcome of each of its events (applied, retry or dead
 * letter) is confirmed, so nothing is lost on a crash in between. Closing the subscription pauses it
 * for good.
 */
export const consumeShards = (
  context: ConsumerContext,
  projection: string,
  handler: BatchHandler,
): Subscription => {
  const { connection, names, batchSize, batchWaitMs, shards, prefetch, deliveryLimit, onError } = context;
  const consumers = Array.from({ length: shards }, (_, shard) => {
    // Messages arrive one at a time; they are handed to the projection in batches, in arrival order.
    const batcher = new Batcher<Delivery, Verdict>((batch) => handler(batch), {
      maxBatch: batchSize,
      lingerMs: Math.max(1, batchWaitMs),
    });
    const queue = names.shardQueue(projection, shard);
    const start = () =>
      connection.createConsumer(
        {
          queue,
          queueOptions: {
            durable: true,
            arguments: names.shardQueueArguments(projection, deliveryLimit),
          },
          qos: { prefetchCount: prefetch },
          concurrency: prefetch,
          requeue: true,
        },
        (message) => onMessage(context, projection, shard, batcher, message),
      );
    let consumer = start();
    consumer.on("error", (error) => onError?.(error));
    return {
      pause: async () => {
        await consumer.close();
        await batcher.drain();
      },
      resume: async () => {
        consumer = start();
        consumer.on("error", (error) => onError?.(error));
      },
    };
  });
  return {
    pause: async () => {
      await Promise.all(consumers.map((c) => c.pause()));
    },
    resume: async () => {
      await Promise.all(consumers.map((c) => c.resume()));
    },
    close: async () => {
      await Promise.all(consumers.map((c) => c.pause()));
    },
  };
};

const onMessage = async (
  context: ConsumerContext,
  projection: string,
  shard: number,
  batcher: Batcher<Delivery, Verdict>,
  message: AsyncMessage,
): Promise<ConsumerStatus> => {
  const attempt = attemptOf(message.headers);
  const events = decode(message.body);
  const verdicts = await Promise.all(events.map((event) => batcher.submit({ event, attempt })));
  // Each failed event goes on alone: to wait out its backoff, or to the dead letters.
  await Promise.all(
    events.map((event, i) => {
      const verdict = verdicts[i];
      return verdict && !verdict.ok
        ? fail(context, projection, shard, event, attempt, verdict.error)
        : undefined;
    }),
  );
  // Every retry or dead letter is confirmed: only now may the original go.
  return ConsumerStatus.ACK;
};

/**
 * Re-publishes a failed event: to the shard's retry queue, whose per-message TTL is the backoff and
 * which then dead-letters it back to the shard queue; or, after the last attempt, to the projection's
 * dead-letter queue with its error.
 */
const fail = (
  { publisher, names, retry: policy }: ConsumerContext,
  projection: string,
  shard: number,
  event: EventEnvelope,
  attempt: number,
  error: string,
) => {
  const retry = attempt < policy.maxAttempts;
  const message = encode(
    [event],
    retry ? { attempt: attempt + 1, error } : { attempt, error, deadLetteredAt: new Date().toISOString() },
  );
  return publisher.send(
    {
      ...(retry
        ? {
            exchange: "",
            routingKey: names.retryQueue(projection, shard),
            expiration: String(policy.backoffMs(attempt)),
          }
        : { exchange: names.deadLetterExchange, routingKey: projection }),
      durable: true,
      messageId: event.eventId,
      contentType: "application/json",
      headers: message.headers,
    },
    message.body,
  );
};
