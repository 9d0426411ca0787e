import { join } from "node:path";
import type { Config } from "../config.ts";
import { exponentialBackoff } from "../lib/backoff.ts";
import type { Broker, BrokerOptions } from "./broker.ts";
import { MemoryBroker } from "./memory/memory-broker.ts";

/** RabbitMQ when `AMQP_URL` is set, else the in-process broker. */
export const openBroker = async (config: Config, onError: (error: unknown) => void): Promise<Broker> => {
  const options: BrokerOptions = {
    shards: config.shards,
    batchSize: config.projectionBatchSize,
    batchWaitMs: config.projectionBatchMs,
    retry: {
      maxAttempts: config.retryAttempts,
      backoffMs: exponentialBackoff({ baseMs: config.retryBaseMs, maxMs: 10_000 }),
    },
  };
  if (config.amqpUrl) {
    const { RabbitMqBroker } = await import("./rabbitmq/rabbitmq-broker.ts");
    return new RabbitMqBroker({ ...options, url: config.amqpUrl, namespace: config.amqpNamespace, onError });
  }
  return new MemoryBroker({ ...options, deadLetterPath: join(config.dataDir, "dead-letters.sqlite") });
};
