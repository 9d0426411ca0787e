import { join } from "node:path";
import type { Config } from "../config.ts";
import { exponentialBackoff } from "../lib/backoff.ts";
import type { Broker, BrokerOptions } from "./broker.ts";
import type { DeadLetters } from "./dead-letters.ts";
import { MemoryBroker } from "./memory/memory-broker.ts";

/**
 * One broker's two ports, as the composition root hands them out: delivery to the relay and the
 * projector, the dead letters to the admin API. Closing `broker` closes both.
 */
export interface OpenedBroker {
  readonly broker: Broker;
  readonly deadLetters: DeadLetters;
}

/** RabbitMQ when `AMQP_URL` is set, else the in-process broker. */
export const openBroker = async (
  config: Config,
  onError: (error: unknown) => void,
): Promise<OpenedBroker> => {
  const options: BrokerOptions = {
    shards: config.shards,
    batchSize: config.projectionBatchSize,
    batchWaitMs: config.projectionBatchMs,
    retry: {
      maxAttempts: config.retryAttempts,
      backoffMs: exponentialBackoff({ baseMs: config.retryBaseMs, maxMs: config.retryMaxMs }),
    },
  };
  if (config.amqpUrl) {
    const { RabbitMqBroker } = await import("./rabbitmq/rabbitmq-broker.ts");
    const broker = new RabbitMqBroker({
      ...options,
      url: config.amqpUrl,
      namespace: config.amqpNamespace,
      eventsPerMessage: config.amqpEventsPerMessage,
      prefetch: config.amqpPrefetch,
      onError,
    });
    return { broker, deadLetters: broker.deadLetters };
  }
  const broker = new MemoryBroker({
    ...options,
    deadLetterPath: join(config.dataDir, "dead-letters.sqlite"),
  });
  return { broker, deadLetters: broker.deadLetters };
};
