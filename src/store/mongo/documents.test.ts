import { describe, expect, test } from "bun:test";
import { createRequire } from "node:module";
import type { BulkWriteResult, WriteConcernError, WriteError } from "mongodb";
import { MongoBulkWriteError, MongoClient, MongoNetworkError, MongoServerSelectionError } from "mongodb";
import { FakeMongod, writeConcernTimeout } from "../../testing/fake-mongod.ts";
import { bulkVerdicts, duplicateIndex, isUnavailable } from "./documents.ts";
import { databaseOf } from "./mongo-store.ts";

// The classes the bulk insert builds its errors from; the driver exports them as types only.
const bulk = createRequire(import.meta.url)("mongodb/lib/bulk/common.js") as {
  BulkWriteResult: new (result: unknown, ordered: boolean) => BulkWriteResult;
  WriteConcernError: new (error: unknown) => WriteConcernError;
  WriteError: new (error: unknown) => WriteError;
};

/**
 * These read the driver's own error objects (mongodb 7.9), built as its bulk insert builds them
 * (`lib/bulk/common.js`): no server is needed to say what each shape means.
 */
const bulkResult = (writeErrors: WriteError[], writeConcernErrors: WriteConcernError[] = []) =>
  new bulk.BulkWriteResult(
    {
      ok: writeErrors.length ? 0 : 1,
      writeErrors,
      writeConcernErrors,
      insertedIds: [],
      nInserted: 0,
      nUpserted: 0,
      nMatched: 0,
      nModified: 0,
      nRemoved: 0,
      upserted: [],
    },
    false,
  );
const duplicate = (index: number, name: string, value = "x") =>
  new bulk.WriteError({
    index,
    code: 11000,
    errmsg: `E11000 duplicate key error collection: eventfold.commits index: ${name} dup key: { k: "${value}" }`,
  } as never);

describe("MongoDB error shapes", () => {
  test("a duplicate key names its index in fixed words; a key's value cannot pass for one", () => {
    expect(duplicateIndex(duplicate(0, "outcome_key").errmsg)).toBe("outcome_key");
    expect(
      duplicateIndex(duplicate(0, "stream_event_version", "my_outcome_key index: positions").errmsg),
    ).toBe("stream_event_version");
    expect(duplicateIndex("E11000 something else")).toBeUndefined();
  });

  test("write errors alone: those documents refused, every other one written", () => {
    const errors = [duplicate(1, "stream_event_version")];
    const error = new MongoBulkWriteError(
      { message: "dup", code: 11000, writeErrors: errors } as never,
      bulkResult(errors),
    );
    const { refused, unknown } = bulkVerdicts(error, 3);
    expect([...refused.keys()]).toEqual([1]);
    expect([...unknown]).toEqual([]);
  });

  test("a write concern error (with or without write errors): every document without its own error is unsure", () => {
    const concern = new bulk.WriteConcernError({ code: 64, errmsg: "waiting for replication timed out" });
    const errors = [duplicate(0, "outcome_key")];
    // As the driver throws both (lib/bulk/common.js, executeCommands): the write concern's message and
    // code, the documents' own errors only in the result.
    const both = new MongoBulkWriteError(
      { message: concern.errmsg, code: concern.code } as never,
      bulkResult(errors, [concern]),
    );
    expect([both.writeErrors].flat()).toEqual([]);
    expect([...bulkVerdicts(both, 3).refused.keys()]).toEqual([0]);
    expect([...bulkVerdicts(both, 3).unknown]).toEqual([1, 2]);
    const alone = new MongoBulkWriteError(concern as never, bulkResult([], [concern]));
    expect([...bulkVerdicts(alone, 2).unknown]).toEqual([0, 1]);
  });

  test("both, as the driver builds them from a server's reply: the refused one refused, the rest unsure", async () => {
    const server = FakeMongod.start();
    const client = new MongoClient(server.url("fake"), { serverSelectionTimeoutMS: 2_000 });
    try {
      server.handle = (c) =>
        c.name === "insert"
          ? {
              ok: 1,
              n: 2,
              writeErrors: [duplicate(0, "outcome_key")].map(({ index, code, errmsg }) => ({
                index,
                code,
                errmsg,
              })),
              writeConcernError: writeConcernTimeout,
            }
          : undefined;
      const error = await client
        .db("fake")
        .collection("commits")
        .insertMany([{ a: 1 }, { a: 2 }, { a: 3 }], { ordered: false })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MongoBulkWriteError);
      expect((error as MongoBulkWriteError).code).toBe(64);
      const { refused, unknown } = bulkVerdicts(error, 3);
      expect([[...refused.keys()], [...unknown]]).toEqual([[0], [1, 2]]);
    } finally {
      await client.close();
      server.stop();
    }
  });

  test("a network error mid-insert, wrapped by the bulk insert: unsure, even with earlier write errors", () => {
    const errors = [duplicate(0, "positions")];
    const wrapped = new MongoBulkWriteError(new MongoNetworkError("connection reset"), bulkResult(errors));
    const { refused, unknown } = bulkVerdicts(wrapped, 3);
    expect([...refused.keys()]).toEqual([0]);
    expect([...unknown]).toEqual([1, 2]);
    expect(isUnavailable(new MongoNetworkError("reset"))).toBe(true);
    expect(isUnavailable(new MongoServerSelectionError("no primary", {} as never))).toBe(true);
    expect(isUnavailable(new Error("a bug"))).toBe(false);
  });

  test("a URL without a database path means eventfold, not the driver's test", () => {
    expect(databaseOf("mongodb://localhost:27017")).toBe("eventfold");
    expect(databaseOf("mongodb://localhost:27017/?replicaSet=rs0")).toBe("eventfold");
    expect(databaseOf("mongodb://a:1,b:2/shop?replicaSet=rs0")).toBe("shop");
    expect(databaseOf("mongodb+srv://u:p%2Fw@cluster.example.com/bank")).toBe("bank");
  });
});
