import { expect } from "bun:test";
import { account } from "../../actors/account/index.ts";
import type { EventfoldClient } from "../../packages/client/src/index.ts";
import { idOfStream } from "../../src/aggregate.ts";
import type { Config } from "../../src/config.ts";
import type { Projection } from "../../src/projector/projection.ts";
import { domainEvent } from "../../src/runtime/fold.ts";
import type { EventEnvelope } from "../../src/store/envelope.ts";
import type { EventStore } from "../../src/store/event-store.ts";
import { eventually } from "./http.ts";

/** The RabbitMQ and Redis that `.ci/run` makes sure of. */
export const fullStack = {
  amqpUrl: process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672",
  redisUrl: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
} satisfies Partial<Config>;

/** Wraps each projection's `apply`, to inject faults. */
export const decorate =
  (wrap: (projection: Projection, apply: Projection["apply"]) => Projection["apply"]) =>
  (projections: readonly Projection[]) =>
    projections.map((p) => ({ ...p, apply: wrap(p, p.apply.bind(p)) }));

/** `projection` cannot apply a batch holding an event of this amount while `broken()` says so. */
export const poisonAmount = (projection: string, amount: number, message: string, broken = () => true) =>
  decorate((p, apply) => async (events, context) => {
    const poisoned = events.some((e) => (e.data as { amount?: number }).amount === amount);
    if (p.name === projection && poisoned && broken()) throw new Error(message);
    await apply(events, context);
  });

/** Deterministic, so a failing run can be replayed with its seed. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

export interface Workload {
  readonly accounts: readonly string[];
  readonly transfers: string[];
  /** HTTP status → how many answers had it. */
  readonly statuses: Map<number, number>;
  /** How many commands were answered 2xx. */
  acknowledged: number;
}

export interface WorkloadOptions {
  readonly prefix: string;
  readonly accounts: number;
  readonly commands: number;
  readonly concurrency?: number;
  readonly seed?: number;
  /** Stops sending new commands once it returns false (e.g. the server went away). */
  readonly keepGoing?: () => boolean;
}

/**
 * Opens accounts (a few in USD, a few closed at once), then sends random deposits, withdrawals and
 * transfers, `concurrency` at a time. Refusals (insufficient funds, closed account, currency mismatch)
 * are part of the mix; a 5xx is not, and the caller checks `statuses`.
 */
export const runWorkload = async (api: EventfoldClient, options: WorkloadOptions): Promise<Workload> => {
  const next = random(options.seed ?? 42);
  const accounts = Array.from({ length: options.accounts }, (_, i) => `${options.prefix}-${i}`);
  const workload: Workload = { accounts, transfers: [], statuses: new Map(), acknowledged: 0 };
  const count = (status: number) => {
    workload.statuses.set(status, (workload.statuses.get(status) ?? 0) + 1);
    if (status < 300) workload.acknowledged += 1;
  };
  for (const [i, id] of accounts.entries()) {
    const opened = await api.POST("/v1/accounts", {
      body: { accountId: id, owner: `owner of ${id}`, currency: i % 10 === 9 ? "USD" : "EUR" },
    });
    count(opened.response.status);
    if (i % 25 === 24) {
      const closed = await api.POST("/v1/accounts/{id}/close", { params: { path: { id } }, body: {} });
      count(closed.response.status);
    }
  }
  const pick = () => accounts[Math.floor(next() * accounts.length)] as string;
  let sent = 0;
  const worker = async () => {
    while (sent < options.commands && (options.keepGoing?.() ?? true)) {
      sent += 1;
      const roll = next();
      const amount = 1 + Math.floor(next() * 5_000);
      try {
        if (roll < 0.45) {
          const path = { id: pick() };
          count(
            (await api.POST("/v1/accounts/{id}/deposits", { params: { path }, body: { amount } })).response
              .status,
          );
        } else if (roll < 0.7) {
          const path = { id: pick() };
          count(
            (await api.POST("/v1/accounts/{id}/withdrawals", { params: { path }, body: { amount } })).response
              .status,
          );
        } else {
          const from = pick();
          const to = pick();
          if (from === to) continue;
          const { data, response } = await api.POST("/v1/transfers", { body: { from, to, amount } });
          count(response.status);
          if (data) workload.transfers.push(data.transferId);
        }
      } catch (error) {
        if (options.keepGoing) return; // the server went away on purpose
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 16 }, worker));
  return workload;
};

/** A workload that goes on until `stop`, which resolves with what it did once its commands in flight are answered. */
export const startWorkload = (
  api: EventfoldClient,
  options: Omit<WorkloadOptions, "commands" | "keepGoing">,
): { stop(): Promise<Workload> } => {
  let going = true;
  const done = runWorkload(api, { ...options, commands: Number.MAX_SAFE_INTEGER, keepGoing: () => going });
  return {
    stop: () => {
      going = false;
      return done;
    },
  };
};

export const serverErrors = (workload: Workload): [number, number][] =>
  [...workload.statuses].filter(([status]) => status >= 500);

export const readEverything = async (store: EventStore): Promise<EventEnvelope[]> => {
  const all: EventEnvelope[] = [];
  for (let after = 0; ; ) {
    const page = await store.readAll(after, 5_000);
    const last = page.at(-1);
    if (!last) return all;
    all.push(...page);
    after = last.position;
  }
};

/** What the read models must show, computed from the event store alone. */
export interface StoreTruth {
  readonly versions: Map<string, number>;
  readonly balances: Map<string, number>;
  /** Sum of the amounts of every movement of the account (top-accounts' volume). */
  readonly volumes: Map<string, number>;
  readonly counts: Record<string, number>;
  readonly deposits: { count: number; amount: number };
  readonly withdrawals: { count: number; amount: number };
  readonly transfers: { count: number; amount: number };
}

export const storeTruth = async (store: EventStore): Promise<StoreTruth> => {
  const events = await readEverything(store);
  const versions = new Map<string, number>();
  const balances = new Map<string, number>();
  const volumes = new Map<string, number>();
  const states = new Map<string, typeof account.initialState>();
  const counts: Record<string, number> = {};
  const total = (type: string) => {
    const of = events.filter((e) => e.type === type);
    return { count: of.length, amount: of.reduce((n, e) => n + (e.data as { amount: number }).amount, 0) };
  };
  for (const event of events) {
    counts[event.type] = (counts[event.type] ?? 0) + 1;
    if (event.aggregateType !== "account") continue;
    const id = idOfStream(account.type, event.streamId);
    const state = account.evolve(states.get(id) ?? account.initialState, domainEvent(event));
    states.set(id, state);
    versions.set(id, event.version);
    balances.set(id, state.balance);
    const amount = (event.data as { amount?: number }).amount ?? 0;
    volumes.set(id, (volumes.get(id) ?? 0) + amount);
  }
  return {
    versions,
    balances,
    volumes,
    counts,
    deposits: total("MoneyDeposited"),
    withdrawals: total("MoneyWithdrawn"),
    transfers: total("TransferDebited"),
  };
};

const epoch = "2020-01-01T00:00:00Z";
const farFuture = () => new Date(Date.now() + 86_400_000).toISOString();

/** Waits until every transfer (the store's, not only the client's) has finished and both read models hold every stored event. */
export const quiesce = async (api: EventfoldClient, store: EventStore, workload: Workload, ms = 60_000) => {
  const deadline = Date.now() + ms;
  for (const id of workload.transfers) {
    const status = await eventually(
      async () => (await api.GET("/v1/transfers/{id}", { params: { path: { id } } })).data?.status,
      (s) => s === "completed" || s === "refunded",
      Math.max(1, deadline - Date.now()),
    );
    expect([id, status]).toEqual([id, expect.stringMatching(/^(completed|refunded)$/)]);
  }
  // A transfer whose 202 never reached the client (the server was killed) is resumed at start-up:
  // until it is final too, its money is between two accounts.
  const unfinished = await eventually(
    () => Array.fromAsync(store.nonFinalStreams("transfer")),
    (open) => open.length === 0,
    Math.max(1, deadline - Date.now()),
  );
  expect(unfinished).toEqual([]);
  const truth = await storeTruth(store);
  for (const [id, version] of truth.versions) {
    // Each read waits up to 5 s; a restarted relay may first wait out its crashed predecessor's lease.
    const status = await eventually(
      async () =>
        (await api.GET("/v1/accounts/{id}", { params: { path: { id }, query: { minVersion: version } } }))
          .response.status,
      (s) => s === 200,
      Math.max(1, deadline - Date.now()),
    );
    expect([id, status]).toEqual([id, 200]);
  }
  const counts = await eventually(
    async () =>
      (await api.GET("/v1/analytics/event-counts", { params: { query: { from: epoch, to: farFuture() } } }))
        .data?.counts,
    (c) => Bun.deepEquals(c, truth.counts),
    Math.max(1, deadline - Date.now()),
  );
  expect(counts).toEqual(truth.counts);
  return truth;
};

/**
 * The read models against the store: each account in the hot lookup equals its replay from the store;
 * ClickHouse's event counts, volume sums and per-account balances equal the store's; money is conserved.
 */
export const expectReadModelsMatchStore = async (api: EventfoldClient, truth: StoreTruth) => {
  for (const id of truth.versions.keys()) {
    const params = { path: { id } };
    const [hot, replayed] = await Promise.all([
      api.GET("/v1/accounts/{id}", { params }),
      api.GET("/v1/accounts/{id}/state", { params }),
    ]);
    expect([id, hot.response.status, replayed.response.status]).toEqual([id, 200, 200]);
    expect(hot.data).toEqual(replayed.data as NonNullable<typeof replayed.data>);
  }

  const range = { from: epoch, to: farFuture() };
  const counts = await api.GET("/v1/analytics/event-counts", { params: { query: range } });
  expect(counts.data?.counts).toEqual(truth.counts);

  const volume = await api.GET("/v1/analytics/volume", { params: { query: { ...range, interval: "day" } } });
  const buckets = volume.data?.buckets ?? [];
  const sum = (
    count: "deposits" | "withdrawals" | "transfers",
    amount: "depositAmount" | "withdrawalAmount" | "transferAmount",
  ) => ({
    count: buckets.reduce((n, b) => n + b[count], 0),
    amount: buckets.reduce((n, b) => n + b[amount], 0),
  });
  expect({
    deposits: sum("deposits", "depositAmount"),
    withdrawals: sum("withdrawals", "withdrawalAmount"),
    transfers: sum("transfers", "transferAmount"),
  }).toEqual({ deposits: truth.deposits, withdrawals: truth.withdrawals, transfers: truth.transfers });

  if (truth.balances.size <= 100) {
    const top = await api.GET("/v1/analytics/top-accounts", {
      params: { query: { by: "balance", limit: 100 } },
    });
    const analytics = new Map(top.data?.accounts.map((a) => [a.accountId, [a.balance, a.volume]]));
    const expected = new Map(
      [...truth.balances].map(([id, balance]) => [id, [balance, truth.volumes.get(id) ?? 0]]),
    );
    expect(analytics).toEqual(expected);
  }

  // Money is conserved: every balance together is what came in minus what went out.
  const balances = [...truth.balances.values()].reduce((n, b) => n + b, 0);
  expect(balances).toBe(truth.deposits.amount - truth.withdrawals.amount);
};
