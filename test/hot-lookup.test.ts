import { afterAll, expect, test } from "bun:test";
import fc from "fast-check";
import { coalesce, type HotLookup, type VersionedWrite } from "../src/hot-lookup/hot-lookup.ts";
import { MemoryHotLookup } from "../src/hot-lookup/memory-hot-lookup.ts";
import { RedisHotLookup } from "../src/hot-lookup/redis-hot-lookup.ts";
import { fullStack } from "./support/read-side.ts";
import { describeWith } from "./support/servers.ts";

/**
 * Per document, the fields each version sets; where its copy already is; and the stretch of versions
 * that arrives next (from any version up to the last, so some stretches leave a gap).
 */
const documents = fc.array(
  fc
    .record({
      sets: fc.array(
        fc.dictionary(fc.constantFrom("balance", "status", "owner"), fc.string({ maxLength: 3 }), {
          minKeys: 1,
        }),
        { minLength: 1, maxLength: 8 },
      ),
      at: fc.nat(),
      from: fc.nat(),
    })
    .map(({ sets, at, from }) => ({ sets, at: at % (sets.length + 1), from: 1 + (from % sets.length) })),
  { minLength: 1, maxLength: 4 },
);

/** The arriving stretches of every document, interleaved by `order`. */
const interleave = (stretches: VersionedWrite[][], order: readonly number[]): VersionedWrite[] => {
  const queues = stretches.map((s) => [...s]);
  const writes: VersionedWrite[] = [];
  for (const pick of order) {
    const queue = queues[pick % queues.length];
    const write = queue?.shift();
    if (write) writes.push(write);
  }
  for (const queue of queues) writes.push(...queue);
  return writes;
};

const readAll = (hot: HotLookup, keys: readonly string[]) => Promise.all(keys.map((key) => hot.get(key)));

let run = 0;

/** Folded writes leave every document as the same writes one by one do, wherever it was, gaps included. */
const foldsLikeOneByOne = (open: () => HotLookup) =>
  fc.assert(
    fc.asyncProperty(documents, fc.array(fc.nat(), { maxLength: 40 }), async (docs, order) => {
      run += 1;
      const oneByOne = open();
      const folded = open();
      const keysOf = (side: string) => docs.map((_, d) => `fold-test:${run}:${side}:${d}`);
      const [oneKeys, foldKeys] = [keysOf("one"), keysOf("folded")];
      const writesOf = (keys: readonly string[]) =>
        docs.map((doc, d) =>
          doc.sets.map((fields, i): VersionedWrite => ({ key: keys[d] as string, version: i + 1, fields })),
        );
      const [oneWrites, foldWrites] = [writesOf(oneKeys), writesOf(foldKeys)];
      // Where each copy is before the stretch arrives, reached version by version.
      for (const [d, doc] of docs.entries()) {
        for (const write of oneWrites[d]?.slice(0, doc.at) ?? []) await oneByOne.applyMany([write]);
        for (const write of foldWrites[d]?.slice(0, doc.at) ?? []) await folded.applyMany([write]);
      }
      const arriving = (writes: VersionedWrite[][]) =>
        interleave(
          writes.map((w, d) => w.slice((docs[d]?.from ?? 1) - 1)),
          order,
        );
      for (const write of arriving(oneWrites)) await oneByOne.applyMany([write]);
      await folded.applyMany(coalesce(arriving(foldWrites)));
      expect(await readAll(folded, foldKeys)).toEqual(await readAll(oneByOne, oneKeys));
      await oneByOne.clear(`fold-test:${run}:`);
      await folded.clear(`fold-test:${run}:`);
    }),
    { numRuns: 100 },
  );

test("a run of versions folded into one write: documents end as with the writes one by one (in-process)", async () => {
  const hot = new MemoryHotLookup();
  await foldsLikeOneByOne(() => hot);
});

test("folding keeps each document's runs in order, and one write per run of consecutive versions", () => {
  const w = (key: string, version: number, fields: Record<string, string>) => ({ key, version, fields });
  expect(
    coalesce([
      w("a", 1, { balance: "1", status: "open" }),
      w("b", 4, { balance: "7" }),
      w("a", 2, { balance: "2" }),
      w("a", 4, { balance: "4" }),
      w("b", 5, { status: "closed" }),
    ]),
  ).toEqual([
    { key: "a", version: 2, from: 1, fields: { balance: "2", status: "open" } },
    { key: "b", version: 5, from: 4, fields: { balance: "7", status: "closed" } },
    w("a", 4, { balance: "4" }),
  ]);
});

describeWith(["Redis"], "Redis hot lookup", () => {
  const hot = new RedisHotLookup(fullStack.redisUrl);
  afterAll(async () => {
    await hot.clear("fold-test:");
    await hot.close();
  });

  test("a folded write applies on top of any version of its run, and reports a gap before it, as the in-process one", async () => {
    await foldsLikeOneByOne(() => hot);
    const [gap, applied, duplicate] = await Promise.all([
      hot.applyMany([{ key: "fold-test:x", version: 3, from: 2, fields: { a: "1" } }]),
      hot
        .applyMany([{ key: "fold-test:y", version: 1, fields: { a: "0" } }])
        .then(() => hot.applyMany([{ key: "fold-test:y", version: 3, from: 1, fields: { a: "3" } }])),
      hot
        .applyMany([{ key: "fold-test:z", version: 2, from: 1, fields: { a: "2" } }])
        .then(() => hot.applyMany([{ key: "fold-test:z", version: 2, from: 1, fields: { a: "9" } }])),
    ]);
    expect([gap, applied, duplicate]).toEqual([
      [{ status: "gap", current: 0 }],
      [{ status: "applied", current: 3 }],
      [{ status: "duplicate", current: 2 }],
    ]);
    expect(await hot.get("fold-test:z")).toEqual({ a: "2", version: "2" });
  });
});
