import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Ledger } from "../src/ledger/ledger.ts";
import { fromHex, verifyConsistency } from "../src/ledger/merkle.ts";
import { loadSigningKey } from "../src/ledger/signing.ts";
import { type Verification, verified, verifyLedger } from "../src/ledger/verify.ts";
import type { SignedHead } from "../src/store/ledger-store.ts";
import { openVerifySource } from "../src/store/sqlite/ledger.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { tempDir } from "./support/service.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const event = (type: string, data: Record<string, unknown>) => ({
  eventId: Bun.randomUUIDv7(),
  type,
  schemaVersion: 1,
  data,
  metadata: { commandId: "c", correlationId: "c", causationId: "c" },
});

/** A store of `streams` streams of `perStream` events each, and a signed head over all of them. */
const writeStore = async (dir: string, streams: number, perStream: number) => {
  const store = new SqliteStore({ path: join(dir, "events.sqlite") });
  // Signing whenever asked: a test that appends and asks again within a second wants a head of what it
  // appended, not the last one (a server signs at most once a second).
  const ledger = new Ledger(
    store,
    await loadSigningKey(undefined, join(dir, "ledger-signing-key")),
    undefined,
    { minSignIntervalMs: 0 },
  );
  await ledger.start(0, () => {});
  for (let v = 0; v < perStream; v++)
    await Promise.all(
      Array.from({ length: streams }, (_, s) =>
        store.append({
          streamId: `account-${s}`,
          aggregateType: "account",
          expectedVersion: v,
          events: [
            event("MoneyDeposited", { amount: 100 + v, balance: (v + 1) * 100, reference: `ref ${s}/${v}` }),
          ],
        }),
      ),
    );
  const head = await ledger.head();
  return { store, ledger, head };
};

/** A copy of the store's files, as an auditor would take one, to do harm to. */
const copyOf = (dir: string): string => {
  const copy = tempDir();
  dirs.push(copy);
  mkdirSync(copy, { recursive: true });
  for (const file of ["events.sqlite", "events.sqlite-wal", "events.sqlite-shm"])
    if (existsSync(join(dir, file))) copyFileSync(join(dir, file), join(copy, file));
  return copy;
};

const verifyAt = async (dir: string, saved?: SignedHead): Promise<Verification> => {
  const db = new Database(join(dir, "events.sqlite"));
  try {
    return await verifyLedger(openVerifySource(db), { saved });
  } finally {
    db.close();
  }
};

const tamper = (dir: string, ...statements: string[]) => {
  const db = new Database(join(dir, "events.sqlite"));
  try {
    for (const sql of statements) db.exec(sql);
  } finally {
    db.close();
  }
};

describe("ledger verify recomputes the tree from a SQLite store and names the first break", () => {
  let original: string;
  let head: SignedHead;

  beforeAll(async () => {
    original = tempDir();
    dirs.push(original);
    const written = await writeStore(original, 20, 15);
    head = written.head;
    await written.store.close();
  });

  test("an untouched store verifies: every event matches its leaf, the nodes give the root, the signed head matches", async () => {
    const result = await verifyAt(copyOf(original));
    expect(result.break).toBeUndefined();
    expect(result.events).toBe(300);
    expect(result.treeSize).toBe(300);
    expect(result.rootHash).toBe(head.rootHash);
    expect(result.latest).toMatchObject({ signed: true, matches: true });
    expect(verified(result)).toBe(true);
  });

  test("one byte of one stored event altered: that position, altered", async () => {
    const copy = copyOf(original);
    // The amount of the event at 137, one digit changed: still valid JSON, a different event.
    tamper(
      copy,
      "UPDATE events SET data = replace(data, '\"amount\":1', '\"amount\":9') WHERE position = 137",
    );
    const result = await verifyAt(copy);
    expect(result.break).toMatchObject({ kind: "altered", position: 137, leafIndex: 136 });
    expect(result.events).toBe(136);
    expect(result.latest?.matches).toBe(false);
    expect(verified(result)).toBe(false);
  });

  test("one byte of the metadata, or of the time, counts as well", async () => {
    const copy = copyOf(original);
    tamper(copy, "UPDATE events SET time = time + 1 WHERE position = 5");
    expect((await verifyAt(copy)).break).toMatchObject({ kind: "altered", position: 5 });
    const other = copyOf(original);
    tamper(other, "UPDATE events SET metadata = replace(metadata, '\"c\"', '\"d\"') WHERE position = 250");
    expect((await verifyAt(other)).break).toMatchObject({ kind: "altered", position: 250 });
  });

  test("an event deleted: that position, missing", async () => {
    const copy = copyOf(original);
    tamper(copy, "DELETE FROM events WHERE position = 42");
    const result = await verifyAt(copy);
    expect(result.break).toMatchObject({ kind: "missing", position: 42, leafIndex: 41 });
    expect(verified(result)).toBe(false);
  });

  test("two events swapped: the first of them, reordered, naming where the tree holds it", async () => {
    const copy = copyOf(original);
    const columns =
      "event_id, stream_id, aggregate_type, version, type, schema_version, time, data, metadata";
    tamper(
      copy,
      `CREATE TEMP TABLE swap AS SELECT position, ${columns} FROM events WHERE position IN (60, 200)`,
      `UPDATE events SET (${columns}) = (SELECT ${columns} FROM swap WHERE swap.position = 260 - events.position) WHERE position IN (60, 200)`,
    );
    const result = await verifyAt(copy);
    expect(result.break).toMatchObject({ kind: "reordered", position: 60, leafIndex: 59 });
    expect(result.break?.detail).toContain("position 200");
  });

  test("an event slipped in after the tree's last leaf, which every SQLite append extends: inserted", async () => {
    const copy = copyOf(original);
    tamper(
      copy,
      "INSERT INTO events SELECT 1000, event_id, stream_id, aggregate_type, version, type, schema_version, time, data, metadata, previous FROM events WHERE position = 5",
    );
    const result = await verifyAt(copy);
    expect(result.break).toMatchObject({ kind: "inserted", position: 1000, leafIndex: 300 });
    expect(verified(result)).toBe(false);
  });

  test("a leaf rewritten to hide an altered event is caught by the signed head", async () => {
    const copy = copyOf(original);
    tamper(
      copy,
      "UPDATE events SET data = replace(data, '\"amount\":1', '\"amount\":9') WHERE position = 10",
    );
    // An attacker who recomputes the leaf too: the leaves agree, but the nodes and the head do not.
    const db = new Database(join(copy, "events.sqlite"));
    const { rowLeafHash } = await import("../src/store/sqlite/ledger.ts");
    const row = db.query("SELECT * FROM events WHERE position = 10").get() as Parameters<
      typeof rowLeafHash
    >[0];
    db.query("UPDATE ledger_leaves SET hash = ? WHERE position = 10").run(rowLeafHash(row));
    db.close();
    const result = await verifyAt(copy);
    expect(result.break).toBeUndefined();
    expect(result.nodesMatch).toBe(false);
    expect(result.latest?.matches).toBe(false);
    expect(verified(result)).toBe(false);
  });

  test("a tree with no signed head does not verify; a head signed by a key other than the auditor's is not trusted", async () => {
    const copy = copyOf(original);
    tamper(copy, "DELETE FROM ledger_heads");
    const unsigned = await verifyAt(copy);
    expect(unsigned.break).toBeUndefined();
    expect(unsigned.latest).toBeUndefined();
    expect(verified(unsigned)).toBe(false);
    // The store lists its own key; an auditor who pinned another does not take the store's word.
    const db = new Database(join(copyOf(original), "events.sqlite"));
    try {
      const otherKey = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
      const pinned = await verifyLedger(openVerifySource(db), {
        trustedKeys: [{ keyId: head.keyId, algorithm: "Ed25519", publicKey: otherKey, since: "" }],
      });
      expect(pinned.latest).toMatchObject({ signed: false, matches: true });
      expect(verified(pinned)).toBe(false);
    } finally {
      db.close();
    }
  });

  test("the CLI says it in words and exit codes, with progress on stderr", async () => {
    const run = (dataDir: string) =>
      Bun.spawnSync([process.execPath, "src/cli/main.ts", "ledger", "verify"], {
        env: { ...process.env, EVENTFOLD_DATA_DIR: dataDir, MONGO_URL: "" },
        stdout: "pipe",
        stderr: "pipe",
      });
    const good = run(copyOf(original));
    expect(good.stdout.toString()).toContain("300 events match the tree's 300 leaves");
    expect(good.stdout.toString()).toContain("signature good; root matches the events");
    expect(good.stderr.toString()).toContain("verify [##############################] 100% 300/300");
    expect(good.exitCode).toBe(0);
    const copy = copyOf(original);
    tamper(copy, "DELETE FROM events WHERE position = 7");
    const bad = run(copy);
    expect(bad.stdout.toString()).toContain("BROKEN at position 7 (leaf 6): missing");
    expect(bad.exitCode).toBe(1);
  });
});

describe("a head saved before 100 000 more appends is proven consistent with the new one", () => {
  test("verify with --head: its signature, its root, and a consistency proof to the tree now", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const { store, ledger, head } = await writeStore(dir, 10, 2);
    const savedPath = join(dir, "saved-head.json");
    writeFileSync(savedPath, JSON.stringify(head));
    // 100 000 appends of one event each, 1 000 streams at a time.
    for (let round = 0; round < 100; round++)
      await Promise.all(
        Array.from({ length: 1_000 }, (_, s) =>
          store.append({
            streamId: `more-${s}`,
            aggregateType: "account",
            expectedVersion: round,
            events: [event("MoneyDeposited", { amount: round })],
          }),
        ),
      );
    const latest = await ledger.head();
    expect(latest.treeSize).toBe(20 + 100_000);
    const proof = await ledger.consistency(head.treeSize, latest.treeSize);
    expect(
      verifyConsistency(
        head.treeSize,
        latest.treeSize,
        fromHex(head.rootHash),
        fromHex(latest.rootHash),
        proof.path.map(fromHex),
      ),
    ).toBe(true);
    await store.close();
    const result = await verifyAt(dir, head);
    expect(result.events).toBe(100_020);
    expect(result.saved).toMatchObject({ signed: true, matches: true, consistent: true });
    expect(result.latest).toMatchObject({ signed: true, matches: true });
    expect(verified(result)).toBe(true);
    // A saved head whose root was changed after signing fails on both counts.
    const forged = await verifyAt(dir, { ...head, rootHash: "00".repeat(32) });
    expect(forged.saved).toMatchObject({ signed: false, matches: false, consistent: false });
  }, 120_000);
});
