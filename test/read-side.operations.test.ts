import { describe, expect, test } from "bun:test";
import { client, eventually } from "./support/http.ts";
import { fullStack, removeServerState } from "./support/read-side.ts";
import { startTestService } from "./support/service.ts";

const metric = (text: string, name: string) =>
  Number(new RegExp(`^${name.replace(/[{}"]/g, "\\$&")} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);

describe("operations of the read side", () => {
  test("readyz answers per dependency: store, broker, hot lookup, analytics", async () => {
    const service = await startTestService(fullStack);
    try {
      const ready = await client(service.url).get("/readyz");
      expect(ready.status).toBe(200);
      expect(ready.body).toEqual({
        status: "ready",
        checks: { eventStore: "ok", hotLookup: "ok", analytics: "ok", broker: "ok" },
      });
    } finally {
      await service.dispose();
      await removeServerState(service.config);
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
        projections: (list) =>
          list.map((p) => ({
            ...p,
            apply: async (...a) => {
              if (p.name === "analytics" && a[0].some((e) => (e.data as { amount?: number }).amount === 13))
                throw new Error("13 is unlucky");
              await p.apply(...a);
            },
          })),
      },
    );
    try {
      const api = client(service.url);
      await api.post("/v1/accounts", { accountId: "m-1", owner: "m", currency: "EUR" });
      await api.post("/v1/accounts/m-1/deposits", { amount: 13 });
      const text = await eventually(
        async () => (await fetch(`${service.url}/metrics`)).text(),
        (t) => metric(t, 'eventfold_dead_letters{projection="analytics"}') === 1,
      );
      expect(metric(text, 'eventfold_dead_letters{projection="analytics"}')).toBe(1);
      expect(metric(text, 'eventfold_dead_letters{projection="accounts"}')).toBe(0);
      expect(metric(text, 'eventfold_projection_queued{projection="accounts"}')).toBe(0);
      expect(metric(text, "eventfold_outbox_lag_events")).toBe(0);
      expect(metric(text, 'eventfold_projection_lag_seconds_count{projection="accounts"}')).toBe(2);
      expect(metric(text, 'eventfold_projection_failures_total{projection="analytics"}')).toBe(1);
    } finally {
      await service.dispose();
    }
  });
});
