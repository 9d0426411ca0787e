import { expect, test } from "bun:test";
import type { ServiceOptions } from "../app/service.ts";
import { removeDeployment } from "../app/teardown.ts";
import { createEventfoldClient } from "../packages/client/src/index.ts";
import type { Config } from "../src/config.ts";
import { eventually } from "./support/http.ts";
import {
  decorate,
  expectReadModelsMatchStore,
  fullStack,
  quiesce,
  readEverything,
  runWorkload,
  serverErrors,
} from "./support/read-side.ts";
import { describeWith, type Server } from "./support/servers.ts";
import { startTestService, type TestService } from "./support/service.ts";

const modes: [string, Partial<Config>, Server[]][] = [
  ["full stack (RabbitMQ, Redis, ClickHouse on chDB)", fullStack, ["RabbitMQ", "Redis"]],
  ["embedded (in-process broker, map, chDB)", {}, []],
];

const withService = async (
  overrides: Partial<Config>,
  options: ServiceOptions,
  body: (service: TestService) => Promise<void>,
) => {
  const service = await startTestService(overrides, options);
  try {
    await body(service);
  } finally {
    await service.dispose();
    await removeDeployment(service.config);
  }
};

// Driven through the typed client (client/): a change of the contract that breaks a client breaks the
// typecheck of these tests, and the service checks every answer against the document
// (EVENTFOLD_CHECK_RESPONSES), so one the document does not allow fails them.
for (const [mode, overrides, needs] of modes)
  describeWith(needs, `read side, ${mode}`, () => {
    test("thousands of random commands: Redis equals the store's replay, ClickHouse sums equal the store's, money conserved", async () => {
      await withService(overrides, {}, async (service) => {
        const api = createEventfoldClient({ baseUrl: service.url });
        const workload = await runWorkload(api, { prefix: "e2e", accounts: 60, commands: 3_000 });
        expect(serverErrors(workload)).toEqual([]);
        expect(workload.acknowledged).toBeGreaterThan(2_000);
        expect(workload.transfers.length).toBeGreaterThan(500);
        const truth = await quiesce(api, service.engine.store, workload);
        await expectReadModelsMatchStore(api, truth);
      });
    }, 120_000);

    test("duplicates: every event published twice more, and some redelivered after being applied, change nothing", async () => {
      // An event whose id ends in 0-3 fails once right after it was applied: the broker redelivers it.
      const failedOnce = new Set<string>();
      const projections = decorate((_p, apply) => async (events, context) => {
        await apply(events, context);
        const redeliver = events.find((e) => /[0-3]$/.test(e.eventId) && !failedOnce.has(e.eventId));
        if (redeliver) {
          failedOnce.add(redeliver.eventId);
          throw new Error("the ack was lost");
        }
      });
      await withService(overrides, { projections }, async (service) => {
        const api = createEventfoldClient({ baseUrl: service.url });
        const workload = await runWorkload(api, { prefix: "dup", accounts: 40, commands: 1_500 });
        expect(serverErrors(workload)).toEqual([]);
        const stored = await readEverything(service.engine.store);
        await service.broker?.publish(stored);
        await service.broker?.publish(stored);
        const truth = await quiesce(api, service.engine.store, workload);
        await expectReadModelsMatchStore(api, truth);
        expect(failedOnce.size).toBeGreaterThan(50);
        const { data } = await api.GET("/v1/admin/projections");
        expect(data?.projections.map((p) => p.deadLettered)).toEqual([0, 0]);
      });
    }, 120_000);

    test("poison: retried with growing backoff, dead-lettered after the limit, listed, and replayed once fixed", async () => {
      const POISON = 4_242;
      let broken = true;
      const tries: number[] = [];
      const projections = decorate((projection, apply) => async (events, context) => {
        const poison = events.find((e) => (e.data as { amount?: number }).amount === POISON);
        if (projection.name === "accounts" && poison && broken) {
          // Each try ends with the event applied alone (a failed batch is split up to find the culprit).
          if (events.length === 1) tries.push(performance.now());
          throw new Error(`cannot apply ${poison.eventId}: amount ${POISON} is cursed`);
        }
        await apply(events, context);
      });
      await withService({ ...overrides, retryAttempts: 4 }, { projections }, async (service) => {
        const api = createEventfoldClient({ baseUrl: service.url });
        const workload = await runWorkload(api, { prefix: "poison", accounts: 10, commands: 200 });
        // The poison event is the last of its account, so nothing after it fills the hole meanwhile.
        const poisoned = { path: { id: "poison-0" } };
        const deposit = await api.POST("/v1/accounts/{id}/deposits", {
          params: poisoned,
          body: { amount: POISON },
        });
        expect(deposit.response.status).toBe(200);
        const version = deposit.data?.version ?? 0;

        const listed = async () =>
          (await api.GET("/v1/admin/dead-letters", { params: { query: { projection: "accounts" } } })).data
            ?.deadLetters.accounts ?? [];
        const letters = await eventually(listed, (l) => l.length > 0, 30_000);
        expect(letters).toEqual([
          {
            event: expect.objectContaining({
              streamId: "account-poison-0",
              data: expect.objectContaining({ amount: POISON }),
            }),
            error: expect.stringContaining("is cursed"),
            attempts: 4,
            deadLetteredAt: expect.any(String),
          },
        ]);
        // Tried exactly the limit, each wait longer than the one before, and then no more.
        expect(tries.length).toBe(4);
        const waits = tries.slice(1).map((t, i) => t - (tries[i] as number));
        for (const [i, wait] of waits.entries()) {
          expect(wait).toBeGreaterThanOrEqual(20 * 2 ** i * 0.9);
          if (i > 0) expect(wait).toBeGreaterThan(waits[i - 1] as number);
        }
        await Bun.sleep(500);
        expect(tries.length).toBe(4);
        const behind = await api.GET("/v1/accounts/{id}", {
          params: { ...poisoned, query: { minVersion: version } },
        });
        expect([behind.response.status, behind.error?.code]).toEqual([504, "projection_behind"]);

        broken = false;
        const replayed = await api.POST("/v1/admin/dead-letters/{projection}/replay", {
          params: { path: { projection: "accounts" } },
        });
        expect(replayed.data).toEqual({ replayed: 1 });
        const truth = await quiesce(api, service.engine.store, workload);
        await expectReadModelsMatchStore(api, truth);
        expect(await listed()).toEqual([]);
      });
    }, 120_000);

    test("rebuild: each projection dropped and refilled from the store gives the same totals", async () => {
      await withService(overrides, {}, async (service) => {
        const api = createEventfoldClient({ baseUrl: service.url });
        const workload = await runWorkload(api, { prefix: "rebuild", accounts: 30, commands: 800 });
        const truth = await quiesce(api, service.engine.store, workload);
        for (const name of ["accounts", "analytics"]) {
          const started = await api.POST("/v1/admin/projections/{name}/rebuild", {
            params: { path: { name } },
          });
          expect(started.response.status).toBe(202);
          const status = await eventually(
            async () =>
              (await api.GET("/v1/admin/projections")).data?.projections.find((p) => p.name === name),
            (p) => p?.state === "running" && p.rebuild?.finishedAt !== undefined,
            30_000,
          );
          expect(status?.rebuild).toMatchObject({ done: expect.any(Number), total: expect.any(Number) });
          await expectReadModelsMatchStore(api, truth);
        }
      });
    }, 120_000);
  });
