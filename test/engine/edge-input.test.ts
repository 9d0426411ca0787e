import { afterAll, describe, expect, test } from "bun:test";
import type { ClickHouseClient } from "@clickhouse/client";
import { analyticsRoutes } from "../../projections/analytics/routes.ts";
import { readSideProblemTypes } from "../../projections/index.ts";
import type { AnalyticsSql } from "../../src/analytics/sql.ts";
import { createApp } from "../../src/http/app.ts";
import { inProcessApp } from "../support/app.ts";

describe("input the edge refuses with 400, naming the field", () => {
  const app = inProcessApp({ config: { apiKeys: [{ name: "w", role: "writer", token: "w-token" }] } });
  afterAll(() => app.close());
  const as = { Authorization: "Bearer w-token" };
  const raw = (path: string, body: string, headers: Record<string, string> = {}) =>
    app.fetch(
      new Request(`http://edge${path}`, {
        method: "POST",
        headers: { "Content-Type": "application/json", ...as, ...headers },
        body,
      }),
    );

  test("the bearer scheme is case-insensitive; a 401 says which scheme to use", async () => {
    for (const scheme of ["Bearer", "bearer", "BEARER"]) {
      const answer = await app.request(
        "POST",
        "/v1/accounts",
        { accountId: `s-${scheme}`, owner: "o", currency: "EUR" },
        {
          Authorization: `${scheme} w-token`,
        },
      );
      expect([scheme, answer.status]).toEqual([scheme, 201]);
    }
    const refused = await app.request("GET", "/v1/accounts/x/state");
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toBe('Bearer realm="eventfold"');
  });

  test("a key named twice in a body is refused, at any depth, not read as its last value", async () => {
    await app.request("POST", "/v1/accounts", { accountId: "dup", owner: "o", currency: "EUR" }, as);
    const answer = await raw("/v1/accounts/dup/deposits", '{"amount":-1,"amount":5}');
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({
      code: "validation_failed",
      errors: [{ in: "body", path: "amount" }],
    });
    expect((await app.request("GET", "/v1/accounts/dup/state", undefined, as)).body).toMatchObject({
      balance: 0,
    });
    // The same text inside a string value is no duplicate.
    const inString = await raw(
      "/v1/accounts/dup/deposits",
      '{"amount":5,"reference":"{\\"amount\\":1,\\"amount\\":2}"}',
    );
    expect(inString.status).toBe(200);
  });

  test("an owner or a reference with control characters or bidirectional overrides is refused", async () => {
    for (const owner of ["A\u0000B", "line\nbreak", "carriage\rreturn", "evil\u202Egnp.exe"]) {
      const answer = await app.request("POST", "/v1/accounts", { owner, currency: "EUR" }, as);
      expect([
        owner,
        answer.status,
        (answer.body.errors as { path: string }[] | undefined)?.[0]?.path,
      ]).toEqual([owner, 400, "owner"]);
    }
    const reference = await app.request(
      "POST",
      "/v1/accounts/dup/deposits",
      { amount: 1, reference: "a\u2066b" },
      as,
    );
    expect([reference.status, (reference.body.errors as { path: string }[] | undefined)?.[0]?.path]).toEqual([
      400,
      "reference",
    ]);
    expect(
      (await app.request("POST", "/v1/accounts", { owner: "Zoë Ölund-Ñúñez", currency: "EUR" }, as)).status,
    ).toBe(201);
  });

  test("a query number that is missing or not whole says so by name", async () => {
    const bad = await app.request("GET", "/v1/accounts/dup/events?limit=abc", undefined, as);
    expect(bad.body.errors).toEqual([
      { in: "query", path: "limit", message: "a whole number from 1 to 1000" },
    ]);
  });
});

describe("analytics instants", () => {
  // Every request below is refused before a query is made: a client that is never reached.
  const unreachable = new Proxy({} as ClickHouseClient, {
    get: () => {
      throw new Error("the analytics store was reached");
    },
  });
  const engine = inProcessApp();
  const app = createApp(engine.engine, {
    routes: analyticsRoutes(unreachable, "db", unreachable as unknown as AnalyticsSql),
    problemTypes: readSideProblemTypes,
  });
  afterAll(() => engine.close());
  const get = async (query: string) => {
    const response = await app.request(`/v1/analytics/event-counts?${query}`);
    return {
      status: response.status,
      body: (await response.json()) as { errors?: { path: string; message: string }[] },
    };
  };

  test("not an instant, not on the calendar, before 1970 or after 2106-02-07T06:28:15Z: 400 naming the field", async () => {
    const cases = [
      ["from=x&to=2026-12-01T00:00:00Z", "from"],
      ["from=2026-02-30T00:00:00Z&to=2026-12-01T00:00:00Z", "from"],
      ["from=1969-12-31T23:59:59Z&to=2026-12-01T00:00:00Z", "from"],
      ["from=2026-01-01T00:00:00Z&to=2106-02-07T06:28:16Z", "to"],
      ["from=2026-01-01T00:00:00Z&to=2026-13-01T00:00:00Z", "to"],
    ] as const;
    for (const [query, field] of cases) {
      const answer = await get(query);
      expect([query, answer.status, answer.body.errors?.map((e) => e.path)]).toEqual([query, 400, [field]]);
    }
  });

  test("top-accounts without a limit names the missing parameter", async () => {
    const response = await app.request("/v1/analytics/top-accounts?by=balance");
    const body = (await response.json()) as { errors: { in: string; path: string; message: string }[] };
    expect([response.status, body.errors]).toEqual([
      400,
      [{ in: "query", path: "limit", message: "required: a whole number from 1 to 100" }],
    ]);
  });
});
