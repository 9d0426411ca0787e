import { afterAll, describe, expect, test } from "bun:test";
import { defineAggregate, reject } from "../../src/aggregate.ts";
import { loadConfig } from "../../src/config.ts";
import { createEngine, drainEngine } from "../../src/engine.ts";
import { createLogger } from "../../src/observability/log.ts";
import { createMetrics } from "../../src/observability/metrics.ts";
import { ContentionError } from "../../src/runtime/errors.ts";
import type { AppendRequest, AppendResult } from "../../src/store/event-store.ts";
import { MemoryStore } from "../../src/store/memory/memory-store.ts";

/**
 * The engine's side of a rule across aggregates, with no domain: a spend may not pass the limit of
 * the budget it names. The budget is read with its whole state (`reads` left to its default), so any
 * change to it sends the spend back to be decided again.
 */
type BudgetEvent = { readonly type: "LimitSet"; readonly limit: number };
const budget = defineAggregate<{ limit: number }, { type: "SetLimit"; limit: number }, BudgetEvent>({
  type: "budget",
  initialState: { limit: 0 },
  decide: (_, { limit }) => [{ type: "LimitSet", limit }],
  evolve: (_, { limit }) => ({ limit }),
});
type Spend = { readonly type: "Spend"; readonly budgetId: string; readonly amount: number };
type Spent = { readonly type: "Spent"; readonly amount: number; readonly day: string };
const wallet = defineAggregate<{ spent: number }, Spend, Spent>({
  type: "wallet",
  initialState: { spent: 0 },
  dependsOn: (command) => [{ aggregate: budget, id: command.budgetId }],
  decide: (state, command, { now, stateOf }) =>
    state.spent + command.amount > stateOf(budget, command.budgetId).limit
      ? reject("conflict", "over_budget", "past the budget's limit")
      : [{ type: "Spent", amount: command.amount, day: now.toISOString().slice(0, 10) }],
  evolve: (state, event) => ({ spent: state.spent + event.amount }),
});

const metadata = { commandId: "c", correlationId: "c", causationId: "c" };

/** An engine over a memory store whose appends of spends run `interfere` first, and are kept with their results. */
const engineWith = (
  interfere: (store: MemoryStore, attempt: number) => Promise<unknown>,
  clock: () => Date,
) => {
  const store = new MemoryStore();
  const spends: { request: AppendRequest; result: AppendResult }[] = [];
  const append = store.append.bind(store);
  store.append = async (request) => {
    if (!request.events.some((e) => e.type === "Spent") && request.dependsOn === undefined)
      return append(request);
    await interfere(store, spends.length);
    const result = await append(request);
    spends.push({ request, result });
    return result;
  };
  const engine = createEngine({
    config: { ...loadConfig({ LOG_LEVEL: "silent" }), actorMaxAttempts: 4 },
    store,
    metrics: createMetrics(),
    log: createLogger("silent"),
    aggregates: [budget, wallet],
    processManagers: [],
    clock,
  });
  return {
    engine,
    store,
    spends,
    setLimit: (limit: number) =>
      engine.api.commands.send(budget, "b", { command: { type: "SetLimit", limit }, metadata }),
  };
};

/** The budget set again, straight in the store, as another edge that owns it would. */
const moveBudget = (store: MemoryStore, version: number, limit: number) =>
  store.append({
    streamId: "budget-b",
    aggregateType: "budget",
    expectedVersion: version,
    events: [{ eventId: Bun.randomUUIDv7(), type: "LimitSet", schemaVersion: 1, data: { limit }, metadata }],
  });

describe("a rule across aggregates, in the engine", () => {
  const times = [new Date("2027-01-31T23:59:59.000Z"), new Date("2027-02-01T00:00:01.000Z")];
  let ticks = 0;
  const { engine, spends, setLimit } = engineWith(
    // Once: the budget is lowered between the spend's read of it and its append.
    async (store, attempt) => (attempt === 0 ? moveBudget(store, 1, 5) : undefined),
    () => times[Math.min(ticks++, times.length - 1)] as Date,
  );
  afterAll(() => drainEngine(engine));

  test("the budget moved: the spend clashes once, is decided again on the new limit, at the instant it was taken", async () => {
    await setLimit(100);
    ticks = 0;
    // Under a key, so that the refusal is kept, through the same check.
    const result = await engine.api.commands.send(wallet, "w", {
      command: { type: "Spend", budgetId: "b", amount: 10 },
      metadata,
      idempotency: { key: "spend-1", fingerprint: "spend-1" },
    });
    expect(spends.map((s) => s.result)).toEqual([
      { ok: false, reason: "dependency_conflict", streamId: "budget-b", actualVersion: 2 },
      { ok: true, version: 0, time: expect.any(String) },
    ]);
    expect(spends.map((s) => s.request.dependsOn)).toEqual([
      [{ streamId: "budget-b", version: 1 }],
      [{ streamId: "budget-b", version: 2 }],
    ]);
    expect(result).toMatchObject({ kind: "rejected", rejection: { code: "over_budget" } });
    // The clock was read once, when the command was sent; the second decision saw the same instant.
    expect(ticks).toBe(1);
  });

  test("each event keeps the instant its command was taken, and the rule saw it", async () => {
    ticks = 0;
    const result = await engine.api.commands.send(wallet, "w", {
      command: { type: "Spend", budgetId: "b", amount: 5 },
      metadata,
    });
    expect(result).toMatchObject({ kind: "accepted" });
    const [spent] = await engine.api.queries.events(wallet, "w");
    expect(spent).toMatchObject({
      data: { day: "2027-01-31" },
      metadata: { issuedAt: "2027-01-31T23:59:59.000Z" },
    });
  });
});

describe("a dependency that never holds still", () => {
  const { engine, spends, setLimit } = engineWith(
    (store, attempt) => moveBudget(store, attempt + 1, 100),
    () => new Date(),
  );
  afterAll(() => drainEngine(engine));

  test("the re-runs are bounded: after the last attempt the command fails, and nothing was written", async () => {
    await setLimit(100);
    const sent = engine.api.commands.send(wallet, "w", {
      command: { type: "Spend", budgetId: "b", amount: 1 },
      metadata,
    });
    expect(await sent.catch((error: unknown) => error)).toBeInstanceOf(ContentionError);
    expect(spends.map((s) => !s.result.ok && s.result.reason)).toEqual(Array(4).fill("dependency_conflict"));
    expect(await engine.api.queries.events(wallet, "w")).toEqual([]);
  });
});

describe("a refusal that writes nothing", () => {
  const { engine, store, setLimit } = engineWith(
    async () => undefined,
    () => new Date(),
  );
  afterAll(() => drainEngine(engine));
  // Another edge raises the limit right after the spend read it: at the check, its first look after.
  let armed = false;
  const streamInfo = store.streamInfo.bind(store);
  store.streamInfo = async (streamId) => {
    if (streamId === "budget-b" && armed) {
      armed = false;
      await moveBudget(store, 1, 100);
    }
    return streamInfo(streamId);
  };

  test("is checked against the versions it read before it is answered: decided on an old limit, it is decided again", async () => {
    await setLimit(5);
    armed = true;
    const result = await engine.api.commands.send(wallet, "w", {
      command: { type: "Spend", budgetId: "b", amount: 10 },
      metadata,
    });
    expect(armed).toBe(false);
    expect(result).toMatchObject({ kind: "accepted" });
  });
});
