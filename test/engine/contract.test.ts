import { afterAll, describe, expect, test } from "bun:test";
import { z } from "zod";
import { createApp } from "../../src/http/app.ts";
import { buildOpenApi } from "../../src/http/openapi.ts";
import { edgeProblemTypes } from "../../src/http/problem-types.ts";
import type { HttpRoute } from "../../src/http/route.ts";
import { inProcessApp, testRoute } from "../support/app.ts";

interface Operation {
  operationId: string;
  tags: string[];
  responses: Record<string, { description: string; content?: Record<string, unknown> }>;
}
interface Document {
  tags: { name: string }[];
  servers: { url: string; description?: string }[];
  info: { license: { identifier: string } };
  paths: Record<string, Record<string, Operation>>;
}

describe("the OpenAPI document", () => {
  const app = inProcessApp();
  afterAll(() => app.close());
  const document = async () => (await app.request("GET", "/openapi.json")).body as unknown as Document;

  test("every operation is named once, tagged with a declared tag, and answers with more than success", async () => {
    const doc = await document();
    const operations = Object.values(doc.paths).flatMap((item) => Object.values(item));
    const ids = operations.map((o) => o.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toContain("openAccount");
    expect(ids).toContain("startTransfer");
    const tags = doc.tags.map((t) => t.name);
    for (const operation of operations) {
      expect([operation.operationId, tags.includes(operation.tags[0] ?? "")]).toEqual([
        operation.operationId,
        true,
      ]);
    }
    expect(doc.servers).toEqual([{ url: "/", description: expect.any(String) }]);
    expect(doc.info.license.identifier).toBe("MIT");
  });

  test("a command documents every status it can answer with, as problem+json", async () => {
    const deposit = (await document()).paths["/v1/accounts/{id}/deposits"]?.post;
    expect(Object.keys(deposit?.responses ?? {})).toEqual([
      "200",
      "400",
      "401",
      "403",
      "404",
      "409",
      "412",
      "413",
      "415",
      "422",
      "429",
      "431",
      "500",
      "503",
    ]);
    expect(Object.keys(deposit?.responses["409"]?.content ?? {})).toEqual(["application/problem+json"]);
    expect(deposit?.responses["409"]?.description).toContain("`balance_limit_exceeded`");
  });

  test("a read declares no capacity problem, and a body that may be empty is not required", async () => {
    const doc = await document();
    const read = doc.paths["/v1/accounts/{id}/state"]?.get;
    expect(read?.responses["503"]?.description).toStartWith("`unavailable`:");
    expect(read?.responses["503"]?.description).not.toContain("`overloaded`");
    expect(read?.responses["429"]).toBeUndefined();
    const close = doc.paths["/v1/accounts/{id}/close"]?.post as Operation & {
      requestBody: { required: boolean };
    };
    expect(close.requestBody.required).toBe(false);
    const open = doc.paths["/v1/accounts"]?.post as Operation & { requestBody: { required: boolean } };
    expect(open.requestBody.required).toBe(true);
  });

  test("a problem's type resolves to a page about its code, for every code the document names", async () => {
    const missing = await app.request("POST", "/v1/accounts/nobody/deposits", { amount: 1 });
    expect(missing.status).toBe(404);
    const page = await app.request("GET", String(missing.body.type));
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toStartWith("text/html");
    expect(String(page.body)).toContain("<code>not_found</code>");

    const doc = await document();
    const codes = new Set(
      Object.values(doc.paths)
        .flatMap((item) => Object.values(item))
        .flatMap((o) => Object.values(o.responses))
        .flatMap((r) => [...r.description.matchAll(/`([a-z_]+)`:/g)].map((m) => m[1])),
    );
    expect(codes.size).toBeGreaterThan(15);
    for (const code of codes) {
      const answer = await app.request("GET", `/problems/${code}`);
      expect([code, answer.status]).toEqual([code, 200]);
    }
    expect((await app.request("GET", "/problems/no_such_code")).status).toBe(404);
  });

  test("a route that declares a code without a problem type cannot be served", () => {
    const route = testRoute({
      method: "get",
      path: "/v1/things",
      operationId: "listThings",
      success: { status: 200, description: "things", body: z.strictObject({}) },
      problems: { 409: ["thing_undeclared"] },
      handle: async () => ({ status: 200, body: {} }),
    });
    expect(() => buildOpenApi({ routes: [route], problemTypes: edgeProblemTypes })).toThrow(
      "problem code thing_undeclared has no problem type",
    );
  });
});

describe("answers checked against the document", () => {
  const engine = inProcessApp();
  afterAll(() => engine.close());
  const lying = (reply: { status: number; body: unknown }): HttpRoute =>
    testRoute({
      method: "get",
      path: "/v1/lies",
      operationId: "lie",
      success: { status: 200, description: "a count", body: z.strictObject({ count: z.int() }) },
      problems: { 404: ["not_found"] },
      handle: async () => reply,
    });
  const answer = async (reply: { status: number; body: unknown }, checkResponses = true) => {
    const app = createApp(engine.engine, { routes: [lying(reply)], checkResponses });
    const response = await app.request("/v1/lies");
    return {
      status: response.status,
      body: (await response.json()) as { code?: string; detail?: string; count?: number },
    };
  };
  const problem = (status: number, code: string) => ({
    status,
    body: { type: `/problems/${code}`, title: "t", status, detail: "d", code },
  });

  test("an answer the document allows goes out as it is", async () => {
    expect(await answer({ status: 200, body: { count: 3 } })).toEqual({ status: 200, body: { count: 3 } });
    expect((await answer(problem(404, "not_found"))).status).toBe(404);
  });

  test("a body unlike its schema, a status or a code not declared: a 500 that says which", async () => {
    const cases = [
      [
        { status: 200, body: { count: "3" } },
        "GET /v1/lies answered 200 with a body unlike its schema: count",
      ],
      [problem(409, "conflict"), "GET /v1/lies answered 409, a status it does not declare"],
      [problem(404, "gone"), "GET /v1/lies answered 404 with code gone, not one it declares (not_found)"],
    ] as const;
    for (const [reply, violation] of cases) {
      const checked = await answer(reply);
      expect(checked.status).toBe(500);
      expect(checked.body.code).toBe("contract_violation");
      expect(checked.body.detail).toStartWith(violation);
      // Unchecked, the same lie would have reached the client.
      expect((await answer(reply, false)).status).toBe(reply.status);
    }
    expect(engine.log.lines.filter((l) => l.msg === "answer breaks the contract")).toHaveLength(3);
  });
});
