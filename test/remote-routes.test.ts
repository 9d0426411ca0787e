import { afterAll, expect, test } from "bun:test";
import { z } from "zod";
import { type AppOptions, createApp } from "../src/http/app.ts";
import { fail } from "../src/http/problem.ts";
import { elsewhere, routeServer, servedElsewhere } from "../src/http/remote-routes.ts";
import { defineRoute, type HttpRoute } from "../src/http/route.ts";
import { createMetrics } from "../src/observability/metrics.ts";
import { inProcessApp } from "./support/app.ts";

// The edge's half and the serving thread's half of routes served elsewhere, joined directly (the
// thread between them is tested with the service, in read-side-thread.test.ts).
const host = inProcessApp();
afterAll(() => host.close());

const tag = { name: "test", description: "routes of the edge's own tests" };
const seen: string[] = [];
const routes = (): HttpRoute[] => [
  defineRoute({
    method: "get",
    path: "/t/things/:id",
    operationId: "readThing",
    summary: "a thing",
    tag,
    role: "reader",
    params: z.object({ id: z.string().regex(/^[a-z]+$/) }),
    query: z.object({ n: z.coerce.number().int().optional() }),
    success: { status: 200, description: "the thing", body: z.object({ id: z.string(), n: z.number() }) },
    problems: { 404: ["not_found"] },
    handle: async (ctx) => {
      if (ctx.params.id === "missing") fail(404, "not_found", "no such thing");
      if (ctx.params.id === "broken") throw new Error("the read store's secret internals");
      return { status: 200, body: { id: ctx.params.id, n: ctx.query.n ?? 0 } };
    },
  }),
];

const served = routeServer(routes(), host.engine.api, (error, reply) =>
  seen.push(`${reply.status} ${(error as Error).message}`),
);
const app = createApp(host.engine, {
  routes: servedElsewhere(routes(), (call, signal) => served(structuredClone(call), signal)),
  checkResponses: true,
});
const get = async (path: string) => {
  const response = await app.request(path);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

test("the edge validates, the other side answers: a reply, a problem, or a 500 without internals", async () => {
  expect(await get("/t/things/abc?n=3")).toEqual({ status: 200, body: { id: "abc", n: 3 } });
  // Refused by the edge's validation: the other side never hears of it.
  expect((await get("/t/things/ABC")).body.code).toBe("validation_failed");
  expect((await get("/t/things/abc?n=x")).body.code).toBe("validation_failed");
  expect(await get("/t/things/missing")).toMatchObject({
    status: 404,
    body: { code: "not_found", detail: "no such thing" },
  });
  const broken = await get("/t/things/broken");
  expect(broken).toMatchObject({ status: 500, body: { code: "internal_error" } });
  expect(JSON.stringify(broken.body)).not.toContain("secret");
  // The serving side saw the error itself, and the problem it came to.
  expect(seen).toEqual(["404 no such thing", "500 the read store's secret internals"]);
});

test("a route's shape can be built over a port that is elsewhere; touching that port says so", () => {
  const port = elsewhere<{ get(key: string): Promise<string> }>("the hot lookup");
  expect(() => port.get("a")).toThrow("the hot lookup is on another thread");
});

test("one scrape sums another thread's metrics with the edge's; a thread that does not answer costs only its own", async () => {
  const other = createMetrics();
  other.relayPublished.inc(3);
  const scrape = async (moreMetrics: AppOptions["moreMetrics"]) =>
    (await createApp(host.engine, { moreMetrics }).request("/metrics")).text();
  const summed = await scrape(async () => other.registry.getMetricsAsJSON());
  expect(summed).toMatch(/^eventfold_relay_published_total 3$/m);
  expect(summed).toMatch(/^eventfold_live_actors \d+$/m);
  const alone = await scrape(() => Promise.reject(new Error("the thread is gone")));
  expect(alone).toMatch(/^eventfold_relay_published_total 0$/m);
  expect(alone).toMatch(/^eventfold_live_actors \d+$/m);
});
