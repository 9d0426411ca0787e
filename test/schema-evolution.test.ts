/**
 * Events change shape without being rewritten: an account's events written in the shape of before
 * (`AccountOpened` without `kind`, schema version 1, and a snapshot of the state of then) read in the
 * current shape on every path, and stay stored as they were written.
 */
import { expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { account } from "../actors/account/index.ts";
import { pollUntil } from "../src/lib/poll.ts";
import type { Projection } from "../src/projector/projection.ts";
import type { EventEnvelope } from "../src/store/envelope.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { client } from "./support/http.ts";
import { readEverything } from "./support/read-side.ts";
import { startTestService, tempDir } from "./support/service.ts";

const meta = { commandId: "c", correlationId: "c", causationId: "c" };

/** What the code before accounts had kinds wrote, through the store port. */
const writeOldShapes = async (dataDir: string) => {
  const store = new SqliteStore({ path: join(dataDir, "events.sqlite") });
  await store.append({
    streamId: "account-old-1",
    aggregateType: "account",
    expectedVersion: 0,
    events: [
      {
        eventId: "e1",
        type: "AccountOpened",
        schemaVersion: 1,
        data: { owner: "Ann", currency: "EUR" },
        metadata: meta,
      },
      {
        eventId: "e2",
        type: "MoneyDeposited",
        schemaVersion: 1,
        data: { amount: 100, balance: 100, currency: "EUR" },
        metadata: meta,
      },
    ],
  });
  // The state of then, kept under its version: read as it is, it would have no kind.
  await store.saveSnapshot({
    streamId: "account-old-1",
    version: 2,
    snapshotVersion: 1,
    state: { status: "open", owner: "from-an-old-snapshot", currency: "EUR", balance: 100 },
  });
  await store.close();
};

const readRaw = async (dataDir: string): Promise<EventEnvelope[]> => {
  const store = new SqliteStore({ path: join(dataDir, "events.sqlite") });
  try {
    return await readEverything(store);
  } finally {
    await store.close();
  }
};

const openedNow = { owner: "Ann", currency: "EUR", kind: "current" as const };

test("an event stored in an older shape reads in the current one on every path, and stays as stored", async () => {
  const dataDir = tempDir();
  await writeOldShapes(dataDir);
  // What the accounts projection is given, live and in its rebuild.
  const applied: EventEnvelope[] = [];
  const service = await startTestService(
    { dataDir },
    {
      // Live, and into the generation a rebuild fills.
      projections: (projections) =>
        projections.map((p) => {
          if (p.name !== "accounts") return p;
          const record =
            (apply: Projection["apply"]): Projection["apply"] =>
            async (events, context) => {
              applied.push(...events);
              await apply(events, context);
            };
          const generations = p.generations;
          return {
            ...p,
            apply: record(p.apply.bind(p)),
            ...(generations && {
              generations: {
                ...generations,
                create: async () => {
                  const made = await generations.create();
                  return { ...made, fill: { ...made.fill, apply: record(made.fill.apply) } };
                },
              },
            }),
          };
        }),
    },
  );
  const api = client(service.url);
  const openedIn = (events: readonly EventEnvelope[]) =>
    events.find((e) => e.streamId === "account-old-1" && e.type === "AccountOpened");
  try {
    // The actor: the stream folded from its events (the snapshot of the old shape is not read).
    const current = await service.engine.api.queries.current(account, "old-1");
    expect(current.state).toEqual({ status: "open", ...openedNow, balance: 100 });
    const deposit = await api.post<{ balance: number }>("/v1/accounts/old-1/deposits", { amount: 50 });
    expect([deposit.status, deposit.body.balance]).toEqual([200, 150]);

    // The state at a version, the account's events, the log's pages and its stream.
    const state = await api.get("/v1/accounts/old-1/state?atVersion=1");
    expect(state.body).toMatchObject({ ...openedNow, balance: 0, version: 1 });
    const events = await api.get<{ events: EventEnvelope[] }>("/v1/accounts/old-1/events");
    const page = await api.get<{ events: EventEnvelope[] }>("/v1/events?after=0&aggregateType=account");
    const stream = await fetch(`${service.url}/v1/events/stream?type=AccountOpened`);
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
    let text = "";
    while (!text.includes("caught-up")) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    const streamed = JSON.parse(/data: (.*)/.exec(text)?.[1] ?? "null") as EventEnvelope;
    for (const opened of [openedIn(events.body.events), openedIn(page.body.events), streamed]) {
      // The current shape, and the shape it was stored in named.
      expect(opened).toMatchObject({ schemaVersion: 1, data: openedNow });
    }

    // The relay, and through it the projection: given the current shape; the hot lookup shows it.
    expect(
      await pollUntil(
        () => openedIn(applied),
        (e) => e !== undefined,
        { timeoutMs: 10_000 },
      ),
    ).toMatchObject({
      schemaVersion: 1,
      data: openedNow,
    });
    const hot = await api.get("/v1/accounts/old-1?minVersion=3");
    expect(hot.body).toMatchObject({ ...openedNow, balance: 150, version: 3 });

    // A rebuild reads the store again: given the current shape too.
    applied.length = 0;
    expect((await api.post("/v1/admin/projections/accounts/rebuild")).status).toBe(202);
    await service.projector?.settled("accounts");
    expect(openedIn(applied)).toMatchObject({ schemaVersion: 1, data: openedNow });
  } finally {
    await service.stop();
  }
  // Stored as written: the old shape, under its version; the new event in the new one.
  const stored = await readRaw(dataDir);
  expect(stored.map((e) => [e.type, e.schemaVersion, e.data])).toEqual([
    ["AccountOpened", 1, { owner: "Ann", currency: "EUR" }],
    ["MoneyDeposited", 1, { amount: 100, balance: 100, currency: "EUR" }],
    ["MoneyDeposited", 2, { amount: 50, balance: 150, currency: "EUR" }],
  ]);
  rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

test("a savings account opened now says so on every read", async () => {
  const service = await startTestService();
  try {
    const api = client(service.url);
    await api.post("/v1/accounts", { accountId: "s-1", owner: "Bo", currency: "EUR", kind: "savings" });
    await api.post("/v1/accounts", { accountId: "c-1", owner: "Cy", currency: "EUR" });
    const [savings, current] = await Promise.all([
      api.get("/v1/accounts/s-1?minVersion=1"),
      api.get("/v1/accounts/c-1?minVersion=1"),
    ]);
    expect([savings.body.kind, current.body.kind]).toEqual(["savings", "current"]);
    expect((await api.get("/v1/accounts/s-1/state")).body.kind).toBe("savings");
    const events = await api.get<{ events: EventEnvelope[] }>("/v1/accounts/s-1/events");
    expect(events.body.events[0]).toMatchObject({ schemaVersion: 2, data: { kind: "savings" } });
  } finally {
    await service.dispose();
  }
});
