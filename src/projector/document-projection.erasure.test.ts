import { describe, expect, test } from "bun:test";
import { MemoryHotLookup } from "../hot-lookup/memory-hot-lookup.ts";
import { ERASED } from "../privacy/personal-data.ts";
import { SUBJECT_ERASED, SUBJECT_TYPE } from "../privacy/subject-stream.ts";
import { event } from "../store/conformance/support.ts";
import type { EventEnvelope, NewEvent } from "../store/envelope.ts";
import { MemoryStore } from "../store/memory/memory-store.ts";
import { DocumentKeys, documentProjection } from "./document-projection.ts";

/** The log: a and b opened, then a erased, then a deposit to a (read `[erased]`, as after an erasure). */
const log = async () => {
  const store = new MemoryStore();
  const append = async (streamId: string, aggregateType: string, expectedVersion: number, e: NewEvent) => {
    const result = await store.append({ streamId, aggregateType, expectedVersion, events: [e] });
    if (!result.ok) throw new Error(`the fixture's append to ${streamId} was refused`);
  };
  await append("account-a", "account", 0, event("AccountOpened", { owner: "X", currency: "EUR" }));
  await append("account-b", "account", 0, event("AccountOpened", { owner: "Y", currency: "EUR" }));
  await append(
    "subject-a",
    SUBJECT_TYPE,
    0,
    event(SUBJECT_ERASED, {
      subjectId: "a",
      erasedAt: "2024-01-01T00:00:00.000Z",
      erasedBy: "admin",
      reason: "r",
    }),
  );
  await append(
    "account-a",
    "account",
    1,
    event("MoneyDeposited", { amount: 5, balance: 5, reference: ERASED }),
  );
  const [openedA, openedB, erasedA, depositA] = (await store.readAll(0, 100)) as [
    EventEnvelope,
    EventEnvelope,
    EventEnvelope,
    EventEnvelope,
  ];
  return { store, openedA, openedB, erasedA, depositA };
};

const projectionOver = (
  hot: MemoryHotLookup,
  erasedFields: Record<string, string> | null = { owner: ERASED },
) =>
  documentProjection({
    name: "accounts",
    aggregateType: "account",
    hot,
    keys: new DocumentKeys(hot, "account:", "accounts:"),
    fieldsOf: (e): Record<string, string> => {
      const data = e.data as { owner?: string; balance?: number };
      return e.type === "AccountOpened"
        ? { owner: String(data.owner), balance: "0" }
        : { balance: String(data.balance) };
    },
    ...(erasedFields ? { erasedFields } : {}),
  });

describe("live", () => {
  test("a batch [AccountOpened(X), SubjectErased] leaves the document's owner `[erased]` at version 1; another account untouched", async () => {
    const { store, openedA, openedB, erasedA } = await log();
    const hot = new MemoryHotLookup();
    const projection = projectionOver(hot);
    expect(projection.aggregateTypes).toEqual(["account", SUBJECT_TYPE]);
    await projection.apply([openedB], { store });
    await projection.apply([openedA, erasedA], { store });
    expect(await hot.get("account:a")).toEqual({ owner: ERASED, balance: "0", version: "1" });
    expect(await hot.get("account:b")).toEqual({ owner: "Y", balance: "0", version: "1" });
    // The erasure names no document of its own.
    expect(await hot.any("account:subject")).toBe(false);
    expect(await hot.get("account:a:")).toBeUndefined();
  });

  test("a later batch with the AccountOpened again (a redelivery) does not bring the owner back", async () => {
    const { store, openedA, erasedA, depositA } = await log();
    const hot = new MemoryHotLookup();
    const projection = projectionOver(hot);
    await projection.apply([openedA, erasedA], { store });
    await projection.apply([openedA], { store });
    expect(await hot.get("account:a")).toEqual({ owner: ERASED, balance: "0", version: "1" });
    // The erasure again, and the events after it: still erased, the version moving on.
    await projection.apply([erasedA, depositA], { store });
    await projection.apply([openedA, erasedA], { store });
    expect(await hot.get("account:a")).toEqual({ owner: ERASED, balance: "5", version: "2" });
  });

  test("the erasure in a batch of its own, after the document was written", async () => {
    const { store, openedA, openedB, erasedA } = await log();
    const hot = new MemoryHotLookup();
    const projection = projectionOver(hot);
    await projection.apply([openedA, openedB], { store });
    expect((await hot.get("account:a"))?.owner).toBe("X");
    await projection.apply([erasedA], { store });
    expect(await hot.get("account:a")).toEqual({ owner: ERASED, balance: "0", version: "1" });
    expect(await hot.get("account:b")).toEqual({ owner: "Y", balance: "0", version: "1" });
  });

  test("without erasedFields the projection takes no erasures and blanks nothing", async () => {
    const { store, openedA, erasedA } = await log();
    const hot = new MemoryHotLookup();
    const projection = projectionOver(hot, null);
    expect(projection.aggregateTypes).toEqual(["account"]);
    await projection.apply([openedA, erasedA], { store });
    expect(await hot.get("account:a")).toEqual({ owner: "X", balance: "0", version: "1" });
  });
});

describe("a rebuild's fill", () => {
  /** Fills a new generation with `pages`, flushes, switches to it: the documents it then serves. */
  const rebuild = async (pages: (events: Awaited<ReturnType<typeof log>>) => EventEnvelope[][]) => {
    const fixture = await log();
    const { store } = fixture;
    const hot = new MemoryHotLookup();
    const keys = new DocumentKeys(hot, "account:", "accounts:");
    const projection = projectionOver(hot);
    const generations = projection.generations;
    if (!generations) throw new Error("a document projection has generations");
    const { generation, fill } = await generations.create();
    for (const page of pages(fixture)) await fill.apply(page, { store });
    await fill.flush?.({ store });
    await generations.switchTo(generation);
    const prefix = await keys.current();
    expect(prefix).toBe(`accounts:g${generation}:`);
    return { a: await hot.get(`${prefix}a`), b: await hot.get(`${prefix}b`) };
  };

  test("the erasure in the same page as the event it erases: the document ends `[erased]` at version 1", async () => {
    expect(await rebuild(({ openedA, openedB, erasedA }) => [[openedA, openedB, erasedA]])).toEqual({
      a: { owner: ERASED, balance: "0", version: "1" },
      b: { owner: "Y", balance: "0", version: "1" },
    });
  });

  test("the erasure in a later page than the event it erases: the same", async () => {
    expect(await rebuild(({ openedA, openedB, erasedA }) => [[openedA], [openedB], [erasedA]])).toEqual({
      a: { owner: ERASED, balance: "0", version: "1" },
      b: { owner: "Y", balance: "0", version: "1" },
    });
  });

  test("events after the erasure still apply on top, the owner kept erased; and the whole log in one page", async () => {
    const after = {
      a: { owner: ERASED, balance: "5", version: "2" },
      b: { owner: "Y", balance: "0", version: "1" },
    };
    expect(
      await rebuild(({ openedA, openedB, erasedA, depositA }) => [
        [openedA, openedB],
        [erasedA, depositA],
      ]),
    ).toEqual(after);
    expect(
      await rebuild(({ openedA, openedB, erasedA, depositA }) => [[openedA, openedB, erasedA, depositA]]),
    ).toEqual(after);
  });
});
