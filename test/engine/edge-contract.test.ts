import { afterAll, describe, expect, test } from "bun:test";
import { z } from "zod";
import { accountReadRoutes } from "../../projections/accounts/routes.ts";
import { readSideProblemTypes } from "../../projections/index.ts";
import { MemoryHotLookup } from "../../src/hot-lookup/memory-hot-lookup.ts";
import { createApp } from "../../src/http/app.ts";
import { problemsOf } from "../../src/http/contract.ts";
import { edgeProblemTypes } from "../../src/http/problem-types.ts";
import { DocumentKeys } from "../../src/projector/document-projection.ts";
import { inProcessApp, testRoute } from "../support/app.ts";

/** The edge's answers hold to its document: media type, head size, query, bodies on POSTs, minVersion. */
describe("the service answers as its document says", () => {
  const engine = inProcessApp();
  afterAll(() => engine.close());
  // A POST that declares no body, as the admin routes do; the read of the hot lookup, as served.
  const ping = testRoute({
    method: "post",
    path: "/v1/ping",
    operationId: "ping",
    success: { status: 200, description: "pong", body: z.strictObject({ pong: z.literal(true) }) },
    handle: async () => ({ status: 200, body: { pong: true } }),
  });
  const hot = new MemoryHotLookup();
  const app = createApp(engine.engine, {
    // A hot lookup no projection fills: an account is in the event store, never in the read model.
    routes: [ping, ...accountReadRoutes(hot, new DocumentKeys(hot, "account:", "accounts:"), 50)],
    problemTypes: readSideProblemTypes,
    checkResponses: true,
  });
  const send = async (path: string, init: RequestInit = {}) => {
    const response = await app.request(path, init);
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      body: (text && response.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text) as {
        code?: string;
        errors?: unknown[];
      },
    };
  };

  test("a body is JSON only as application/json (charset utf-8 at most): its +json relatives are 415", async () => {
    await engine.request("POST", "/v1/accounts", { accountId: "media", owner: "o", currency: "EUR" });
    const deposit = (contentType: string) =>
      engine.fetch(
        new Request("http://edge/v1/accounts/media/deposits", {
          method: "POST",
          headers: { "Content-Type": contentType },
          body: '{"amount":5}',
        }),
      );
    for (const contentType of [
      "application/merge-patch+json",
      "application/json-patch+json",
      "application/vnd.api+json",
      "application/json; charset=latin1",
      "text/json",
    ]) {
      const answer = await deposit(contentType);
      expect([contentType, answer.status, ((await answer.json()) as { code: string }).code]).toEqual([
        contentType,
        415,
        "unsupported_media_type",
      ]);
    }
    for (const contentType of ["application/json", "Application/JSON; charset=UTF-8"]) {
      expect([contentType, (await deposit(contentType)).status]).toEqual([contentType, 200]);
    }
    const state = await engine.request("GET", "/v1/accounts/media/state");
    expect(state.body).toMatchObject({ balance: 10, version: 3 });
  });

  test("a head over 16 KiB is a 431 problem that carries its correlation id", async () => {
    const answer = await send("/healthz", { headers: { "X-Padding": "p".repeat(16 * 1024) } });
    expect([answer.status, answer.headers.get("content-type"), answer.body.code]).toEqual([
      431,
      "application/problem+json",
      "headers_too_large",
    ]);
    expect(answer.headers.get("x-correlation-id")).toBeTruthy();
    // Just under the limit is read as usual.
    const fits = await send("/healthz", { headers: { "X-Padding": "p".repeat(15 * 1024) } });
    expect(fits.status).toBe(200);
  });

  test("a query parameter given twice is 400 naming it, on the routes and the operations' alike", async () => {
    for (const path of ["/v1/accounts/media?minVersion=1&minVersion=3", "/healthz?x=1&x=2"]) {
      const answer = await send(path);
      const name = new URL(path, "http://edge").searchParams.keys().next().value;
      expect([path, answer.status, answer.body.errors]).toEqual([
        path,
        400,
        [{ in: "query", path: name, message: "given more than once: give it once" }],
      ]);
    }
  });

  test("the operations' routes refuse an unknown query parameter, as every other route does", async () => {
    for (const path of [
      "/healthz",
      "/readyz",
      "/metrics",
      "/openapi.json",
      "/problems",
      "/problems/forbidden",
    ]) {
      const answer = await send(`${path}?verbose=1`);
      expect([path, answer.status, answer.body.code]).toEqual([path, 400, "validation_failed"]);
      expect((await send(path)).status).toBe(200);
    }
  });

  test("a POST that takes no body refuses one: not JSON is 415, a field is 400; nothing or {} is taken", async () => {
    const post = (body: string | undefined, contentType?: string) =>
      send("/v1/ping", {
        method: "POST",
        ...(body === undefined ? {} : { body }),
        headers: contentType ? { "Content-Type": contentType } : {},
      });
    expect((await post("hello", "text/plain")).status).toBe(415);
    const field = await post('{"force":true}', "application/json");
    expect([field.status, field.body.errors]).toEqual([
      400,
      [{ in: "body", path: "(body)", message: expect.stringContaining("force") }],
    ]);
    expect((await post(undefined)).status).toBe(200);
    expect((await post("{}", "application/json")).status).toBe(200);
  });

  test("minVersion on an account the event store has no stream of is 404 at once; on one it has, it waits", async () => {
    const missing = await send("/v1/accounts/nobody-here?minVersion=1");
    expect([missing.status, missing.body.code]).toEqual([404, "not_found"]);
    await engine.request("POST", "/v1/accounts", { accountId: "unprojected", owner: "o", currency: "EUR" });
    const behind = await send("/v1/accounts/unprojected?minVersion=1");
    expect([behind.status, behind.body.code]).toEqual([504, "projection_behind"]);
  });
});

interface Header {
  required?: boolean;
}
interface Response {
  headers?: Record<string, Header>;
  content?: Record<string, { schema: { allOf?: [unknown, { properties: { code: { enum: string[] } } }] } }>;
}
interface Operation {
  operationId: string;
  responses: Record<string, Response>;
}

describe("the document says which headers an answer carries, and which codes each status may", () => {
  const app = inProcessApp();
  afterAll(() => app.close());
  const operations = async () => {
    const document = (await app.request("GET", "/openapi.json")).body as {
      paths: Record<string, Record<string, Operation>>;
    };
    return Object.values(document.paths).flatMap((path) => Object.values(path));
  };
  const required = (response: Response) =>
    Object.entries(response.headers ?? {})
      .filter(([, header]) => header.required)
      .map(([name]) => name);

  test("X-Correlation-Id on every answer; ETag on a command's success, Location on a 201; WWW-Authenticate on 401; Retry-After on 429 and 503", async () => {
    for (const operation of await operations()) {
      for (const [status, response] of Object.entries(operation.responses)) {
        const names = required(response);
        const where = `${operation.operationId} ${status}`;
        expect([where, names]).toEqual([where, expect.arrayContaining(["X-Correlation-Id"])]);
        if (status === "201") expect([where, names]).toEqual([where, expect.arrayContaining(["Location"])]);
        if (status === "401")
          expect([where, names]).toEqual([where, expect.arrayContaining(["WWW-Authenticate"])]);
        if (status === "429" || status === "503") {
          // /readyz answers 503 with its own body, not a problem to retry.
          if (operation.operationId !== "getReadiness")
            expect([where, names]).toEqual([where, expect.arrayContaining(["Retry-After"])]);
        }
      }
    }
    const byId = new Map((await operations()).map((o) => [o.operationId, o]));
    for (const id of ["openAccount", "deposit", "withdraw", "closeAccount", "startTransfer"]) {
      const success = Object.entries(byId.get(id)?.responses ?? {}).find(([status]) =>
        status.startsWith("2"),
      );
      expect([id, required(success?.[1] ?? {})]).toEqual([id, expect.arrayContaining(["ETag"])]);
    }
  });

  test("each problem status names the codes it can carry, as an enum", async () => {
    const byId = new Map((await operations()).map((o) => [o.operationId, o]));
    const deposit = byId.get("deposit");
    const codes = (status: string) =>
      deposit?.responses[status]?.content?.["application/problem+json"]?.schema.allOf?.[1].properties.code
        .enum;
    expect(codes("409")).toEqual(["account_closed", "balance_limit_exceeded"]);
    expect(codes("503")).toEqual(["unavailable", "overloaded"]);
    expect(codes("431")).toEqual(["headers_too_large"]);
    expect(edgeProblemTypes.map((t) => t.code)).toContain("headers_too_large");
  });
});

describe("the check of answers holds a route to its headers", () => {
  const engine = inProcessApp();
  afterAll(() => engine.close());
  const created = testRoute({
    method: "post",
    path: "/v1/things",
    operationId: "createThing",
    role: "writer",
    success: {
      status: 201,
      description: "made",
      body: z.strictObject({ id: z.string() }),
      headers: ["Location"],
    },
    handle: async () => ({ status: 201, body: { id: "t" } }),
  });

  test("a 201 without the Location it declares is a 500 contract_violation", async () => {
    const app = createApp(engine.engine, { routes: [created], checkResponses: true });
    const response = await app.request("/v1/things", { method: "POST" });
    const body = (await response.json()) as { code: string; detail: string };
    expect([response.status, body.code, body.detail]).toEqual([
      500,
      "contract_violation",
      "POST /v1/things answered 201 without the header Location",
    ]);
    expect(problemsOf(created).get(431)).toEqual(["headers_too_large"]);
  });
});
