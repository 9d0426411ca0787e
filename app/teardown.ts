import { projectionNames } from "../projections/index.ts";
import { RabbitMqBroker } from "../src/broker/rabbitmq/rabbitmq-broker.ts";
import type { Config } from "../src/config.ts";
import { RedisHotLookup } from "../src/hot-lookup/redis-hot-lookup.ts";

type Deployment = Pick<Config, "amqpUrl" | "amqpNamespace" | "shards" | "redisUrl" | "redisPrefix">;

/**
 * Deletes what one deployment keeps on shared servers: its RabbitMQ queues and exchanges (by namespace)
 * and its Redis keys (by prefix). For test runs and benchmarks that share one broker and one Redis.
 */
export const removeDeployment = async (deployment: Deployment): Promise<void> => {
  if (deployment.amqpUrl) {
    const broker = new RabbitMqBroker({
      url: deployment.amqpUrl,
      namespace: deployment.amqpNamespace,
      shards: deployment.shards,
      batchSize: 1,
      batchWaitMs: 1,
      retry: { maxAttempts: 1, backoffMs: () => 0 },
    });
    await broker.deleteTopology(projectionNames);
    await broker.close();
  }
  if (deployment.redisUrl) {
    const hot = new RedisHotLookup(deployment.redisUrl);
    await hot.clear(deployment.redisPrefix);
    await hot.close();
  }
};
