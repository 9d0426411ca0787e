import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { preloads } from "../app/read-side-client.ts";
import { spawnService } from "../app/spawn.ts";
import { createEventfoldClient } from "../packages/client/src/index.ts";
import { eventually } from "./support/http.ts";
import { expectReadModelsMatchStore, quiesce, runWorkload, serverErrors } from "./support/read-side.ts";
import { startTestService, type TestService, tempDir } from "./support/service.ts";
import { freePort } from "./support/subprocess.ts";

// npm start's default (EVENTFOLD_READ_SIDE_THREAD): the relay, the broker, the projections and the
// read models on a thread of their own, the edge's event loop handing it the read and admin routes.
describe("the read side on its own thread", () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService({}, { readSideThread: true });
  });
  afterAll(() => service.dispose());

  test("it runs there, not on the edge's event loop", () => {
    expect(service.projector).toBeUndefined();
    expect(service.relay).toBeUndefined();
  });

  test("thousands of random commands: the read models it fills equal the store, read through the edge", async () => {
    const api = createEventfoldClient({ baseUrl: service.url });
    const workload = await runWorkload(api, { prefix: "thread", accounts: 40, commands: 1_500 });
    expect(serverErrors(workload)).toEqual([]);
    expect(workload.acknowledged).toBeGreaterThan(1_000);
    const truth = await quiesce(api, service.engine.store, workload);
    await expectReadModelsMatchStore(api, truth);

    // Read-your-writes waits on the thread's hot lookup; a missing account is its 404.
    const deposit = await api.POST("/v1/accounts/{id}/deposits", {
      params: { path: { id: "thread-0" } },
      body: { amount: 7 },
    });
    const version = deposit.data?.version ?? 0;
    const read = await api.GET("/v1/accounts/{id}", {
      params: { path: { id: "thread-0" }, query: { minVersion: version } },
    });
    expect([read.response.status, read.data?.version]).toEqual([200, version]);
    const missing = await api.GET("/v1/accounts/{id}", { params: { path: { id: "nobody" } } });
    expect([missing.response.status, missing.error?.code]).toEqual([404, "not_found"]);
  }, 120_000);

  test("its admin routes, readiness and metrics are the edge's", async () => {
    const api = createEventfoldClient({ baseUrl: service.url });
    const projections = await api.GET("/v1/admin/projections");
    expect(projections.data?.projections.map((p) => [p.name, p.state])).toEqual([
      ["accounts", "running"],
      ["analytics", "running"],
    ]);
    const unknown = await api.POST("/v1/admin/projections/{name}/rebuild", {
      params: { path: { name: "nope" } },
    });
    expect([unknown.response.status, unknown.error?.code]).toEqual([404, "not_found"]);

    const ready = await fetch(`${service.url}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([
      200,
      {
        status: "ready",
        checks: { eventStore: "ok", hotLookup: "ok", analytics: "ok", broker: "ok" },
      },
    ]);

    // One scrape: the edge's metrics and the thread's, each family once. The relay has published
    // every event stored (the last ones may be on their way).
    const head = await service.engine.store.headPosition();
    const published = (text: string) => Number(text.match(/^eventfold_relay_published_total (\d+)$/m)?.[1]);
    const text = await eventually(
      async () => (await fetch(`${service.url}/metrics`)).text(),
      (scraped) => published(scraped) === head,
    );
    const families = text.split("\n").filter((line) => line.startsWith("# TYPE "));
    expect(new Set(families).size).toBe(families.length);
    expect(published(text)).toBe(head);
    expect(text).toMatch(/^eventfold_projection_lag_seconds_count\{projection="accounts"\} [1-9]/m);
    expect(text).toMatch(
      /^eventfold_commands_total\{route="\/v1\/accounts\/:id\/deposits",outcome="accepted"\} [1-9]/m,
    );
    // Each thread's heap apart: the read side's holds the in-process read models.
    const heap = (thread: string) =>
      Number(text.match(new RegExp(`^eventfold_heap_bytes\\{thread="${thread}"\\} (\\d+)$`, "m"))?.[1]);
    expect(heap("main")).toBeGreaterThan(1_000_000);
    expect(heap("read-side")).toBeGreaterThan(1_000_000);
  });

  test("the contract it serves is the one an edge with the read side on its loop serves", async () => {
    const inLoop = await startTestService();
    try {
      const [threaded, local] = await Promise.all(
        [service, inLoop].map(async (s) => (await fetch(`${s.url}/openapi.json`)).json()),
      );
      expect(threaded).toEqual(local);
    } finally {
      await inLoop.dispose();
    }
  });
});

test("the thread is given the modules the process was preloaded with, in each spelling bun takes", () => {
  expect(
    preloads(["--preload", "./a.ts", "--smol", "--preload=/abs/b.ts", "-r", "@otel/auto", "--watch"]),
  ).toEqual([`${process.cwd()}/a.ts`, "/abs/b.ts", "@otel/auto"]);
});

test("a read side thread that crashes stops the service with exit code 1, for its supervisor to restart it", async () => {
  const dataDir = tempDir();
  const trigger = join(dataDir, "crash-now");
  try {
    const server = await spawnService({
      port: freePort(),
      flags: ["--preload", "./test/support/crash-read-side.ts"],
      env: { EVENTFOLD_DATA_DIR: dataDir, EVENTFOLD_TEST_CRASH_FILE: trigger, LOG_LEVEL: "info" },
      readyPath: "/readyz",
      stdout: "pipe",
    });
    const said = new Response(server.process.stdout as ReadableStream).text();
    const opened = await fetch(`${server.url}/v1/accounts`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ accountId: "before-the-crash", owner: "o", currency: "EUR" }),
    });
    expect(opened.status).toBe(201);
    writeFileSync(trigger, "");
    expect(await server.exited).toBe(1);
    const lines = (await said)
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line));
    expect(lines.map((line) => line.msg)).toContain(
      "the read side's thread stopped: the service must be restarted",
    );
    expect(lines.at(-1)?.msg).toBe("stopped");
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 30_000);
