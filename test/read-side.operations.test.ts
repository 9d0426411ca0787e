import { expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import Redis from "ioredis";
import { removeDeployment } from "../app/teardown.ts";
import { projectionNames } from "../projections/index.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { client, eventually } from "./support/http.ts";
import { fullStack, poisonAmount } from "./support/read-side.ts";
import { describeWith } from "./support/servers.ts";
import { startTestService, tempDir, testConfig } from "./support/service.ts";
import { freePort, spawnServer } from "./support/subprocess.ts";

const metric = (text: string, name: string) =>
  Number(new RegExp(`^${name.replace(/[{}"]/g, "\\$&")} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);

describeWith(["RabbitMQ", "Redis"], "operations of the read side", () => {
  test("readyz answers per dependency: store, broker, hot lookup, analytics", async () => {
    const service = await startTestService(fullStack);
    try {
      // A new Redis is filled from the event store first (here: nothing to fill), in the background.
      const ready = await eventually(
        () => client(service.url).get("/readyz"),
        (r) => r.status === 200,
      );
      expect(ready.status).toBe(200);
      expect(ready.body).toEqual({
        status: "ready",
        checks: { eventStore: "ok", hotLookup: "ok", analytics: "ok", broker: "ok" },
      });
      // Teardown deletes queues by these names: they must be the projections that run.
      const running = await client(service.url).get<{ projections: { name: string }[] }>(
        "/v1/admin/projections",
      );
      expect(running.body.projections.map((p) => p.name)).toEqual([...projectionNames]);
    } finally {
      await service.dispose();
      await removeDeployment(service.config);
    }
  });

  test("readyz is 503 and names the dependency that does not answer", async () => {
    const service = await startTestService({ redisUrl: "redis://127.0.0.1:1" });
    try {
      const ready = await client(service.url).get("/readyz");
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({
        status: "unavailable",
        checks: {
          eventStore: "ok",
          analytics: "ok",
          broker: "ok",
          hotLookup: expect.not.stringMatching(/^ok$/),
        },
      });
    } finally {
      await service.dispose();
    }
  }, 30_000);

  test("metrics: outbox lag, per-projection lag, queued and dead-lettered events", async () => {
    const service = await startTestService(
      { retryAttempts: 1 },
      {
        projections: poisonAmount("analytics", 13, "13 is unlucky"),
      },
    );
    try {
      const api = client(service.url);
      await api.post("/v1/accounts", { accountId: "m-1", owner: "m", currency: "EUR" });
      await api.post("/v1/accounts/m-1/deposits", { amount: 13 });
      const text = await eventually(
        async () => (await fetch(`${service.url}/metrics`)).text(),
        // The relay saves its cursor once the round is through, which may be just after the dead
        // letter is counted: both are awaited.
        (t) =>
          metric(t, 'eventfold_dead_letters{projection="analytics"}') === 1 &&
          metric(t, "eventfold_outbox_lag_events") === 0,
      );
      expect(metric(text, 'eventfold_dead_letters{projection="analytics"}')).toBe(1);
      expect(metric(text, 'eventfold_dead_letters{projection="accounts"}')).toBe(0);
      expect(metric(text, 'eventfold_projection_queued_events{projection="accounts"}')).toBe(0);
      expect(metric(text, "eventfold_outbox_lag_events")).toBe(0);
      expect(metric(text, 'eventfold_projection_lag_seconds_count{projection="accounts"}')).toBe(2);
      expect(metric(text, 'eventfold_projection_failures_total{projection="analytics"}')).toBe(1);
    } finally {
      await service.dispose();
    }
  });
});

describeWith(["RabbitMQ", "Redis"], "roles: npm run projector and npm run edge", () => {
  test("the projector relays and projects on its own: stored events reach Redis with no edge running", async () => {
    const config = testConfig(fullStack);
    const store = new SqliteStore({ path: join(config.dataDir, "events.sqlite") });
    const projector = await spawnServer(
      config.dataDir,
      freePort(),
      {
        AMQP_URL: fullStack.amqpUrl,
        REDIS_URL: fullStack.redisUrl,
        EVENTFOLD_AMQP_NAMESPACE: config.amqpNamespace,
        EVENTFOLD_REDIS_PREFIX: config.redisPrefix,
      },
      "projector",
    );
    try {
      // Written straight to the store, as an edge process would.
      await store.append({
        streamId: "account-solo",
        aggregateType: "account",
        expectedVersion: 0,
        events: [
          { type: "AccountOpened", data: { owner: "solo", currency: "EUR" } },
          { type: "MoneyDeposited", data: { amount: 5, balance: 5, currency: "EUR" } },
        ].map((e) => ({
          ...e,
          eventId: Bun.randomUUIDv7(),
          schemaVersion: 1,
          metadata: { commandId: "c", correlationId: "c", causationId: "c" },
        })),
      });
      const redis = new Redis(fullStack.redisUrl);
      const document = await eventually(
        // The generation the projector filled at start, as its pointer says.
        async () => {
          const serving = (await redis.hget(`${config.redisPrefix}accounts:serving`, "generation")) ?? "0";
          return redis.hgetall(`${config.redisPrefix}accounts:g${serving}:solo`);
        },
        (d) => d.version === "2",
      );
      redis.disconnect();
      expect(document).toMatchObject({ version: "2", balance: "5", owner: "solo", status: "open" });
      // It serves operations, not the public API.
      expect((await client(projector.url).get("/v1/admin/projections")).status).toBe(200);
      expect((await client(projector.url).get("/v1/accounts/solo")).status).toBe(404);
    } finally {
      projector.process.kill();
      await projector.exited;
      await store.close();
      await removeDeployment(config);
      rmSync(config.dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  test("the edge alone refuses to start on embedded read models, and says why", async () => {
    const dataDir = tempDir();
    const proc = Bun.spawn([process.execPath, "run", "app/main.ts", "edge"], {
      cwd: new URL("..", import.meta.url).pathname,
      env: { ...process.env, PORT: String(freePort()), EVENTFOLD_DATA_DIR: dataDir },
      stdout: "ignore",
      stderr: "pipe",
    });
    const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
    rmSync(dataDir, { recursive: true, force: true });
    expect(code).not.toBe(0);
    expect(stderr).toContain("npm run edge needs REDIS_URL and CLICKHOUSE_URL");
  });
});
