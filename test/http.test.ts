import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { callerKey } from "../src/runtime/idempotency.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { client, eventually, openAccount } from "./support/http.ts";
import { describeWith } from "./support/servers.ts";
import { startTestService, type TestService, tempDir } from "./support/service.ts";
import { freePort, spawnServer } from "./support/subprocess.ts";

describe("auth with EVENTFOLD_API_KEYS", () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService({
      apiKeys: [
        { name: "ops", role: "admin", token: "admin-secret" },
        { name: "app", role: "writer", token: "writer-secret" },
        { name: "bi", role: "reader", token: "reader-secret" },
      ],
    });
  });
  afterAll(() => service.dispose());

  test("no token or an unknown one is 401; a reader may not write (403); writers and admins may", async () => {
    const anonymous = client(service.url);
    const stranger = client(service.url, { Authorization: "Bearer nope" });
    const reader = client(service.url, { Authorization: "Bearer reader-secret" });
    const writer = client(service.url, { Authorization: "Bearer writer-secret" });
    const admin = client(service.url, { Authorization: "Bearer admin-secret" });

    expect((await anonymous.post("/v1/accounts", { owner: "a", currency: "EUR" })).body).toMatchObject({
      status: 401,
      code: "unauthorized",
    });
    expect((await stranger.get("/v1/accounts/x/state")).status).toBe(401);
    expect(
      (await client(service.url, { Authorization: "Basic d3JpdGVyLXNlY3JldA==" }).get("/v1/accounts/x/state"))
        .status,
    ).toBe(401);
    expect((await reader.post("/v1/accounts", { owner: "a", currency: "EUR" })).body).toMatchObject({
      status: 403,
      code: "forbidden",
    });
    expect(
      (await writer.post("/v1/accounts", { accountId: "authed", owner: "a", currency: "EUR" })).status,
    ).toBe(201);
    expect((await admin.post("/v1/accounts/authed/deposits", { amount: 3 })).status).toBe(200);
    expect((await reader.get("/v1/accounts/authed/state")).body).toMatchObject({ balance: 3 });
    // Operations stay open for probes and scrapers.
    expect((await anonymous.get("/healthz")).status).toBe(200);
  });

  test("auth comes before validation: a bad body without a token is 401, not 400", async () => {
    expect((await client(service.url).post("/v1/accounts", { nonsense: true })).status).toBe(401);
  });
});

describe("operations", () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService();
  });
  afterAll(() => service.dispose());

  test("healthz and readyz", async () => {
    expect((await client(service.url).get("/healthz")).status).toBe(200);
    const ready = await client(service.url).get("/readyz");
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: "ready", checks: { eventStore: "ok" } });
  });

  test("metrics: command counts and latency, append batch sizes, live actors", async () => {
    const api = client(service.url);
    await openAccount(api, "metered", "EUR", 10);
    await api.post("/v1/accounts/metered/withdrawals", { amount: 11 });
    const response = await fetch(`${service.url}/metrics`);
    expect(response.headers.get("content-type")).toStartWith("text/plain");
    const text = await response.text();
    expect(text).toContain(
      'eventfold_commands_total{route="/v1/accounts/:id/deposits",outcome="accepted"} 1',
    );
    expect(text).toContain(
      'eventfold_commands_total{route="/v1/accounts/:id/withdrawals",outcome="insufficient_funds"} 1',
    );
    expect(text).toMatch(/eventfold_command_duration_seconds_bucket\{le="0\.1",route="\/v1\/accounts"\} 1/);
    expect(text).toMatch(/eventfold_append_batch_writes_count [1-9]/);
    expect(text).toMatch(/eventfold_live_actors [1-9]/);
    // Counts go on from one scrape to the next: each is added once, not again.
    await api.post("/v1/accounts/metered/deposits", { amount: 1 });
    const again = await (await fetch(`${service.url}/metrics`)).text();
    expect(again).toContain(
      'eventfold_commands_total{route="/v1/accounts/:id/deposits",outcome="accepted"} 2',
    );
    expect(again).toContain(
      'eventfold_http_requests_total{method="post",route="/v1/accounts/:id/deposits",status="200"} 2',
    );
  });

  test("metrics: each command's pass through the write path, stage by stage", async () => {
    const stageCounts = async () => {
      const text = await (await fetch(`${service.url}/metrics`)).text();
      const counts: Record<string, number> = {};
      for (const m of text.matchAll(/^eventfold_write_stage_seconds_count\{stage="(\w+)"\} (\S+)$/gm))
        counts[m[1] as string] = Number(m[2]);
      const sums = [...text.matchAll(/^eventfold_write_stage_seconds_sum\{stage="(\w+)"\} (\S+)$/gm)];
      return { counts, sums: Object.fromEntries(sums.map((m) => [m[1], Number(m[2])])) };
    };
    const before = await stageCounts();
    const api = client(service.url);
    await openAccount(api, "staged", "EUR", 10);
    // One at a time: deposits sent together would be one append (the actor batches them).
    for (let i = 0; i < 5; i++)
      expect((await api.post("/v1/accounts/staged/deposits", { amount: 1 })).status).toBe(200);
    const after = await stageCounts();
    // Seven commands: the open, its deposit, five more deposits.
    const passed = (stage: string) => (after.counts[stage] ?? 0) - (before.counts[stage] ?? 0);
    for (const stage of ["edge", "mailbox", "decide", "respond"]) expect(passed(stage)).toBe(7);
    // The store's stages count writes (an actor's batch of commands is one), the relay's checkpoints too.
    for (const stage of ["queue", "send", "write", "fsync", "hop"])
      expect(passed(stage)).toBeGreaterThanOrEqual(7);
    // An fsynced commit takes time; every stage's time is counted, none is negative.
    expect((after.sums.fsync ?? 0) - (before.sums.fsync ?? 0)).toBeGreaterThan(0);
    for (const stage of Object.keys(after.sums))
      expect(after.sums[stage] ?? 0).toBeGreaterThanOrEqual(before.sums[stage] ?? 0);
  });

  test("openapi.json is OpenAPI 3.1 built from the validating schemas", async () => {
    const doc = (await client(service.url).get("/openapi.json")).body as unknown as {
      openapi: string;
      paths: Record<
        string,
        Record<
          string,
          {
            requestBody?: { content: Record<string, { schema: Record<string, unknown> }> };
            parameters: { name: string; in: string }[];
          }
        >
      >;
    };
    expect(doc.openapi).toBe("3.1.0");
    for (const path of [
      "/v1/accounts",
      "/v1/accounts/{id}/deposits",
      "/v1/accounts/{id}/withdrawals",
      "/v1/accounts/{id}/close",
      "/v1/transfers",
      "/v1/transfers/{id}",
      "/v1/accounts/{id}",
      "/v1/accounts/{id}/events",
      "/v1/accounts/{id}/state",
    ]) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
    const open = doc.paths["/v1/accounts"]?.post?.requestBody?.content["application/json"]?.schema;
    expect(open).toMatchObject({
      type: "object",
      additionalProperties: false,
      required: ["owner", "currency"],
      properties: { currency: { type: "string", pattern: "^[A-Z]{3}$" } },
    });
    const deposit = doc.paths["/v1/accounts/{id}/deposits"]?.post;
    expect(deposit?.requestBody?.content["application/json"]?.schema).toMatchObject({
      properties: { amount: { type: "integer", minimum: 1, maximum: 1_000_000_000_000 } },
    });
    expect(deposit?.parameters.map((p) => `${p.in}:${p.name}`)).toEqual([
      "path:id",
      "header:If-Match",
      "header:Idempotency-Key",
    ]);
    expect(doc.paths["/v1/accounts/{id}/events"]?.get?.parameters.map((p) => p.name)).toEqual([
      "id",
      "after",
      "limit",
    ]);
  });

  test("413 over 64 KiB, 415 for non-JSON, 404 problem for unknown routes", async () => {
    const api = client(service.url);
    const big = await api.raw("/v1/accounts", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ owner: "x".repeat(65 * 1024), currency: "EUR" }),
    });
    expect(big.body).toMatchObject({ status: 413, code: "payload_too_large" });
    const form = await api.raw("/v1/accounts", {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: '{"owner":"a","currency":"EUR"}',
    });
    expect(form.body).toMatchObject({ status: 415, code: "unsupported_media_type" });
    const nowhere = await api.get("/v1/nowhere");
    expect(nowhere.body).toMatchObject({ status: 404, code: "not_found" });
    expect(nowhere.headers.get("content-type")).toStartWith("application/problem+json");
    // Every answer, refusals included, names the correlation id the client can quote.
    expect(nowhere.headers.get("x-correlation-id")).toMatch(/^[\da-f-]{36}$/);
  });

  test("correlation id and trace context travel into the events' metadata", async () => {
    const api = client(service.url);
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const opened = await api.post(
      "/v1/accounts",
      { accountId: "traced", owner: "t", currency: "EUR" },
      { "X-Correlation-Id": "order-42", traceparent, "Idempotency-Key": "trace-key" },
    );
    expect(opened.headers.get("x-correlation-id")).toBe("order-42");
    const [event] = await service.engine.store.readStream("account-traced");
    expect(event?.metadata).toMatchObject({
      correlationId: "order-42",
      traceparent,
      idempotencyKey: callerKey(undefined, "trace-key"),
      commandId: expect.any(String),
      causationId: expect.any(String),
    });
  });
});

describeWith(["Redis"], "readiness by role", () => {
  test("an edge whose analytics store does not answer still takes writes and stays ready, saying what is down", async () => {
    const edge = await startTestService(
      { redisUrl: process.env.REDIS_URL ?? "redis://127.0.0.1:6379", clickhouseUrl: "http://127.0.0.1:9" },
      { role: "edge" },
    );
    try {
      const ready = await client(edge.url).get<{ status: string; checks: Record<string, string> }>("/readyz");
      expect(ready.status).toBe(200);
      expect(ready.body.status).toBe("degraded");
      expect(ready.body.checks.eventStore).toBe("ok");
      expect(ready.body.checks.analytics).not.toBe("ok");
      expect(
        (
          await client(edge.url).post("/v1/accounts", {
            accountId: "ready-edge",
            owner: "o",
            currency: "EUR",
          })
        ).status,
      ).toBe(201);
    } finally {
      await edge.dispose();
    }
  });
});

describe("SIGTERM", () => {
  test("to the npm that `npm start` started stops the service: npm passes it on, nothing keeps serving", async () => {
    const dataDir = tempDir();
    const port = freePort();
    const npm = Bun.spawn(["npm", "start"], {
      cwd: new URL("..", import.meta.url).pathname,
      env: { ...process.env, PORT: String(port), EVENTFOLD_DATA_DIR: dataDir, LOG_LEVEL: "silent" },
      stdout: "ignore",
      stderr: "ignore",
    });
    try {
      const url = `http://127.0.0.1:${port}/healthz`;
      const answers = async () => (await fetch(url).catch(() => undefined))?.ok === true;
      await eventually(answers, (up) => up, 15_000);
      npm.kill("SIGTERM");
      await npm.exited;
      await eventually(answers, (up) => !up, 10_000);
    } finally {
      npm.kill(9);
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 30_000);

  const dataDir = tempDir();
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  test("drains: in-flight commands finish and are answered, the process exits 0, nothing half-done", async () => {
    const server = await spawnServer(dataDir, freePort());
    const api = client(server.url);
    await openAccount(api, "draining");
    const inFlight = Array.from({ length: 400 }, () =>
      api.post("/v1/accounts/draining/deposits", { amount: 1 }).then(
        (a) => a.status,
        () => "no answer" as const,
      ),
    );
    // Some are answered, the rest still in flight: now.
    await Promise.race(inFlight);
    server.process.kill("SIGTERM");
    const statuses = await Promise.all(inFlight);
    expect(await server.exited).toBe(0);
    const ok = statuses.filter((s) => s === 200).length;
    expect(ok).toBeGreaterThan(0);
    expect(statuses.filter((s) => s !== 200 && s !== 503 && s !== "no answer")).toEqual([]);
    const store = new SqliteStore({ path: join(dataDir, "events.sqlite") });
    // Every answered deposit is stored, and nothing was stored that was not answered.
    expect((await store.readStream("account-draining")).length - 1).toBe(ok);
    await store.close();
  }, 30_000);
});
