import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { verifyLedger } from "../src/ledger/verify.ts";
import { openVerifySource } from "../src/store/sqlite/ledger.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { client } from "./support/http.ts";
import { startTestService, tempDir } from "./support/service.ts";

/** A store written by eventfold at commit 6fc5891, the last of format 1 (see the fixture's write.ts). */
const fixture = new URL("./fixtures/store-format-1/", import.meta.url).pathname;
const answers = (await Bun.file(join(fixture, "answers.json")).json()) as Record<
  string,
  { status: number; body: Record<string, unknown> }
>;

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * A data directory holding the format-1 file, made again from its dump (`sqlite3 events.sqlite .dump`
 * of the file that code wrote: the same tables, rows and bytes of every value), in WAL mode as it was.
 */
const withFormat1Store = () => {
  const dir = tempDir();
  dirs.push(dir);
  const db = new Database(join(dir, "events.sqlite"), { create: true });
  try {
    db.exec(readFileSync(join(fixture, "events.sql"), "utf8"));
    db.exec("PRAGMA journal_mode = WAL");
  } finally {
    db.close();
  }
  return dir;
};

const tablesOf = (path: string) => {
  const db = new Database(path, { readonly: true });
  try {
    const names = db.query<{ name: string }, []>("SELECT name FROM sqlite_schema").all();
    const meta = db.query<{ name: string; value: number }, []>("SELECT name, value FROM store_meta").all();
    return { names: names.map((t) => t.name), meta: Object.fromEntries(meta.map((m) => [m.name, m.value])) };
  } finally {
    db.close();
  }
};

describe("a store of format 1, written by the eventfold before, is migrated at start", () => {
  test("the service answers as the one before did, replays its stored outcomes, and goes on", async () => {
    const dataDir = withFormat1Store();
    const service = await startTestService({ dataDir });
    try {
      const api = client(service.url);
      // What the service before answered, read back the same, field for field.
      for (const id of ["alice", "bob", "carol"])
        expect(await api.get(`/v1/accounts/${id}/state`)).toMatchObject(answers[id] as object);
      expect(await api.get("/v1/transfers/t-1")).toMatchObject(answers.transferState as object);
      expect(await api.get("/v1/accounts/alice/events?limit=1000")).toMatchObject(
        answers.aliceEvents as object,
      );
      // Outcomes kept under keys before are replayed, not decided again.
      const refused = await api.post(
        "/v1/accounts/bob/withdrawals",
        { amount: 999_999 },
        { "Idempotency-Key": "bob-too-much" },
      );
      expect(refused).toMatchObject(answers.refused as object);
      const replayed = await api.post(
        "/v1/accounts/alice/deposits",
        { amount: 500 },
        { "Idempotency-Key": "alice-deposit-5" },
      );
      expect(replayed.status).toBe(200);
      expect(replayed.body).toMatchObject({ version: 6, balance: 1500 });
      // New commands continue each stream where it was.
      const deposit = await api.post("/v1/accounts/alice/deposits", { amount: 1 });
      expect(deposit.body).toMatchObject({
        version: 73,
        balance: (answers.alice?.body.balance as number) + 1,
      });
      const closed = await api.post("/v1/accounts/carol/deposits", { amount: 1 });
      expect(closed.status).toBe(409);
      const events = await api.get("/v1/accounts/alice/events?limit=1000");
      expect((events.body.events as { version: number }[]).map((e) => e.version)).toEqual(
        Array.from({ length: 73 }, (_, i) => i + 1),
      );
    } finally {
      await service.stop();
    }
    const { names, meta } = tablesOf(join(dataDir, "events.sqlite"));
    expect(names).not.toContain("events_format_1");
    expect(names).not.toContain("sqlite_autoindex_events_1");
    expect(meta.format).toBe(3);
  });

  test("the migration says how far it is, and runs once: the next opening finds the file migrated", async () => {
    const dataDir = withFormat1Store();
    const path = join(dataDir, "events.sqlite");
    const progress: [number, number][] = [];
    const first = new SqliteStore({ path, onMigration: (done, total) => progress.push([done, total]) });
    await first.close();
    expect(progress[0]).toEqual([0, 80]);
    expect(progress.at(-1)).toEqual([80, 80]);
    const again: number[] = [];
    const second = new SqliteStore({ path, onMigration: (done) => again.push(done) });
    try {
      expect(again).toEqual([]);
      // Every stream's head, every event's predecessor: each stream reads whole, in order.
      expect(await second.streamInfo("account-alice")).toMatchObject({ version: 72, final: false });
      expect(await second.streamInfo("account-carol")).toMatchObject({ version: 2, final: false });
      // A finished transfer is final: it left the open streams when it ended.
      expect(await second.streamInfo("transfer-t-1")).toMatchObject({ version: 3, final: true });
      const alice = await second.readStream("account-alice");
      expect(alice.map((e) => e.version)).toEqual(Array.from({ length: 72 }, (_, i) => i + 1));
      expect(
        (await second.readStream("account-alice", { after: 60, limit: 5 })).map((e) => e.version),
      ).toEqual([61, 62, 63, 64, 65]);
      expect((await second.readAll(0, 1000)).map((e) => e.position)).toEqual(
        Array.from({ length: 80 }, (_, i) => i + 1),
      );
    } finally {
      await second.close();
    }
  });

  test("after it, the code before cannot append (its events would break the chains), and a broken chain is said, not read short", async () => {
    const dataDir = withFormat1Store();
    const path = join(dataDir, "events.sqlite");
    await new SqliteStore({ path }).close();
    const db = new Database(path);
    // The store's threads may still be letting the file go.
    db.exec("PRAGMA busy_timeout = 10000");
    try {
      // Format 1's insert, as its writer ran it: no `previous`.
      const format1Insert = () =>
        db
          .query(
            `INSERT INTO events (event_id, stream_id, aggregate_type, version, type, schema_version, time, data, metadata)
             VALUES ('e', 'account-alice', 'account', 73, 'MoneyDeposited', 1, 0, '{}', '{}')`,
          )
          .run();
      expect(format1Insert).toThrow(/NOT NULL/);
      db.query("UPDATE events SET previous = 0 WHERE stream_id = 'account-alice' AND version = 40").run();
    } finally {
      db.close();
    }
    const store = new SqliteStore({ path });
    try {
      await expect(store.readStream("account-alice")).rejects.toThrow(/versions 1..72 read 33 events/);
      expect((await store.readStream("account-alice", { after: 39 })).map((e) => e.version)[0]).toBe(40);
    } finally {
      await store.close();
    }
  });

  test("a file of a later format is refused at start, not written to", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const path = join(dir, "events.sqlite");
    await new SqliteStore({ path }).close();
    const db = new Database(path);
    db.exec("PRAGMA busy_timeout = 10000");
    db.query("UPDATE store_meta SET value = 4 WHERE name = 'format'").run();
    db.close();
    expect(() => new SqliteStore({ path })).toThrow(/format 4, written by a later eventfold/);
  });
});

/** A store written by eventfold at commit 760340d, the last of format 2, before the ledger's tree. */
const fixture2 = new URL("./fixtures/store-format-2/", import.meta.url).pathname;
const answers2 = (await Bun.file(join(fixture2, "answers.json")).json()) as Record<
  string,
  { status: number; body: Record<string, unknown> }
>;

const withFormat2Store = () => {
  const dir = tempDir();
  dirs.push(dir);
  const db = new Database(join(dir, "events.sqlite"), { create: true });
  try {
    db.exec(readFileSync(join(fixture2, "events.sql"), "utf8"));
    db.exec("PRAGMA journal_mode = WAL");
  } finally {
    db.close();
  }
  return dir;
};

describe("a store of format 2, written by the eventfold before, gains the ledger's tree at start", () => {
  test("opened alone (no domain to seal for), every stored event becomes a leaf, with progress, and no event changes", async () => {
    const dataDir = withFormat2Store();
    const path = join(dataDir, "events.sqlite");
    const before = new Database(path, { readonly: true });
    const rowsBefore = before.query("SELECT * FROM events ORDER BY position").all();
    before.close();
    const progress: [number, number][] = [];
    await new SqliteStore({ path, onMigration: (done, total) => progress.push([done, total]) }).close();
    expect(progress[0]).toEqual([0, 51]);
    expect(progress.at(-1)).toEqual([51, 51]);
    const after = new Database(path, { readonly: true });
    try {
      expect(after.query("SELECT * FROM events ORDER BY position").all()).toEqual(rowsBefore);
      expect(after.query("SELECT count(*) AS n FROM ledger_leaves").get()).toEqual({ n: 51 });
      expect(after.query("SELECT value FROM store_meta WHERE name = 'format'").get()).toEqual({ value: 3 });
      const verification = await verifyLedger(openVerifySource(after));
      expect(verification).toMatchObject({ events: 51, treeSize: 51, nodesMatch: true });
      expect(verification.break).toBeUndefined();
    } finally {
      after.close();
    }
  });

  test("started as the service: personal data sealed before the tree is built, answers as before, and an old account can be erased", async () => {
    const dataDir = withFormat2Store();
    const path = join(dataDir, "events.sqlite");
    const read = () => {
      const db = new Database(path, { readonly: true });
      try {
        return db
          .query<{ type: string; data: string }, []>("SELECT type, data FROM events ORDER BY position")
          .all();
      } finally {
        db.close();
      }
    };
    const before = read();
    const service = await startTestService({ dataDir });
    try {
      const api = client(service.url);
      for (const id of ["dora", "emil", "fay"])
        expect(await api.get(`/v1/accounts/${id}/state`)).toMatchObject(answers2[id] as object);
      expect(await api.get("/v1/transfers/t-2")).toMatchObject(answers2.transferState as object);
      expect(await api.get("/v1/accounts/dora/events?limit=1000")).toMatchObject(
        answers2.doraEvents as object,
      );
      // Kept outcomes replay (their states sealed too, and opened); new events extend the tree.
      const replayed = await api.post(
        "/v1/accounts/dora/deposits",
        { amount: 10, reference: "salary 1" },
        { "Idempotency-Key": "dora-deposit-1" },
      );
      expect(replayed.body).toMatchObject({ version: 2, balance: 10 });
      expect((await api.post("/v1/accounts/fay/deposits", { amount: 1 })).status).toBe(409);
      await api.post("/v1/accounts/emil/deposits", { amount: 1 });
      expect((await api.get("/v1/ledger/head")).body).toMatchObject({ treeSize: 52, position: 52 });
      expect((await api.get("/v1/ledger/proof/inclusion?position=1")).body).toMatchObject({
        position: 1,
        leafIndex: 0,
        treeSize: 52,
      });
      // Written before sealing was, the name is erased all the same.
      expect(
        (await api.post("/v1/admin/subjects/dora/erase", { reason: "asked to be forgotten" })).status,
      ).toBe(200);
      const dora = await api.get("/v1/accounts/dora/state");
      expect(dora.body).toMatchObject({ owner: "[erased]", balance: answers2.dora?.body.balance });
    } finally {
      await service.stop();
    }
    // Only personal fields changed, and only to their sealed form; the names are nowhere in the files.
    const after = read();
    expect(after.slice(0, 51).map((e) => e.type)).toEqual(before.map((e) => e.type));
    const unsealed = (text: string) =>
      Object.fromEntries(
        Object.entries(JSON.parse(text) as Record<string, unknown>).map(([k, v]) =>
          typeof v === "object" && v !== null && "$sealed" in v ? [k, "sealed"] : [k, v],
        ),
      );
    const personal = new Set(["owner", "reference"]);
    for (const [i, row] of before.entries()) {
      const was = JSON.parse(row.data) as Record<string, unknown>;
      const now = unsealed(after[i]?.data ?? "{}");
      for (const [field, value] of Object.entries(was))
        expect([field, now[field]]).toEqual([field, personal.has(field) ? "sealed" : value]);
    }
    for (const file of ["events.sqlite", "events.sqlite-wal"]) {
      const bytes = existsSync(join(dataDir, file)) ? readFileSync(join(dataDir, file)) : Buffer.alloc(0);
      expect([file, bytes.includes("Dora Maar"), bytes.includes("salary 3")]).toEqual([file, false, false]);
    }
    const db = new Database(path, { readonly: true });
    try {
      const verification = await verifyLedger(openVerifySource(db));
      expect(verification.break).toBeUndefined();
      expect(verification).toMatchObject({ events: 53, nodesMatch: true });
    } finally {
      db.close();
    }
  });
});
