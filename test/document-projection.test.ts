import { expect, test } from "bun:test";
import { MemoryHotLookup } from "../src/hot-lookup/memory-hot-lookup.ts";
import { DocumentKeys, documentProjection } from "../src/projector/document-projection.ts";
import { MemoryStore } from "../src/store/memory/memory-store.ts";

const metadata = { commandId: "c", correlationId: "c", causationId: "c" };

/** Counters that take a value per event: 6 streams, 60 events, in an interleaved order. */
const filledStore = async () => {
  const store = new MemoryStore();
  const versions = new Map<number, number>();
  for (let i = 0; i < 60; i++) {
    const counter = (i * 7) % 6;
    const version = versions.get(counter) ?? 0;
    const result = await store.append({
      streamId: `counter-${counter}`,
      aggregateType: "counter",
      expectedVersion: version,
      events: [
        {
          eventId: crypto.randomUUID(),
          type: version === 0 ? "Started" : "Moved",
          schemaVersion: 1,
          data: { to: i, ...(version === 0 ? { label: `c${counter}` } : {}) },
          metadata,
        },
      ],
    });
    if (!result.ok) throw new Error("the fixture's append was refused");
    versions.set(counter, result.version);
  }
  return store;
};

const projectionOver = (hot: MemoryHotLookup, foldKeys: number) =>
  documentProjection({
    name: "counters",
    aggregateType: "counter",
    hot,
    keys: new DocumentKeys(hot, "counter:", "counters:"),
    fieldsOf: (event) => {
      const data = event.data as { to: number; label?: string };
      return { to: String(data.to), ...(data.label ? { label: data.label } : {}) };
    },
    foldKeys,
  });

const counters = ["0", "1", "2", "3", "4", "5"];
const documents = (lookup: MemoryHotLookup, prefix: string) =>
  Promise.all(counters.map((id) => lookup.get(`${prefix}${id}`)));

/** Fills a new generation from the log in pages of 7, as a rebuild does; the writes that reached the hot lookup. */
const rebuild = async (foldKeys: number) => {
  const store = await filledStore();
  const hot = new MemoryHotLookup();
  const writes: number[][] = [];
  const applyMany = hot.applyMany.bind(hot);
  hot.applyMany = async (batch) => {
    writes.at(-1)?.push(batch.length);
    return applyMany(batch);
  };
  const projection = projectionOver(hot, foldKeys);
  const { generation, fill } = await (projection.generations?.create() ?? Promise.reject(new Error("none")));
  const events = await store.readAll(0, 1_000);
  for (let page = 0; page < events.length; page += 7) {
    writes.push([]);
    await fill.apply(events.slice(page, page + 7), { store });
  }
  writes.push([]);
  await fill.flush?.({ store });
  const flushed = writes.map((group) => [...group]);
  await projection.generations?.switchTo(generation);

  const live = new MemoryHotLookup();
  for (const event of events) await projectionOver(live, foldKeys).apply([event], { store });
  return {
    writes: flushed,
    rebuilt: await documents(hot, `counters:g${generation}:`),
    live: await documents(live, "counter:"),
  };
};

test("a rebuild's fill folds the whole log into one write per document when they fit its bound", async () => {
  const { writes, rebuilt, live } = await rebuild(100);
  // Nothing goes out while the pages are read; at the flush, six writes for sixty events.
  expect(writes).toEqual([...Array(9).fill([]), [6]]);
  expect(rebuilt).toEqual(live);
  expect(rebuilt.map((d) => d?.version)).toEqual(Array(6).fill("10"));
});

test("a rebuild's fill over more documents than its bound writes them out as it goes, and ends the same", async () => {
  const { writes, rebuilt, live } = await rebuild(4);
  // Each page of 7 touches all six counters, past the bound of 4: out after each page (the last page
  // holds four events, four counters); nothing left for the flush.
  expect(writes).toEqual([...Array(8).fill([6]), [4], []]);
  expect(rebuilt).toEqual(live);
  expect(rebuilt.map((d) => d?.version)).toEqual(Array(6).fill("10"));
});
