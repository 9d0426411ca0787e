import { afterEach, describe, expect, test } from "bun:test";
import { BSON, type Document, MongoClient } from "mongodb";
import { pollUntil } from "../../lib/poll.ts";
import {
  emptyCursor,
  type FakeCommand,
  type FakeHandler,
  FakeMongod,
  writeConcernTimeout,
} from "../../testing/fake-mongod.ts";
import type { NewEvent } from "../envelope.ts";
import {
  type AppendRequest,
  AppendTooLargeError,
  StoreOutcomeUnknownError,
  StoreUnavailableError,
} from "../event-store.ts";
import { MAX_DOCUMENT_BYTES, writeBatch } from "./append.ts";
import { appendDependent } from "./dependent.ts";
import { type Collections, collections } from "./documents.ts";
import { HoleReader } from "./holes.ts";
import { MongoStore, type MongoStoreOptions } from "./mongo-store.ts";
import { appendOutcomes } from "./outcomes.ts";
import { TOMBSTONE_SPAN } from "./tombstones.ts";

/**
 * The adapter against the real driver (mongodb 7.9) talking to a scripted server (`FakeMongod`): every
 * error here is one the driver built from a server's reply, as it would from mongod's. What only a
 * real server can show (indexes, majority reads, failovers) is in test/event-store.mongo.test.ts.
 */

const event = (type = "Deposited", data: unknown = {}): NewEvent => ({
  eventId: Bun.randomUUIDv7(),
  type,
  schemaVersion: 1,
  data,
  metadata: { commandId: "c", correlationId: "c", causationId: "c" },
});

const append = (streamId: string, expectedVersion = 0, events = [event()]): AppendRequest => ({
  streamId,
  aggregateType: "account",
  expectedVersion,
  events,
});

/** An append without events: a refusal kept under key `k`. */
const refusal = (streamId: string, expectedVersion: number): AppendRequest => ({
  ...append(streamId, expectedVersion, []),
  outcomes: [{ key: "k", fingerprint: "f", outcome: { kind: "rejected" } as never }],
});

/** A primary's reply to the guarded upsert of one outcome: it inserted the document (plus `extra`). */
const upserting = (c: FakeCommand, extra: Document = {}): Document | undefined =>
  c.name === "update" && c.collection === "commits"
    ? {
        ok: 1,
        n: 1,
        nModified: 0,
        upserted: [{ index: 0, _id: (c.body.updates as Document[])[0]?.u.$setOnInsert._id }],
        ...extra,
      }
    : undefined;

const duplicateOn = (index: string, at = 0) => ({
  index: at,
  code: 11000,
  errmsg: `E11000 duplicate key error collection: fake.commits index: ${index} dup key: { k: 1 }`,
});

/** The documents of a command's insert, as the server received them. */
const inserted = (command: FakeCommand): Document[] => command.body.documents as Document[];

const isEventsInsert = (c: FakeCommand) =>
  c.name === "insert" && c.collection === "commits" && inserted(c)[0]?.kind === "events";

let server: FakeMongod;
const stores: MongoStore[] = [];

const open = async (options: Partial<MongoStoreOptions> = {}): Promise<MongoStore> => {
  server = FakeMongod.start();
  const store = await MongoStore.connect({
    url: server.url("fake"),
    serverSelectionTimeoutMs: 2_000,
    ...options,
  });
  stores.push(store);
  return store;
};

afterEach(async () => {
  server.handle = () => undefined;
  server.primary = true;
  // A store whose server hangs closes only once its connections give up: do not wait for it.
  for (const store of stores.splice(0)) void store.close().catch(() => {});
  server.stop();
});

describe("an append's failure says whether it may be kept", () => {
  test("a write concern error its settling cannot resolve: StoreOutcomeUnknownError reaches the caller", async () => {
    const store = await open({ deadlineMs: 400 });
    server.handle = (c) => {
      if (isEventsInsert(c)) return { ok: 1, n: 1, writeConcernError: writeConcernTimeout };
      if (c.name === "insert" && c.collection === "commits") {
        // The tombstone over its positions collides: the document is there, on the primary.
        return { ok: 1, n: 0, writeErrors: [duplicateOn("positions")] };
      }
      if (c.name === "find" && c.collection === "commits" && c.body.readConcern?.level === "local") {
        return emptyCursor(c, [{ _id: (c.body.filter as { _id: unknown })._id }]);
      }
      return undefined;
    };
    const error = await store.append(append("a")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreOutcomeUnknownError);
  });

  test("a write concern error whose positions its writer could tombstone: not written, StoreUnavailableError", async () => {
    const store = await open({ deadlineMs: 2_000 });
    server.handle = (c) =>
      isEventsInsert(c) ? { ok: 1, n: 1, writeConcernError: writeConcernTimeout } : undefined;
    const error = await store.append(append("a")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(error).not.toBeInstanceOf(StoreOutcomeUnknownError);
  });

  test("an outcome-only append whose write cannot be confirmed: StoreOutcomeUnknownError", async () => {
    const store = await open({ deadlineMs: 2_000 });
    server.handle = (c) => upserting(c, { writeConcernError: writeConcernTimeout });
    const error = await store.append(refusal("a", 0)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreOutcomeUnknownError);
  });

  test("an outcome-only append the primary upserted and a majority confirmed: kept", async () => {
    const store = await open();
    server.handle = (c) => upserting(c);
    expect(await store.append(refusal("a", 0))).toMatchObject({ ok: true, version: 0 });
    const [upsert] = server.sent("update", "commits").flatMap((c) => c.body.updates as Document[]);
    expect(upsert?.u.$setOnInsert).toMatchObject({
      kind: "outcomes",
      streamId: "a",
      outcomes: [{ key: "k" }],
    });
  });
});

describe("no append waits past the deadline", () => {
  test("a server that stops answering: every append fails within the deadline, as not written", async () => {
    const store = await open({ deadlineMs: 300, serverSelectionTimeoutMs: 30_000 });
    server.handle = () => "hang";
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.append(append(`s${i}`)).catch((e: unknown) => e)),
    );
    // Without a deadline they wait for the socket, which the driver never times out by default.
    expect(performance.now() - started).toBeLessThan(3_000);
    for (const answer of answers) {
      expect(answer).toBeInstanceOf(StoreUnavailableError);
      expect(answer).not.toBeInstanceOf(StoreOutcomeUnknownError);
    }
  });

  test("a server that takes the insert and never answers: unknown at the deadline; an append queued behind it fails as not written and is never sent", async () => {
    const store = await open({ deadlineMs: 300, serverSelectionTimeoutMs: 30_000 });
    server.handle = (c) => (isEventsInsert(c) ? "hang" : undefined);
    const first = store.append(append("first")).catch((e: unknown) => e);
    await pollUntil(
      () => server.commands.some(isEventsInsert),
      (sent) => sent,
      { timeoutMs: 2_000, intervalMs: 5 },
    );
    // Queued behind the batch that waits for its insert.
    const next = store.append(append("next")).catch((e: unknown) => e);
    expect(await first).toBeInstanceOf(StoreOutcomeUnknownError);
    const second = await next;
    expect(second).toBeInstanceOf(StoreUnavailableError);
    expect(second).not.toBeInstanceOf(StoreOutcomeUnknownError);
    // The server answers again; once every batch is done, the abandoned append was never sent.
    server.handle = () => undefined;
    server.dropConnections();
    await store.close();
    const sentStreams = server.commands
      .filter(isEventsInsert)
      .flatMap((c) => inserted(c).map((d) => d.streamId));
    expect(sentStreams).toContain("first");
    expect(sentStreams).not.toContain("next");
  });

  test("no primary (an election): appends and reads fail with 503's error within the deadline", async () => {
    const store = await open({ deadlineMs: 300, serverSelectionTimeoutMs: 30_000 });
    server.primary = false;
    server.dropConnections();
    const started = performance.now();
    const [write, readError] = await Promise.all([
      store.append(append("a")).catch((e: unknown) => e),
      store.streamInfo("a").catch((e: unknown) => e),
    ]);
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(write).toBeInstanceOf(StoreUnavailableError);
    expect(readError).toBeInstanceOf(StoreUnavailableError);
  });
});

describe("failures are counted as the store's health", () => {
  test("secondaries down (every write misses its majority): appends fail, and ping says the store cannot write", async () => {
    const store = await open({ deadlineMs: 2_000 });
    await store.ping();
    server.handle = (c) => {
      if (c.name === "insert") return { ok: 1, n: 1, writeConcernError: writeConcernTimeout };
      if (c.name === "update") return { ok: 1, n: 1, nModified: 1, writeConcernError: writeConcernTimeout };
      if (c.name === "findAndModify") {
        return { ok: 1, value: { _id: "position", value: 9 }, writeConcernError: writeConcernTimeout };
      }
      if (c.name === "find" && (c.body.filter as Document).streamId === "b") {
        return emptyCursor(c, [{ lastVersion: 3 }]);
      }
      return undefined;
    };
    expect(await store.append(append("a")).catch((e: unknown) => e)).toBeInstanceOf(StoreUnavailableError);
    expect(await store.append(append("b", 3)).catch((e: unknown) => e)).toBeInstanceOf(StoreUnavailableError);
    await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});

describe("500s where a 503 or a 413 belongs", () => {
  test("a document the server refuses for another reason than a duplicate key: not written, StoreUnavailableError", async () => {
    const store = await open();
    server.handle = (c) =>
      isEventsInsert(c)
        ? { ok: 1, n: 0, writeErrors: [{ index: 0, code: 121, errmsg: "Document failed validation" }] }
        : undefined;
    const error = await store.append(append("a")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(error).not.toBeInstanceOf(StoreOutcomeUnknownError);
  });

  test("positions that collide at every attempt: StoreUnavailableError after the third", async () => {
    const store = await open();
    server.handle = (c) =>
      isEventsInsert(c) ? { ok: 1, n: 0, writeErrors: [duplicateOn("positions")] } : undefined;
    const error = await store.append(append("a")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(server.commands.filter(isEventsInsert)).toHaveLength(3);
  });

  test("an append larger than a document fails alone with AppendTooLargeError; its neighbours are written", async () => {
    await open();
    const c = collectionsOf(server);
    const huge = append("huge", 0, [event("Big", { blob: "x".repeat(MAX_DOCUMENT_BYTES) })]);
    const [big, small] = await writeBatch(c.collections, [huge, append("small")]);
    await c.close();
    expect(big).toMatchObject({ failed: expect.any(AppendTooLargeError) });
    expect(small).toMatchObject({ ok: true, version: 1 });
    expect(server.commands.filter(isEventsInsert).flatMap((x) => inserted(x).map((d) => d.streamId))).toEqual(
      ["small"],
    );
  });
});

describe("restores", () => {
  test("commits restored behind the relay's checkpoint: the position counter starts past the checkpoint", async () => {
    server = FakeMongod.start();
    server.handle = (c) => {
      if (c.name === "find" && c.collection === "commits") return emptyCursor(c, [{ lastPosition: 10 }]);
      if (c.name === "find" && c.collection === "relay_checkpoints") {
        return emptyCursor(c, [{ _id: "outbox-relay", value: "500" }]);
      }
      return undefined;
    };
    stores.push(await MongoStore.connect({ url: server.url("fake") }));
    const seeded = server.sent("update", "counters").map((c) => (c.body.updates as Document[])[0]?.u);
    expect(seeded).toEqual([{ $max: { value: 500 } }]);
  });

  test("a counter restored ahead of the commits: a hole of 1.5 M positions is tombstoned in documents under 16 MiB, and passed", async () => {
    await open();
    const after = 1_500_000;
    const commit = {
      _id: new BSON.ObjectId(),
      kind: "events",
      streamId: "s",
      aggregateType: "account",
      version: 1,
      lastVersion: 1,
      position: after + 1,
      lastPosition: after + 1,
      positions: [after + 1],
      time: new Date(),
      final: false,
      events: [{ ...event(), version: 1 }],
    };
    server.handle = (c) =>
      c.name === "find" && c.collection === "commits" ? emptyCursor(c, [commit]) : undefined;
    const c = collectionsOf(server);
    const read = await new HoleReader(c.collections, 0).readAll(0, 10);
    await c.close();
    expect(read.map((e) => e.position)).toEqual([after + 1]);
    const pieces = server.sent("insert", "commits").flatMap(inserted);
    for (const piece of pieces) {
      expect(BSON.calculateObjectSize(piece)).toBeLessThan(MAX_DOCUMENT_BYTES);
      expect(piece.positions.length).toBeLessThanOrEqual(TOMBSTONE_SPAN);
    }
    const covered = pieces.flatMap((p) => [p.position, p.lastPosition]);
    expect([covered[0], covered.at(-1), pieces.length]).toEqual([1, after, after / TOMBSTONE_SPAN]);
  });
});

describe("the version check and the outcome guard", () => {
  test("an append that follows a stream reads that stream's last commit by index, never a scan of its commits", async () => {
    const store = await open();
    await store.append(append("long", 7)).catch(() => {});
    expect(server.sent("aggregate")).toEqual([]);
    const lookups = server
      .sent("find", "commits")
      .filter((c) => (c.body.filter as Document).streamId === "long");
    expect(lookups.map((c) => [c.body.sort, c.body.limit, c.body.hint])).toEqual([
      [{ lastVersion: -1 }, 1, "stream_last_version"],
    ]);
  });

  test("a refusal decided on a version the primary has passed, though a majority read still shows it, is a version conflict and is not kept", async () => {
    const store = await open();
    server.handle = (c) => {
      // A majority read after a failover: version 5, while the primary holds version 6.
      if (c.name === "find" && c.collection === "commits") return emptyCursor(c, [{ lastVersion: 5 }]);
      // The guarded upsert runs on the primary, matches the commit of version 6, and inserts nothing.
      if (c.name === "update" && c.collection === "commits") {
        const n = (c.body.updates as Document[]).length;
        return { ok: 1, n, nModified: 0 };
      }
      return undefined;
    };
    const result = await store.append(refusal("acct", 5));
    expect(result).toMatchObject({ ok: false, reason: "version_conflict" });
    expect(server.sent("insert", "commits")).toEqual([]);
    const [guard] = server.sent("update", "commits").flatMap((c) => c.body.updates as Document[]);
    expect(guard?.q).toEqual({ kind: "events", streamId: "acct", lastVersion: { $gt: 5 } });
    expect(guard?.upsert).toBe(true);
  });
});

describe("an append that depends on other streams (dependsOn)", () => {
  const dependent = (
    streamId: string,
    expectedVersion: number,
    dependsOn: { streamId: string; version: number }[],
  ): AppendRequest => ({ ...append(streamId, expectedVersion), dependsOn });

  /** Sent inside a transaction: the driver marks every command of one so (`applySession`). */
  const inTransaction = (c: FakeCommand) => c.body.autocommit === false && c.body.txnNumber !== undefined;
  const transactional = () => server.commands.filter(inTransaction);

  /** The stream a version look-up (`streamVersion`) reads, if `c` is one. */
  const lookedUp = (c: FakeCommand): unknown =>
    c.name === "find" && c.collection === "commits" ? (c.body.filter as Document).streamId : undefined;

  /**
   * A primary whose streams are at these versions (inside a transaction, at `inside`'s: what its
   * snapshot shows), and that deletes what it is asked to.
   */
  const streamsAt =
    (versions: Record<string, number>, inside = versions): FakeHandler =>
    (c) => {
      const streamId = lookedUp(c);
      if (typeof streamId === "string") {
        const version = (inTransaction(c) ? inside : versions)[streamId] ?? 0;
        return emptyCursor(c, version > 0 ? [{ lastVersion: version }] : []);
      }
      if (c.name === "delete" && c.collection === "commits") {
        return { ok: 1, n: (c.body.deletes as unknown[]).length };
      }
      return undefined;
    };

  const isGuardInsert = (c: FakeCommand) => c.name === "insert" && inserted(c)[0]?.guard === true;
  const ownInserts = () =>
    server.commands.filter((c) => isEventsInsert(c) && inserted(c)[0]?.guard === undefined);
  const tombstoned = () =>
    server
      .sent("insert", "commits")
      .flatMap(inserted)
      .filter((d) => d.kind === "tombstone");

  /** A write conflict inside a transaction, as mongod answers it: a command error, labelled. */
  const writeConflict = {
    ok: 0,
    code: 112,
    codeName: "WriteConflict",
    errmsg: "Write conflict during plan execution and yielding is disabled.",
    errorLabels: ["TransientTransactionError"],
  };

  test("its reads, a guard on the dependency's next version (inserted and deleted) and its commit go in one transaction, committed by a majority's journal", async () => {
    const store = await open();
    server.handle = streamsAt({ b: 1 });
    expect(await store.append(dependent("a", 0, [{ streamId: "b", version: 1 }]))).toMatchObject({
      ok: true,
      version: 1,
    });
    const txn = transactional();
    expect(txn.map((c) => c.name)).toEqual([
      "find",
      "find",
      "insert",
      "delete",
      "insert",
      "commitTransaction",
    ]);
    // One transaction: one session, one transaction number, started by its first command.
    expect(new Set(txn.map((c) => BSON.EJSON.stringify([c.body.lsid, c.body.txnNumber]))).size).toBe(1);
    expect(txn[0]?.body).toMatchObject({ startTransaction: true, readConcern: { level: "snapshot" } });
    expect(txn.slice(1).filter((c) => c.body.startTransaction !== undefined)).toEqual([]);
    // The append's own stream, then the dependency, read at the transaction's snapshot.
    expect(txn.slice(0, 2).map(lookedUp)).toEqual(["a", "b"]);
    // The guard claims b's next version in `stream_event_version`, and no position.
    const [guard] = inserted(txn[2] as FakeCommand);
    expect(guard).toEqual({
      _id: expect.anything(),
      kind: "events",
      streamId: "b",
      events: [{ version: 2 }],
      guard: true,
    });
    const [removal] = (txn[3] as FakeCommand).body.deletes as Document[];
    expect(String(removal?.q._id)).toBe(String(guard?._id));
    expect(inserted(txn[4] as FakeCommand)[0]).toMatchObject({
      kind: "events",
      streamId: "a",
      version: 1,
      positions: [1],
    });
    expect(txn[5]?.body.writeConcern).toMatchObject({ w: "majority", j: true });
    // Nothing of the append is written outside it; the position counter is not part of it.
    expect(ownInserts().filter((c) => !inTransaction(c))).toEqual([]);
    expect(server.sent("findAndModify", "counters").filter(inTransaction)).toEqual([]);
  });

  test("a dependency the snapshot shows elsewhere: dependency_conflict naming it, nothing inserted, the transaction aborted, its positions tombstoned", async () => {
    const store = await open();
    server.handle = streamsAt({ b: 2 });
    expect(await store.append(dependent("a", 0, [{ streamId: "b", version: 1 }]))).toEqual({
      ok: false,
      reason: "dependency_conflict",
      streamId: "b",
      actualVersion: 2,
    });
    expect(transactional().map((c) => c.name)).toEqual(["find", "find", "abortTransaction"]);
    expect(ownInserts()).toEqual([]);
    expect(server.commands.filter(isGuardInsert)).toEqual([]);
    expect(tombstoned().map((t) => t.positions)).toEqual([[1]]);
  });

  test.each([
    ["a write conflict (112, TransientTransactionError)", writeConflict],
    ["a duplicate key", { ok: 1, n: 0, writeErrors: [duplicateOn("stream_event_version")] }],
  ])(
    "the guard meets %s: the dependency moved after the snapshot, dependency_conflict with where it is now, nothing written",
    async (_, reply) => {
      const store = await open();
      // The snapshot shows b at 1; b's next append committed after it, so a fresh read shows 2.
      const at = streamsAt({ b: 2 }, { b: 1 });
      server.handle = (c) => (inTransaction(c) && isGuardInsert(c) ? reply : at(c));
      expect(await store.append(dependent("a", 0, [{ streamId: "b", version: 1 }]))).toEqual({
        ok: false,
        reason: "dependency_conflict",
        streamId: "b",
        actualVersion: 2,
      });
      expect(server.commands.filter(isGuardInsert)).toHaveLength(1);
      expect(server.sent("commitTransaction")).toEqual([]);
      expect(ownInserts()).toEqual([]);
      // The version read after the abort is a read of its own, outside the transaction.
      expect(server.commands.filter((c) => lookedUp(c) === "b" && !inTransaction(c))).toHaveLength(1);
      expect(tombstoned().map((t) => t.positions)).toEqual([[1]]);
    },
  );

  test("a write conflict after which nothing shows a move: the transaction runs again, and commits", async () => {
    const store = await open();
    const at = streamsAt({ b: 1 });
    let conflicts = 1;
    server.handle = (c) => (isGuardInsert(c) && conflicts-- > 0 ? writeConflict : at(c));
    expect(await store.append(dependent("a", 0, [{ streamId: "b", version: 1 }]))).toMatchObject({
      ok: true,
      version: 1,
    });
    const starts = transactional().filter((c) => c.body.startTransaction === true);
    expect(starts).toHaveLength(2);
    expect(String(starts[0]?.body.txnNumber)).not.toBe(String(starts[1]?.body.txnNumber));
    expect(server.sent("commitTransaction")).toHaveLength(1);
    expect(ownInserts()).toHaveLength(1);
    // The same positions, never used by the aborted run: nothing to tombstone.
    expect(tombstoned()).toEqual([]);
  });

  test.each([
    ["a read (the server's own error)", "find"],
    ["a write (which the driver rewrites as 'does not support retryable writes')", "insert"],
  ])(
    "a server that cannot run transactions (code 20, no replica set) refuses %s: StoreUnavailableError naming the replica set, never written unchecked",
    async (_, refusing) => {
      const store = await open();
      const at = streamsAt({ b: 1 });
      server.handle = (c) =>
        inTransaction(c) && c.name === refusing
          ? {
              ok: 0,
              code: 20,
              codeName: "IllegalOperation",
              errmsg: "Transaction numbers are only allowed on a replica set member or mongos",
            }
          : at(c);
      const error = await store
        .append(dependent("a", 0, [{ streamId: "b", version: 1 }]))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(error).not.toBeInstanceOf(StoreOutcomeUnknownError);
      expect((error as Error).message).toMatch(/Run MongoDB as a replica set/);
      expect(ownInserts()).toEqual([]);
      expect(server.sent("commitTransaction")).toEqual([]);
      expect(server.commands.filter((c) => c.body.startTransaction === true)).toHaveLength(1);
    },
  );

  test("a commit whose result the driver cannot tell (UnknownTransactionCommitResult) that a majority read then shows: written", async () => {
    const store = await open({ deadlineMs: 2_000 });
    const at = streamsAt({ b: 1 });
    server.handle = (c) => {
      if (c.name === "commitTransaction") return { ok: 1, writeConcernError: writeConcernTimeout };
      // The settling read: by `_id`, outside the transaction.
      if (c.name === "find" && c.collection === "commits" && (c.body.filter as Document)._id) {
        const own = ownInserts()[0];
        return emptyCursor(c, own ? [{ _id: inserted(own)[0]?._id }] : []);
      }
      return at(c);
    };
    expect(await store.append(dependent("a", 0, [{ streamId: "b", version: 1 }]))).toMatchObject({
      ok: true,
      version: 1,
    });
    expect(server.sent("commitTransaction")).toHaveLength(1);
    expect(tombstoned()).toEqual([]);
  });

  test("a commit whose result the driver cannot tell, not shown, whose tombstone collides with it: StoreOutcomeUnknownError", async () => {
    const store = await open({ deadlineMs: 5_000 });
    const at = streamsAt({ b: 1 });
    server.handle = (c) => {
      // The commit's answer is lost, and lost again when the driver retries it.
      if (c.name === "commitTransaction") return "close";
      if (c.name === "insert" && inserted(c)[0]?.kind === "tombstone") {
        return { ok: 1, n: 0, writeErrors: [duplicateOn("positions")] };
      }
      if (c.name === "find" && c.body.readConcern?.level === "local") {
        return emptyCursor(c, [{ _id: (c.body.filter as { _id: unknown })._id }]);
      }
      return at(c);
    };
    const error = await store
      .append(dependent("a", 0, [{ streamId: "b", version: 1 }]))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreOutcomeUnknownError);
    // Settled, not cut short by the deadline: read back, tombstone tried, then the primary's own read.
    expect((error as Error).message).toMatch(/may or may not be written/);
    expect(server.sent("commitTransaction")).toHaveLength(2);
    expect(server.commands.some((c) => c.name === "find" && c.body.readConcern?.level === "local")).toBe(
      true,
    );
  });

  test("outcomes alone, depending on another stream: the version-guarded upsert goes in the transaction too", async () => {
    const store = await open();
    const at = streamsAt({ b: 1 });
    server.handle = (c) => upserting(c) ?? at(c);
    expect(
      await store.append({ ...refusal("a", 0), dependsOn: [{ streamId: "b", version: 1 }] }),
    ).toMatchObject({ ok: true, version: 0 });
    const txn = transactional();
    expect(txn.map((c) => c.name)).toEqual([
      "find",
      "find",
      "insert",
      "delete",
      "update",
      "commitTransaction",
    ]);
    const [upsert] = (txn[4] as FakeCommand).body.updates as Document[];
    expect(upsert?.q).toEqual({ kind: "events", streamId: "a", lastVersion: { $gt: 0 } });
    expect(upsert?.u.$setOnInsert).toMatchObject({ kind: "outcomes", outcomes: [{ key: "k" }] });
  });

  test("one abandoned before its commit is sent (its caller was answered 'not written'): aborted, the commit never sent, its positions tombstoned", async () => {
    await open();
    server.handle = streamsAt({ b: 1 });
    const client = new MongoClient(server.url("fake"), { serverSelectionTimeoutMS: 2_000 });
    const error = await appendDependent(
      client,
      collections(client.db("fake")),
      dependent("a", 0, [{ streamId: "b", version: 1 }]),
      { claim: () => false },
    ).catch((e: unknown) => e);
    await client.close();
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(error).not.toBeInstanceOf(StoreOutcomeUnknownError);
    expect(transactional().map((c) => c.name)).toEqual([
      "find",
      "find",
      "insert",
      "delete",
      "insert",
      "abortTransaction",
    ]);
    expect(tombstoned().map((t) => t.positions)).toEqual([[1]]);
  });

  test("one whose deadline passes before its commit is sent is answered 'not written', and the commit is never sent", async () => {
    const store = await open({ deadlineMs: 300, serverSelectionTimeoutMs: 30_000 });
    const at = streamsAt({ b: 1 });
    let hanging = true;
    server.handle = (c) => (hanging && isGuardInsert(c) ? "hang" : at(c));
    const error = await store
      .append(dependent("a", 0, [{ streamId: "b", version: 1 }]))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(error).not.toBeInstanceOf(StoreOutcomeUnknownError);
    hanging = false;
    server.dropConnections();
    await store.close();
    expect(server.sent("commitTransaction")).toEqual([]);
  });

  test("the batch and the outcome writer refuse an append with dependsOn: it never goes unchecked", async () => {
    await open();
    const c = collectionsOf(server);
    const [batched] = await writeBatch(c.collections, [dependent("a", 0, [{ streamId: "b", version: 0 }])]);
    const alone = await appendOutcomes(c.collections, {
      ...refusal("a", 0),
      dependsOn: [{ streamId: "b", version: 0 }],
    }).catch((e: unknown) => e);
    await c.close();
    expect(batched).toMatchObject({ failed: expect.any(Error) });
    expect(alone).toBeInstanceOf(Error);
    const writes = server.commands.filter((x) => ["insert", "update", "delete"].includes(x.name));
    expect(writes.filter((x) => x.collection === "commits")).toEqual([]);
  });
});

/** The collections of the fake server's database, through a client of their own. */
const collectionsOf = (fake: FakeMongod): { collections: Collections; close: () => Promise<void> } => {
  const client = new MongoClient(fake.url("fake"), { serverSelectionTimeoutMS: 2_000 });
  return { collections: collections(client.db("fake")), close: () => client.close() };
};
