import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { removeDeployment } from "../app/teardown.ts";
import { createEventfoldClient } from "../packages/client/src/index.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { eventually } from "./support/http.ts";
import {
  expectReadModelsMatchStore,
  fullStack,
  quiesce,
  runWorkload,
  serverErrors,
} from "./support/read-side.ts";
import { describeWith } from "./support/servers.ts";
import { startTestService, testConfig } from "./support/service.ts";
import { freePort, spawnServer } from "./support/subprocess.ts";

const closeAllRabbitMqConnections = async () => {
  const closing = Bun.spawn(["rabbitmqctl", "close_all_connections", "eventfold fault test"], {
    stdout: "ignore",
    stderr: "inherit",
  });
  expect(await closing.exited).toBe(0);
};

describeWith(["RabbitMQ", "Redis"], "read side under faults (RabbitMQ, Redis, chDB)", () => {
  test("RabbitMQ closes every connection mid-stream, twice: same exact totals afterwards", async () => {
    const service = await startTestService(fullStack);
    try {
      const api = createEventfoldClient({ baseUrl: service.url });
      const load = runWorkload(api, { prefix: "netsplit", accounts: 50, commands: 3_000 });
      const published = () =>
        eventually(
          async () => service.relay?.position ?? 0,
          (p) => p > 0,
          10_000,
        );
      for (let round = 1; round <= 2; round++) {
        const before = await published();
        await eventually(
          async () => service.relay?.position ?? 0,
          (p) => p > before + 300,
          30_000,
        );
        await closeAllRabbitMqConnections();
      }
      const workload = await load;
      expect(serverErrors(workload)).toEqual([]);
      const truth = await quiesce(api, service.engine.store, workload, 90_000);
      await expectReadModelsMatchStore(api, truth);
    } finally {
      await service.dispose();
      await removeDeployment(service.config);
    }
  }, 180_000);

  describe("kill -9 of the process running the projector", () => {
    const config = testConfig(fullStack);
    afterAll(async () => {
      await removeDeployment(config);
      rmSync(config.dataDir, { recursive: true, force: true });
    });

    test("mid-stream, then started again: nothing lost, nothing counted twice", async () => {
      const env = {
        AMQP_URL: fullStack.amqpUrl,
        REDIS_URL: fullStack.redisUrl,
        EVENTFOLD_AMQP_NAMESPACE: config.amqpNamespace,
        EVENTFOLD_REDIS_PREFIX: config.redisPrefix,
        EVENTFOLD_CLICKHOUSE_DATABASE: config.clickhouseDatabase,
      };
      const first = await spawnServer(config.dataDir, freePort(), env);
      let alive = true;
      const load = runWorkload(createEventfoldClient({ baseUrl: first.url }), {
        prefix: "kill",
        accounts: 50,
        commands: 6_000,
        concurrency: 32,
        keepGoing: () => alive,
      });
      await eventually(
        async () =>
          Number(/^eventfold_relay_published_total (\d+)/m.exec(await metrics(first.url))?.[1] ?? 0),
        (n) => n > 1_500,
        30_000,
      );
      first.process.kill(9);
      alive = false;
      await first.exited;
      const workload = await load;
      expect(serverErrors(workload)).toEqual([]);

      const second = await spawnServer(config.dataDir, freePort(), env);
      const store = new SqliteStore({ path: join(config.dataDir, "events.sqlite") });
      try {
        const api = createEventfoldClient({ baseUrl: second.url });
        const truth = await quiesce(api, store, workload, 90_000);
        await expectReadModelsMatchStore(api, truth);
      } finally {
        await store.close();
        second.process.kill();
        await second.exited;
      }
    }, 180_000);
  });
});

const metrics = async (url: string) => (await fetch(`${url}/metrics`)).text();
