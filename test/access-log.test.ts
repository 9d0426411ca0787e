/**
 * What a request leaves in the log: one access line once it is answered (EVENTFOLD_ACCESS_LOG), and
 * its correlation id on every line logged while it is served, wherever the line is written.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { z } from "zod";
import { createApp } from "../src/http/app.ts";
import { routeServer } from "../src/http/remote-routes.ts";
import { createLogger } from "../src/observability/log.ts";
import { inProcessApp, logLines, testRoute } from "./support/app.ts";
import { client, eventually } from "./support/http.ts";
import { startTestService } from "./support/service.ts";

const accessLines = (lines: readonly Record<string, unknown>[]) => lines.filter((l) => l.msg === "request");

/** A promise and what settles it, for a test to hold a handler at a point of its choosing. */
const deferred = () => {
  let resolve = () => {};
  const promise = new Promise<void>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
};

describe("the access log", () => {
  const app = inProcessApp();
  afterAll(() => app.close());

  test("one info line per request: method, route pattern, status, duration in ms, correlation id", async () => {
    const opened = await app.request(
      "POST",
      "/v1/accounts",
      { accountId: "logged", owner: "o", currency: "EUR" },
      { "X-Correlation-Id": "open-logged" },
    );
    const state = await app.request("GET", "/v1/accounts/logged/state");
    const missing = await app.request("GET", "/nowhere");
    const health = await app.request("GET", "/healthz");
    expect([opened.status, state.status, missing.status, health.status]).toEqual([201, 200, 404, 200]);

    const lines = accessLines(app.log.lines);
    expect(lines).toEqual([
      expect.objectContaining({
        level: "info",
        method: "POST",
        route: "/v1/accounts",
        status: 201,
        correlationId: "open-logged",
      }),
      expect.objectContaining({
        method: "GET",
        route: "/v1/accounts/:id/state",
        status: 200,
        correlationId: state.headers.get("x-correlation-id"),
      }),
      // No route matched: there is no pattern to name.
      expect.objectContaining({
        method: "GET",
        status: 404,
        correlationId: missing.headers.get("x-correlation-id"),
      }),
      expect.objectContaining({ method: "GET", route: "/healthz", status: 200 }),
    ]);
    expect(lines[2]).not.toHaveProperty("route");
    for (const line of lines) expect(line.durationMs).toBeGreaterThanOrEqual(0);
  });

  test("EVENTFOLD_ACCESS_LOG=0: no access line, and the request's other lines still carry its id", async () => {
    const quiet = inProcessApp({ config: { accessLog: false } });
    try {
      const failing = createApp(quiet.engine, {
        routes: [
          testRoute({
            method: "get",
            path: "/v1/failing",
            operationId: "failing",
            success: { status: 200, description: "never", body: z.strictObject({}) },
            handle: async () => {
              throw new Error("the handler's own fault");
            },
          }),
        ],
      });
      await quiet.request("POST", "/v1/accounts", { accountId: "q", owner: "o", currency: "EUR" });
      const failed = await failing.request("/v1/failing", { headers: { "X-Correlation-Id": "fails" } });
      expect(failed.status).toBe(500);
      expect(accessLines(quiet.log.lines)).toEqual([]);
      expect(quiet.log.lines).toEqual([
        expect.objectContaining({ level: "error", msg: "request failed", correlationId: "fails" }),
      ]);
    } finally {
      await quiet.close();
    }
  });
});

describe("the correlation id on every line a request causes", () => {
  const app = inProcessApp();
  afterAll(() => app.close());

  test("a handler's line after an await carries its own request's id, with another request in flight", async () => {
    const gates = new Map([
      ["first", { entered: deferred(), release: deferred() }],
      ["second", { entered: deferred(), release: deferred() }],
    ]);
    const waiting = createApp(app.engine, {
      routes: [
        testRoute({
          method: "get",
          path: "/v1/waits",
          operationId: "waits",
          success: { status: 200, description: "done", body: z.strictObject({}) },
          handle: async (ctx) => {
            const gate = gates.get(ctx.metadata.correlationId);
            gate?.entered.resolve();
            await gate?.release.promise;
            app.engine.log.warn({ sentAs: ctx.metadata.correlationId }, "a handler's own line");
            return { status: 200, body: {} };
          },
        }),
      ],
    });
    const send = (id: string) => waiting.request("/v1/waits", { headers: { "X-Correlation-Id": id } });
    const first = send("first");
    const second = send("second");
    await Promise.all([...gates.values()].map((gate) => gate.entered.promise));
    // The second ends first: each goes on in its own context, not in the last one entered.
    gates.get("second")?.release.resolve();
    expect((await second).status).toBe(200);
    gates.get("first")?.release.resolve();
    expect((await first).status).toBe(200);

    const handlerLines = app.log.lines.filter((line) => line.msg === "a handler's own line");
    expect(handlerLines.map((line) => [line.sentAs, line.correlationId])).toEqual([
      ["second", "second"],
      ["first", "first"],
    ]);
    expect(accessLines(app.log.lines).map((line) => line.correlationId)).toEqual(["second", "first"]);
  });

  test("a route served on another thread: the handler's lines there carry the id the call came with", async () => {
    const log = logLines();
    const logger = createLogger("info", { write: log.write });
    const serve = routeServer(
      [
        testRoute({
          method: "get",
          path: "/v1/elsewhere",
          operationId: "elsewhere",
          success: { status: 200, description: "done", body: z.strictObject({}) },
          handle: async () => {
            await Promise.resolve();
            logger.info("a line on the serving thread");
            throw new Error("its fault");
          },
        }),
      ],
      app.engine.api,
      (error) => logger.error({ err: error }, "a read route failed"),
    );
    // Called as the thread calls it, outside any request of its own: only the call says which.
    const answer = await serve(
      {
        operationId: "elsewhere",
        params: {},
        query: {},
        body: undefined,
        headers: {},
        metadata: { commandId: "c", correlationId: "from-the-edge", causationId: "c" },
      },
      new AbortController().signal,
    );
    expect(answer.reply.status).toBe(500);
    expect(log.lines.map((line) => [line.msg, line.correlationId])).toEqual([
      ["a line on the serving thread", "from-the-edge"],
      ["a read route failed", "from-the-edge"],
    ]);
  });

  test("a service: an admin action's line carries the id; the lines of no request carry none", async () => {
    const log = logLines();
    const service = await startTestService({}, { log: createLogger("info", { write: log.write }) });
    try {
      const api = client(service.url, { "X-Correlation-Id": "pause-accounts" });
      expect((await api.post("/v1/admin/projections/accounts/pause")).status).toBe(200);
      expect((await client(service.url).post("/v1/admin/projections/accounts/resume")).status).toBe(200);
      expect(log.lines.find((line) => line.msg === "a projection was paused")).toMatchObject({
        projection: "accounts",
        correlationId: "pause-accounts",
      });
      expect(accessLines(log.lines)[0]).toMatchObject({
        method: "POST",
        route: "/v1/admin/projections/:name/pause",
        status: 200,
        correlationId: "pause-accounts",
      });
      expect(log.lines.find((line) => line.msg === "eventfold is serving")).not.toHaveProperty(
        "correlationId",
      );
      // A rebuild a request started goes on for everyone: its lines, once the request is answered,
      // are not that request's.
      const rebuild = client(service.url, { "X-Correlation-Id": "rebuild-it" });
      expect((await rebuild.post("/v1/admin/projections/accounts/rebuild")).status).toBe(202);
      const rebuilt = await eventually(
        async () => log.lines.find((line) => line.msg === "a projection was rebuilt from the event store"),
        (line) => line !== undefined,
        10_000,
      );
      expect(rebuilt).toMatchObject({ projection: "accounts" });
      expect(rebuilt).not.toHaveProperty("correlationId");
    } finally {
      await service.dispose();
    }
  });
});
