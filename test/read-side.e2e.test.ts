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

    test("pause and resume: a paused projection applies nothing while the other goes on, then catches up exactly", async () => {
      await withService(overrides, {}, async (service) => {
        const api = createEventfoldClient({ baseUrl: service.url });
        const workload = await runWorkload(api, { prefix: "pause", accounts: 20, commands: 400 });
        await quiesce(api, service.engine.store, workload);
        const projection = async (name: string) =>
          (await api.GET("/v1/admin/projections")).data?.projections.find((p) => p.name === name);
        const account = { path: { id: "pause-0" } };
        const before = (await api.GET("/v1/accounts/{id}", { params: account })).data;

        const paused = await api.POST("/v1/admin/projections/{name}/pause", {
          params: { path: { name: "accounts" } },
        });
        expect(paused.data).toEqual({ projection: "accounts", state: "paused", paused: true });
        const more = await runWorkload(api, { prefix: "paused", accounts: 20, commands: 300 });
        expect(serverErrors(more)).toEqual([]);
        for (let i = 0; i < 5; i++) {
          const deposit = await api.POST("/v1/accounts/{id}/deposits", {
            params: account,
            body: { amount: 1 },
          });
          expect(deposit.response.status).toBe(200);
        }
        // The relay and the analytics go on: analytics applies the last deposit (the store's head may be
        // a transfer's event, which analytics does not take) ...
        const stream = await api.GET("/v1/accounts/{id}/events", {
          params: { ...account, query: { limit: 1000 } },
        });
        const lastDeposit = stream.data?.events.at(-1)?.position ?? Number.POSITIVE_INFINITY;
        const analytics = await eventually(
          () => projection("analytics"),
          (p) => (p?.position ?? 0) >= lastDeposit,
          30_000,
        );
        expect(analytics?.state).toBe("running");
        // ... while the accounts' events wait on its queues, and its read model has not moved.
        const accounts = await projection("accounts");
        expect(accounts).toMatchObject({ state: "paused", paused: true });
        expect(accounts?.queued).toBeGreaterThan(0);
        const during = (await api.GET("/v1/accounts/{id}", { params: account })).data;
        expect(during).toEqual(before);

        const resumed = await api.POST("/v1/admin/projections/{name}/resume", {
          params: { path: { name: "accounts" } },
        });
        expect(resumed.data).toEqual({ projection: "accounts", state: "running", paused: false });
        // Both workloads' transfers, and every account at the store's version and balance.
        const truth = await quiesce(api, service.engine.store, {
          ...more,
          transfers: [...workload.transfers, ...more.transfers],
        });
        await expectReadModelsMatchStore(api, truth);
        expect((await projection("accounts"))?.queued).toBe(0);
      });
    }, 120_000);

    test("one dead letter: a replayed event is applied once, a discarded one never", async () => {
      const REPLAYED = 5_151;
      const DISCARDED = 6_161;
      let broken = true;
      const applied = new Map<number, number>();
      const projections = decorate((projection, apply) => async (events, context) => {
        if (projection.name !== "accounts") return apply(events, context);
        const poison = events.find((e) =>
          [REPLAYED, DISCARDED].includes((e.data as { amount?: number }).amount ?? 0),
        );
        if (poison && broken)
          throw new Error(`amount ${(poison.data as { amount: number }).amount} is cursed`);
        await apply(events, context);
        for (const event of events) {
          const { amount } = event.data as { amount?: number };
          if (amount === REPLAYED || amount === DISCARDED)
            applied.set(amount, (applied.get(amount) ?? 0) + 1);
        }
      });
      await withService({ ...overrides, retryAttempts: 2 }, { projections }, async (service) => {
        const api = createEventfoldClient({ baseUrl: service.url });
        const deposited = new Map<number, { id: string; version: number; balance: number }>();
        for (const [id, amount] of [
          ["kept", REPLAYED],
          ["dropped", DISCARDED],
        ] as const) {
          await api.POST("/v1/accounts", { body: { accountId: id, owner: id, currency: "EUR" } });
          await api.POST("/v1/accounts/{id}/deposits", { params: { path: { id } }, body: { amount: 100 } });
          // The poisoned deposit is its account's last event: nothing after it fills the hole.
          const deposit = await api.POST("/v1/accounts/{id}/deposits", {
            params: { path: { id } },
            body: { amount },
          });
          deposited.set(amount, {
            id,
            version: deposit.data?.version ?? 0,
            balance: deposit.data?.balance ?? 0,
          });
        }
        const listed = async () =>
          (await api.GET("/v1/admin/dead-letters", { params: { query: { projection: "accounts" } } })).data
            ?.deadLetters.accounts ?? [];
        const letters = await eventually(listed, (l) => l.length === 2, 30_000);
        const eventOf = (amount: number) =>
          letters.find((l) => (l.event.data as { amount?: number }).amount === amount)?.event.eventId ?? "";
        broken = false;

        const discarded = await api.POST("/v1/admin/dead-letters/{projection}/{eventId}/discard", {
          params: { path: { projection: "accounts", eventId: eventOf(DISCARDED) } },
        });
        expect(discarded.data).toEqual({ discarded: 1 });
        const again = await api.POST("/v1/admin/dead-letters/{projection}/{eventId}/discard", {
          params: { path: { projection: "accounts", eventId: eventOf(DISCARDED) } },
        });
        expect([again.response.status, again.error?.code]).toEqual([404, "not_found"]);
        const replayed = await api.POST("/v1/admin/dead-letters/{projection}/{eventId}/replay", {
          params: { path: { projection: "accounts", eventId: eventOf(REPLAYED) } },
        });
        expect(replayed.data).toEqual({ replayed: 1 });

        const kept = deposited.get(REPLAYED);
        const read = await eventually(
          async () =>
            (
              await api.GET("/v1/accounts/{id}", {
                params: { path: { id: "kept" }, query: { minVersion: kept?.version ?? 0 } },
              })
            ).data,
          (account) => account !== undefined,
          30_000,
        );
        expect(read).toMatchObject({ version: kept?.version, balance: kept?.balance });
        expect(await listed()).toEqual([]);
        const dropped = deposited.get(DISCARDED);
        const stale = await api.GET("/v1/accounts/{id}", { params: { path: { id: "dropped" } } });
        expect(stale.data).toMatchObject({ version: (dropped?.version ?? 0) - 1, balance: 100 });
        // The read model may show it before the apply that wrote it has returned: counted once that has,
        // and still once when nothing waits for the projection any more.
        await eventually(
          async () => applied.get(REPLAYED) ?? 0,
          (n) => n > 0,
          10_000,
        );
        const quiet = await eventually(
          async () =>
            (await api.GET("/v1/admin/projections")).data?.projections.find((p) => p.name === "accounts"),
          (p) => p?.queued === 0 && p.deadLettered === 0,
          10_000,
        );
        expect(quiet).toMatchObject({ deadLettered: 0, queued: 0 });
        expect(Object.fromEntries(applied)).toEqual({ [REPLAYED]: 1 });
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
