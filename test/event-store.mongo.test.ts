/**
 * MongoDB: every port's conformance suite, and what only MongoDB can get wrong (positions assigned
 * before the insert, writes a majority must acknowledge, reads a failover could take back). Runs
 * wherever MONGO_URL names a server; the compose file's single-node replica set will do:
 *
 *   docker compose up -d mongo
 *   MONGO_URL='mongodb://127.0.0.1:27017/?replicaSet=rs0&directConnection=true' npx bun test test/event-store.mongo.test.ts
 *
 * The failover test needs a replica set with a secondary that can take over (three members): with
 * fewer it says so and is skipped. A rollback (a partition that isolates a primary holding writes a
 * majority never saw) needs control of the network, which no test here has.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { type Db, MongoClient, MongoServerError, ObjectId, WriteConcern } from "mongodb";
import { pollUntil } from "../src/lib/poll.ts";
import { describeStoreConformance } from "../src/store/conformance/index.ts";
import type { EventEnvelope, NewEvent } from "../src/store/envelope.ts";
import { StoreOutcomeUnknownError, StoreUnavailableError } from "../src/store/event-store.ts";
import { writeBatch } from "../src/store/mongo/append.ts";
import { type GuardDoc, guardDoc } from "../src/store/mongo/dependent.ts";
import { type Collections, collections, ensureIndexes } from "../src/store/mongo/documents.ts";
import { HoleReader } from "../src/store/mongo/holes.ts";
import { MongoStore } from "../src/store/mongo/mongo-store.ts";
import { appendOutcomes, findOutcome } from "../src/store/mongo/outcomes.ts";
import { readStream, streamVersion } from "../src/store/mongo/read.ts";

const url = process.env.MONGO_URL;

const event = (type: string): NewEvent => ({
  eventId: Bun.randomUUIDv7(),
  type,
  schemaVersion: 1,
  data: {},
  metadata: { commandId: "c", correlationId: "c", causationId: "c" },
});

if (url) {
  const database = `eventfold_conformance_${Date.now().toString(36)}`;
  describeStoreConformance(`MongoDB (${database})`, (onBatch?: (size: number) => void) =>
    MongoStore.connect({ url, database, onBatch }),
  );

  describe("MongoDB only", () => {
    const client = new MongoClient(url);
    const dbs: Db[] = [];
    const fresh = async (): Promise<{ db: Db; c: Collections }> => {
      const db = client.db(`${database}_x${dbs.length}`);
      dbs.push(db);
      const c = collections(db);
      await ensureIndexes(c);
      return { db, c };
    };
    afterAll(async () => {
      for (const db of dbs) await db.dropDatabase();
      await client.db(database).dropDatabase();
      await client.close();
    });

    test("a URL's path names the database the store keeps its data in (never the driver's test)", async () => {
      // Its own database: the test writes nowhere another could be using. (A URL without a path
      // means `eventfold`: databaseOf's unit test says so.)
      const own = `${database}_url`;
      const withPath = url.replace(/^(mongodb(?:\+srv)?:\/\/[^/?]*)\/?[^?]*/, `$1/${own}`);
      const store = await MongoStore.connect({ url: withPath });
      try {
        await store.saveCheckpoint("probe", "1");
        const found = await client
          .db(own)
          .collection("relay_checkpoints")
          .findOne({ _id: "probe" as never });
        expect(found).not.toBeNull();
        const inTest = await client
          .db("test")
          .collection("relay_checkpoints")
          .findOne({ _id: "probe" as never });
        expect(inTest).toBeNull();
      } finally {
        await store.close();
        await client.db(own).dropDatabase();
      }
    });

    test("a writer landing after the reader's grace collides on its tombstoned positions and writes again later: nothing skipped", async () => {
      const { c } = await fresh();
      const reader = new HoleReader(c, 50);
      // A writer took position 1 and has not landed; the next append takes 2.
      await c.counters.updateOne({ _id: "position" }, { $inc: { value: 1 } }, { upsert: true });
      const [later] = await writeBatch(c, [
        { streamId: "s-later", aggregateType: "t", expectedVersion: 0, events: [event("Later")] },
      ]);
      expect(later).toMatchObject({ ok: true });
      // Within the grace the reader waits at the hole; past it, it tombstones position 1 and goes on.
      expect(await reader.readAll(0, 10)).toEqual([]);
      await Bun.sleep(80);
      expect((await reader.readAll(0, 10)).map((e) => [e.type, e.position])).toEqual([["Later", 2]]);
      // The late writer's document at position 1 can no longer land there: it collides (and
      // `writeBatch` writes it again at new positions, as the next test shows).
      const late = {
        _id: new ObjectId(),
        kind: "events" as const,
        streamId: "s-late",
        aggregateType: "t",
        version: 1,
        lastVersion: 1,
        position: 1,
        lastPosition: 1,
        positions: [1],
        time: new Date(),
        final: false,
        events: [{ ...event("Late"), version: 1 }],
      };
      await expect(c.commits.insertOne(late)).rejects.toThrow(/E11000 .* index: positions /);
    });

    test("an append whose positions a reader tombstoned is written again at new ones", async () => {
      const { c } = await fresh();
      const reader = new HoleReader(c, 0);
      // A reader gave up on position 1 before this writer took it.
      await c.commits.insertOne({
        _id: new ObjectId(),
        kind: "tombstone",
        position: 1,
        lastPosition: 1,
        positions: [1],
        time: new Date(),
      });
      const [written] = await writeBatch(c, [
        { streamId: "s-moved", aggregateType: "t", expectedVersion: 0, events: [event("Moved")] },
      ]);
      expect(written).toMatchObject({ ok: true });
      expect((await reader.readAll(0, 10)).map((e) => [e.type, e.position])).toEqual([["Moved", 2]]);
    });

    test("a follow-up read that fails fails only the append that needed it, never a written one", async () => {
      const { c } = await fresh();
      await writeBatch(c, [
        { streamId: "taken", aggregateType: "t", expectedVersion: 0, events: [event("A")] },
      ]);
      // Reading why `taken` clashed fails; the other append of the batch is written all the same.
      const failing: Collections = {
        ...c,
        commits: new Proxy(c.commits, {
          get(target, property, receiver) {
            if (property === "find") {
              return (filter: { streamId?: string }, ...rest: unknown[]) => {
                if (filter.streamId === "taken") throw new Error("an election");
                return (target.find as (...args: unknown[]) => unknown)(filter, ...rest);
              };
            }
            const value = Reflect.get(target, property, receiver);
            return typeof value === "function" ? value.bind(target) : value;
          },
        }),
      };
      const [clash, fine] = await writeBatch(failing, [
        { streamId: "taken", aggregateType: "t", expectedVersion: 0, events: [event("B")] },
        { streamId: "free", aggregateType: "t", expectedVersion: 0, events: [event("C")] },
      ]);
      expect(clash).toMatchObject({ failed: expect.any(Error) });
      expect(fine).toMatchObject({ ok: true, version: 1 });
    });

    /** A query on `commits` as the profiler recorded it. */
    interface Profiled {
      command: { filter?: Record<string, unknown> };
      keysExamined: number;
      docsExamined: number;
    }

    /** The queries on `commits` the profiler saw while `work` ran (system.profile, level 2). */
    const profiled = async (db: Db, work: () => Promise<unknown>): Promise<Profiled[]> => {
      await db.command({ profile: 2 });
      try {
        await work();
      } finally {
        await db.command({ profile: 0 });
      }
      return db
        .collection<Profiled>("system.profile")
        .find({ ns: `${db.databaseName}.commits`, op: "query" })
        .toArray();
    };

    const appendMany = async (c: Collections, streamId: string, count: number) => {
      for (let v = 0; v < count; v++) {
        const [written] = await writeBatch(c, [
          { streamId, aggregateType: "t", expectedVersion: v, events: [event("E")] },
        ]);
        expect(written).toMatchObject({ ok: true });
      }
    };

    test("a stream read from a snapshot fetches only the commits after it (readStream, as the profiler saw it)", async () => {
      const { db, c } = await fresh();
      await appendMany(c, "long", 50);
      let read: EventEnvelope[] = [];
      const queries = await profiled(db, async () => {
        read = await readStream(c, "long", { after: 45 });
      });
      expect(read.map((e) => e.version)).toEqual([46, 47, 48, 49, 50]);
      const reads = queries.filter((q) => q.command.filter?.streamId === "long");
      expect(reads.map((q) => q.docsExamined)).toEqual([5]);
    });

    test("an append checks its stream's version with one index entry, however long the stream", async () => {
      const { db, c } = await fresh();
      await appendMany(c, "long", 200);
      const queries = await profiled(db, () =>
        writeBatch(c, [{ streamId: "long", aggregateType: "t", expectedVersion: 200, events: [event("E")] }]),
      );
      const checks = queries.filter((q) => q.command.filter?.streamId === "long");
      expect(checks.length).toBeGreaterThan(0);
      for (const check of checks) expect(check.keysExamined).toBeLessThanOrEqual(2);
    });

    test("a refusal decided on a version that a stale majority read still shows is a version conflict, and is not kept", async () => {
      const { c } = await fresh();
      await appendMany(c, "acct", 6);
      // A majority read right after a failover: the new primary's majority point lags, and the
      // commit of version 6, acknowledged by the old primary, does not show yet.
      const hide = (filter: Record<string, unknown>) => ({
        $and: [filter, { $or: [{ streamId: { $ne: "acct" } }, { lastVersion: { $lt: 6 } }] }],
      });
      const stale: Collections = {
        ...c,
        commits: new Proxy(c.commits, {
          get(target, property, receiver) {
            if (property === "find" || property === "findOne") {
              return (filter: Record<string, unknown>, ...rest: unknown[]) =>
                (target[property] as (...args: unknown[]) => unknown).call(target, hide(filter), ...rest);
            }
            const value = Reflect.get(target, property, receiver);
            return typeof value === "function" ? value.bind(target) : value;
          },
        }),
      };
      const result = await appendOutcomes(stale, {
        streamId: "acct",
        aggregateType: "t",
        expectedVersion: 5,
        events: [],
        outcomes: [{ key: "withdrawal-1", fingerprint: "f", outcome: { kind: "rejected" } as never }],
      });
      expect(result).toMatchObject({ ok: false, reason: "version_conflict" });
      expect(await findOutcome(c, "withdrawal-1")).toBeUndefined();
    });

    // What the check of `dependsOn` rests on (src/store/mongo/dependent.ts): a transaction that claims
    // a dependency's next version with a guard collides with that stream's next append, whichever
    // comes first. A guard that any of these let through would let a dependent append be written
    // against a version its dependency had already left.
    const guarded = async (c: Collections) => {
      const session = client.startSession({ causalConsistency: false });
      session.startTransaction({
        readConcern: { level: "snapshot" },
        writeConcern: new WriteConcern("majority", 5_000, true),
      });
      const guards = client.db(c.commits.dbName).collection<GuardDoc>(c.commits.collectionName);
      // The first read fixes the transaction's snapshot.
      expect(await streamVersion(c, "dep", session)).toBe(1);
      return { session, guards };
    };

    test("a dependency's append committed after the transaction's snapshot: the guard on its version collides with it", async () => {
      const { c } = await fresh();
      await appendMany(c, "dep", 1);
      const { session, guards } = await guarded(c);
      try {
        const [moved] = await writeBatch(c, [
          { streamId: "dep", aggregateType: "t", expectedVersion: 1, events: [event("E")] },
        ]);
        expect(moved).toMatchObject({ ok: true, version: 2 });
        const error = await guards
          .insertOne(guardDoc({ streamId: "dep", version: 1 }), { session })
          .catch((e: unknown) => e);
        // A write conflict (TransientTransactionError) or a duplicate key: the guard does not go in.
        expect(error).toBeInstanceOf(MongoServerError);
        const server = error as MongoServerError;
        expect(server.hasErrorLabel("TransientTransactionError") || server.code === 11000).toBe(true);
      } finally {
        await session.abortTransaction().catch(() => {});
        await session.endSession();
      }
    });

    test("a dependency's append sent while a transaction holds the guard waits for it and lands after it; the guard never shows", async () => {
      const { c } = await fresh();
      await appendMany(c, "dep", 1);
      const { session, guards } = await guarded(c);
      let landed = false;
      let next: Promise<unknown> | undefined;
      try {
        const guard = guardDoc({ streamId: "dep", version: 1 });
        await guards.insertOne(guard, { session });
        expect((await guards.deleteOne({ _id: guard._id }, { session })).deletedCount).toBe(1);
        next = writeBatch(c, [
          { streamId: "dep", aggregateType: "t", expectedVersion: 1, events: [event("E")] },
        ]).then((written) => {
          landed = true;
          return written;
        });
        await Bun.sleep(500);
        expect(landed).toBe(false);
        await session.commitTransaction();
        expect(await next).toEqual([expect.objectContaining({ ok: true, version: 2 })]);
        expect(await guards.countDocuments({ guard: true })).toBe(0);
      } finally {
        await session.abortTransaction().catch(() => {});
        await session.endSession();
        await next?.catch(() => {});
      }
    });

    test("commits restored behind the relay's checkpoint: new appends take positions past it, so the relay publishes them", async () => {
      const { db, c } = await fresh();
      await appendMany(c, "old", 3);
      // The relay had published up to 100; the restore brought back commits and the counter at 3.
      await c.checkpoints.insertOne({ _id: "outbox-relay", value: "100", fence: 0 });
      const store = await MongoStore.connect({ url, database: db.databaseName });
      try {
        await store.append({
          streamId: "new",
          aggregateType: "t",
          expectedVersion: 0,
          events: [event("New")],
        });
        const [fresh] = await store.readAll(100, 10);
        expect(fresh?.streamId).toBe("new");
      } finally {
        await store.close();
      }
    });

    test("a counter restored ahead of the commits: the reader tombstones the hole in pieces and passes it", async () => {
      const { c } = await fresh();
      const ahead = 1_500_000;
      await c.counters.updateOne({ _id: "position" }, { $set: { value: ahead } }, { upsert: true });
      const [written] = await writeBatch(c, [
        { streamId: "s", aggregateType: "t", expectedVersion: 0, events: [event("After")] },
      ]);
      expect(written).toMatchObject({ ok: true });
      const read = await new HoleReader(c, 0).readAll(0, 10);
      expect(read.map((e) => e.position)).toEqual([ahead + 1]);
    }, 120_000);
  });

  // How many members could be primary: a step-down needs another one to take over.
  const admin = new MongoClient(url);
  const replicaSet = (await admin
    .db("admin")
    .command({ replSetGetStatus: 1 })
    .catch(() => ({ members: [] }))) as { members: { health?: number }[] };
  const electable = replicaSet.members.filter((m) => m.health === 1).length;
  if (electable < 3) {
    console.warn(
      `SKIPPED: MongoDB failover: MONGO_URL names ${electable} healthy replica-set members, not 3.`,
    );
  }

  describe("MongoDB failover", () => {
    afterAll(() => admin.close());

    test.skipIf(electable < 3)(
      "the primary steps down under appends: every acknowledged one is kept, read once and in order, none skipped, and an unsure one is there at most once",
      async () => {
        const database = `eventfold_failover_${Date.now().toString(36)}`;
        const store = await MongoStore.connect({ url, database, holeGraceMs: 1_000 });
        const acknowledged = new Map<string, string>();
        const unsure = new Map<string, string>();
        const notWritten = new Map<string, string>();
        let sent = 0;
        const writer = async () => {
          while (sent < 2_000) {
            const streamId = `s-${++sent}`;
            const written = event("Written");
            try {
              const result = await store.append({
                streamId,
                aggregateType: "t",
                expectedVersion: 0,
                events: [written],
              });
              if (result.ok) acknowledged.set(streamId, written.eventId);
            } catch (error) {
              // Unsure: written or not, but never twice nor half. Unavailable: surely not written.
              if (error instanceof StoreOutcomeUnknownError) unsure.set(streamId, written.eventId);
              else if (error instanceof StoreUnavailableError) notWritten.set(streamId, written.eventId);
              else throw error;
            }
          }
        };
        try {
          const writers = Array.from({ length: 16 }, writer);
          await pollUntil(
            () => acknowledged.size,
            (n) => n >= 300,
            { timeoutMs: 60_000, intervalMs: 10 },
          );
          // The primary hands over to a secondary while the writers go on.
          await admin
            .db("admin")
            .command({ replSetStepDown: 20, secondaryCatchUpPeriodSecs: 10 })
            .catch(() => {});
          await Promise.all(writers);
          expect(acknowledged.size).toBeGreaterThan(1_000);

          // The relay's reading: every position once, in order, up to the head, holes tombstoned.
          const head = await store.headPosition();
          const read: EventEnvelope[] = [];
          const deadline = Date.now() + 60_000;
          while ((read.at(-1)?.position ?? 0) < head && Date.now() < deadline) {
            const page = await store.readAll(read.at(-1)?.position ?? 0, 500).catch(() => []);
            if (page.length === 0) await Bun.sleep(100);
            read.push(...page);
          }
          const positions = read.map((e) => e.position);
          expect(positions).toEqual([...positions].sort((a, b) => a - b));
          expect(new Set(positions).size).toBe(positions.length);
          const byStream = new Map<string, string[]>();
          for (const e of read) byStream.set(e.streamId, [...(byStream.get(e.streamId) ?? []), e.eventId]);
          for (const [streamId, eventId] of acknowledged) {
            expect([streamId, byStream.get(streamId)]).toEqual([streamId, [eventId]]);
            expect((await store.readStream(streamId)).map((e) => e.eventId)).toEqual([eventId]);
          }
          for (const [streamId] of notWritten) {
            expect([streamId, byStream.get(streamId)]).toEqual([streamId, undefined]);
            expect([streamId, await store.readStream(streamId)]).toEqual([streamId, []]);
          }
          for (const [streamId, eventId] of unsure) {
            const found = byStream.get(streamId) ?? [];
            expect([streamId, found.length <= 1 && found.every((id) => id === eventId)]).toEqual([
              streamId,
              true,
            ]);
          }
        } finally {
          await store.close();
          await admin.db(database).dropDatabase();
        }
      },
      180_000,
    );
  });
} else {
  console.warn("SKIPPED: MongoDB store conformance suite: MONGO_URL is not set (no MongoDB server here).");
  describe("event store conformance: MongoDB", () => {
    test.skip("SKIPPED because MONGO_URL is not set", () => {});
  });
}
