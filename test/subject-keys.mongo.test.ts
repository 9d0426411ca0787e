/**
 * MongoDB subject keys: the port's conformance suite against a real server, wherever MONGO_URL names
 * one (the compose file's single-node replica set will do):
 *
 *   docker compose up -d mongo
 *   MONGO_URL='mongodb://127.0.0.1:27017/?replicaSet=rs0&directConnection=true' npx bun test test/subject-keys.mongo.test.ts
 *
 * And, everywhere, the adapter against the real driver (mongodb 7.9) talking to a scripted server
 * (`FakeMongod`): what it does with each reply shape the driver builds from a server's (a lost upsert
 * race, a write concern error, an erasure that matched nothing).
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { type Document, MongoBulkWriteError, MongoClient } from "mongodb";
import { describeSubjectKeyStoreConformance } from "../src/store/conformance/subject-keys.ts";
import { MongoSubjectKeys } from "../src/store/mongo/subject-keys.ts";
import {
  emptyCursor,
  type FakeCommand,
  FakeMongod,
  writeConcernTimeout,
} from "../src/testing/fake-mongod.ts";

const url = process.env.MONGO_URL;

if (url) {
  const database = `eventfold_subject_keys_${Date.now().toString(36)}`;
  const admin = new MongoClient(url);
  afterAll(async () => {
    await admin.db(database).dropDatabase();
    await admin.close();
  });
  describeSubjectKeyStoreConformance(`MongoDB (${database})`, async () => {
    const client = new MongoClient(url);
    return new MongoSubjectKeys(client.db(database), { owner: client });
  });
} else {
  console.warn(
    "SKIPPED: MongoDB subject keys conformance suite: MONGO_URL is not set (no MongoDB server here).",
  );
  describe("subject keys conformance: MongoDB", () => {
    test.skip("SKIPPED because MONGO_URL is not set", () => {});
  });
}

describe("MongoDB subject keys, against the driver's replies", () => {
  let server: FakeMongod;
  let client: MongoClient;
  const open = () => {
    server = FakeMongod.start();
    client = new MongoClient(server.url("fake"), { serverSelectionTimeoutMS: 2_000 });
    return new MongoSubjectKeys(client.db("fake"), { owner: client });
  };
  afterEach(async () => {
    await client.close().catch(() => {});
    server.stop();
  });

  const stored = (id: string, bytes: Uint8Array) => ({
    _id: id,
    wrapped: Buffer.from(bytes).toString("base64url"),
    createdAt: new Date(),
  });
  const erasedDoc = (id: string) => ({
    _id: id,
    createdAt: new Date(),
    erasedAt: "2030-01-01T00:00:00.000Z",
    erasedBy: "first",
    reason: "asked",
  });
  const finds = () => server.sent("find", "subject_keys");
  const hexOf = (answer: Map<string, { state: string }>, id: string) => {
    const key = answer.get(id) as { state: string; wrapped?: Uint8Array } | undefined;
    return key?.wrapped && Buffer.from(key.wrapped).toString("hex");
  };

  test("subjects that have their key: one majority read, no write", async () => {
    const store = open();
    const key = crypto.getRandomValues(new Uint8Array(60));
    server.handle = (c) => (c.name === "find" ? emptyCursor(c, [stored("a", key)]) : undefined);
    const answer = await store.keys(["a", "a"], () => {
      throw new Error("not to be made");
    });
    expect(hexOf(answer, "a")).toBe(Buffer.from(key).toString("hex"));
    expect(finds()).toHaveLength(1);
    expect(finds()[0]?.body).toMatchObject({
      filter: { _id: { $in: ["a"] } },
      readConcern: { level: "majority" },
    });
    expect(server.sent("update")).toEqual([]);
  });

  test("an upsert that lost the race (duplicate key): the other client's key is read back and answered", async () => {
    const store = open();
    const theirs = crypto.getRandomValues(new Uint8Array(60));
    const ours = crypto.getRandomValues(new Uint8Array(60));
    let reads = 0;
    server.handle = (c: FakeCommand) => {
      if (c.name === "find")
        return emptyCursor(c, reads++ === 0 ? [] : [stored("a", theirs), stored("b", ours)]);
      if (c.name === "update")
        return {
          ok: 1,
          n: 1,
          nModified: 0,
          upserted: [{ index: 1, _id: "b" }],
          writeErrors: [
            {
              index: 0,
              code: 11000,
              errmsg:
                'E11000 duplicate key error collection: fake.subject_keys index: _id_ dup key: { _id: "a" }',
            },
          ],
        };
      return undefined;
    };
    const answer = await store.keys(["a", "b"], () => ours);
    expect(hexOf(answer, "a")).toBe(Buffer.from(theirs).toString("hex"));
    expect(hexOf(answer, "b")).toBe(Buffer.from(ours).toString("hex"));
    const [update] = server.sent("update", "subject_keys");
    expect(update?.body).toMatchObject({ ordered: false, writeConcern: { w: "majority", j: true } });
    const updates = update?.body.updates as Document[];
    expect(updates.map((u) => [u.q, u.upsert, Object.keys(u.u.$setOnInsert).sort()])).toEqual([
      [{ _id: "a" }, true, ["createdAt", "wrapped"]],
      [{ _id: "b" }, true, ["createdAt", "wrapped"]],
    ]);
    expect(finds()[1]?.body.filter).toEqual({ _id: { $in: ["a", "b"] } });
  });

  test("a write concern error on the upserts fails the call: no key is answered that a failover could take back", async () => {
    const store = open();
    server.handle = (c) =>
      c.name === "update"
        ? {
            ok: 1,
            n: 1,
            nModified: 0,
            upserted: [{ index: 0, _id: "a" }],
            writeConcernError: writeConcernTimeout,
          }
        : undefined;
    await expect(store.keys(["a"], () => new Uint8Array(60))).rejects.toBeInstanceOf(MongoBulkWriteError);
    expect(finds()).toHaveLength(1);
  });

  test("a lost race and a write concern error in one reply: still a failure", async () => {
    const store = open();
    server.handle = (c) =>
      c.name === "update"
        ? {
            ok: 1,
            n: 0,
            nModified: 0,
            writeErrors: [
              {
                index: 0,
                code: 11000,
                errmsg:
                  'E11000 duplicate key error collection: fake.subject_keys index: _id_ dup key: { _id: "a" }',
              },
            ],
            writeConcernError: writeConcernTimeout,
          }
        : undefined;
    await expect(store.keys(["a"], () => new Uint8Array(60))).rejects.toThrow();
    expect(finds()).toHaveLength(1);
  });

  test("any other write error fails the call", async () => {
    const store = open();
    server.handle = (c) =>
      c.name === "update"
        ? { ok: 1, n: 0, nModified: 0, writeErrors: [{ index: 0, code: 2, errmsg: "bad value" }] }
        : undefined;
    await expect(store.keys(["a"], () => new Uint8Array(60))).rejects.toBeInstanceOf(MongoBulkWriteError);
  });

  test("a key written but not read back: the call fails rather than answer without it", async () => {
    const store = open();
    await expect(store.keys(["a"], () => new Uint8Array(60))).rejects.toThrow(/not read back/);
  });

  test("erase: the key unset and the record set where not erased yet; the new document means erased now", async () => {
    const store = open();
    server.handle = (c) =>
      c.name === "findAndModify"
        ? { ok: 1, value: erasedDoc("a"), lastErrorObject: { n: 1, updatedExisting: true } }
        : undefined;
    const record = { subjectId: "a", erasedAt: "2031-01-01T00:00:00.000Z", erasedBy: "me", reason: "why" };
    expect(await store.erase(record)).toEqual(record);
    const [command] = server.sent("findAndModify", "subject_keys");
    expect(command?.body).toMatchObject({
      query: { _id: "a", erasedAt: { $exists: false } },
      update: { $set: { erasedAt: record.erasedAt, erasedBy: "me", reason: "why" }, $unset: { wrapped: "" } },
      new: true,
      writeConcern: { w: "majority", j: true },
    });
    expect(finds()).toEqual([]);
  });

  test("erase that matched nothing: the first record of an erased subject, undefined for one never seen", async () => {
    const store = open();
    const record = { subjectId: "a", erasedAt: "2031-01-01T00:00:00.000Z", erasedBy: "me", reason: "why" };
    server.handle = (c) => (c.name === "find" ? emptyCursor(c, [erasedDoc("a")]) : undefined);
    expect(await store.erase(record)).toEqual({
      subjectId: "a",
      erasedAt: "2030-01-01T00:00:00.000Z",
      erasedBy: "first",
      reason: "asked",
    });
    server.handle = () => undefined;
    expect(await store.erase({ ...record, subjectId: "b" })).toBeUndefined();
    expect(finds().map((c) => c.body.filter)).toEqual([{ _id: "a" }, { _id: "b" }]);
  });
});
