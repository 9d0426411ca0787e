import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { streamIdOf } from "../aggregate.ts";
import { event } from "../store/conformance/support.ts";
import type { EventEnvelope, NewEvent } from "../store/envelope.ts";
import { MemoryStore } from "../store/memory/memory-store.ts";
import { newDataKey } from "./cipher.ts";
import { MemorySubjectKeys } from "./memory-subject-keys.ts";
import { ERASED, PersonalData, type PersonalDataOptions, personalFieldsOf } from "./personal-data.ts";
import { personalDataStore } from "./personal-store.ts";
import { SUBJECT_ERASED, SUBJECT_TYPE } from "./subject-stream.ts";

const account = {
  type: "account",
  personalData: {
    events: { AccountOpened: ["owner"], MoneyDeposited: ["reference"] },
    state: ["owner"],
  },
};

const opened = (owner: unknown) => event("AccountOpened", { owner, currency: "EUR", kind: "current" });
const deposited = (amount: number, balance: number, reference?: string) =>
  event("MoneyDeposited", {
    amount,
    currency: "EUR",
    ...(reference === undefined ? {} : { reference }),
    balance,
  });

/** A store sealing through one PersonalData; `raw` is what is stored. */
const setup = (options: PersonalDataOptions = {}) => {
  const keys = new MemorySubjectKeys();
  const master = newDataKey();
  const personal = new PersonalData(keys, master, [account], options);
  const raw = new MemoryStore();
  const store = personalDataStore(raw, personal);
  return { keys, master, personal, raw, store };
};

const OWNER = 'Zoë "Zed" O\'Brien \u2603';
const REFERENCE = "invoice 42 for Zoë";

/** Every way the text could show in stored JSON: as is, and JSON-escaped. */
const leaks = (stored: unknown, ...plaintexts: string[]) => {
  const json = JSON.stringify(stored);
  return [...plaintexts, "Zoë", "Zed", "invoice"].filter(
    (p) => json.includes(p) || json.includes(JSON.stringify(p).slice(1, -1)),
  );
};

const sealedOf = (value: unknown): string => {
  expect(value).toEqual({ $sealed: expect.any(String) });
  return (value as { $sealed: string }).$sealed;
};

const subjectPart = (subjectId: string) => Buffer.from(subjectId, "utf8").toString("base64url");

const ok = async (result: Promise<{ ok: boolean }>) => expect((await result).ok).toBe(true);

/** A field of a record that may be missing (then undefined, and the expectation on it fails). */
const fieldOf = (record: unknown, field: string): unknown =>
  (record as Record<string, unknown> | undefined)?.[field];

const dataOf = (events: readonly EventEnvelope[]) => events.map((e) => e.data);

describe("sealing appends", () => {
  test("stored events hold no plaintext of personal fields; the rest is untouched, in the same key order", async () => {
    const { raw, store } = setup();
    const events = [opened(OWNER), deposited(100, 100, REFERENCE), deposited(5, 105)];
    await ok(store.append({ streamId: "account-a", aggregateType: "account", expectedVersion: 0, events }));

    const stored = await raw.readAll(0, 100);
    expect(stored).toHaveLength(3);
    expect(leaks(stored, OWNER, REFERENCE)).toEqual([]);
    for (const [i, envelope] of stored.entries()) {
      const original = events[i]?.data as Record<string, unknown>;
      const data = envelope.data as Record<string, unknown>;
      expect(Object.keys(data)).toEqual(Object.keys(original));
      expect(data.amount).toEqual(original.amount);
      expect(data.currency).toEqual(original.currency);
      expect(data.balance).toEqual(original.balance);
    }
    const [openedData, depositData, plainDeposit] = dataOf(stored) as Record<string, unknown>[];
    expect(sealedOf(openedData?.owner).startsWith(`v1.${subjectPart("a")}.`)).toBe(true);
    expect(sealedOf(depositData?.reference).startsWith(`v1.${subjectPart("a")}.`)).toBe(true);
    expect(sealedOf(depositData?.reference).endsWith(".erased")).toBe(false);
    // A deposit without a reference has nothing to seal: stored as it came.
    expect(plainDeposit).toEqual(events[2]?.data as Record<string, unknown>);
  });

  test("reads through the wrapped store give back exactly the data appended, with no `erased`", async () => {
    const { store } = setup();
    const events = [opened(OWNER), deposited(100, 100, REFERENCE), deposited(5, 105)];
    await ok(store.append({ streamId: "account-a", aggregateType: "account", expectedVersion: 0, events }));
    const expected = events.map((e) => e.data);
    const all = await store.readAll(0, 100);
    expect(dataOf(all)).toEqual(expected);
    expect(all.map((e) => Object.keys(e.data as object))).toEqual(
      expected.map((d) => Object.keys(d as object)),
    );
    expect(all.some((e) => "erased" in e)).toBe(false);
    expect(dataOf(await store.readStream("account-a"))).toEqual(expected);
    expect(dataOf(await store.readStream("account-a", { after: 1, upTo: 2 }))).toEqual([expected[1]]);
  });

  test("an append with no personal value makes no key for its subject", async () => {
    const { keys, raw, store } = setup();
    const events = [deposited(5, 5), deposited(7, 12)];
    await ok(store.append({ streamId: "account-b", aggregateType: "account", expectedVersion: 0, events }));
    expect((await keys.keys(["b"])).size).toBe(0);
    expect(dataOf(await raw.readAll(0, 10))).toEqual(events.map((e) => e.data));
    expect(dataOf(await store.readAll(0, 10))).toEqual(events.map((e) => e.data));
    // A personal value then makes it.
    await ok(
      store.append({
        streamId: "account-b",
        aggregateType: "account",
        expectedVersion: 2,
        events: [deposited(1, 13, "ref")],
      }),
    );
    expect((await keys.keys(["b"])).get("b")?.state).toBe("live");
  });

  test("other aggregate types pass through untouched", async () => {
    const { keys, raw, store } = setup();
    const events = [event("TransferStarted", { owner: "Ann", reference: "r" })];
    await ok(store.append({ streamId: "transfer-t", aggregateType: "transfer", expectedVersion: 0, events }));
    expect(dataOf(await raw.readAll(0, 10))).toEqual([{ owner: "Ann", reference: "r" }]);
    expect((await keys.keys(["t"])).size).toBe(0);
  });

  test("personalFieldsOf: every field any event declares, once", () => {
    expect(personalFieldsOf(account)).toEqual(["owner", "reference"]);
    expect(personalFieldsOf({})).toEqual([]);
  });
});

const outcome = (key: string, owner: unknown, balance: number) => ({
  key,
  fingerprint: `fp-${key}`,
  outcome: { kind: "accepted", id: "a", version: 1, state: { owner, balance } },
});

describe("outcomes and snapshots", () => {
  test("an outcome's state is stored with its owner sealed; findOutcome through the wrapper opens it", async () => {
    const { raw, store } = setup();
    const kept = outcome("k1", OWNER, 0);
    await ok(
      store.append({
        streamId: "account-a",
        aggregateType: "account",
        expectedVersion: 0,
        events: [opened(OWNER)],
        outcomes: [kept],
      }),
    );
    const stored = await raw.findOutcome("k1");
    expect(leaks(stored, OWNER)).toEqual([]);
    const state = fieldOf(stored?.outcome, "state") as Record<string, unknown>;
    expect(sealedOf(state.owner).startsWith(`v1.${subjectPart("a")}.`)).toBe(true);
    expect(state.balance).toBe(0);
    expect(Object.keys(state)).toEqual(["owner", "balance"]);
    expect(await store.findOutcome("k1")).toEqual(kept);
    expect(await store.findOutcome("nope")).toBeUndefined();
  });

  test("a snapshot is stored with its state's owner sealed; loadSnapshot through the wrapper opens it", async () => {
    const { raw, store } = setup();
    const snapshot = {
      streamId: "account-a",
      version: 3,
      snapshotVersion: 1,
      state: { owner: OWNER, balance: 9 },
    };
    await store.saveSnapshot(snapshot);
    const stored = await raw.loadSnapshot("account-a");
    expect(leaks(stored, OWNER)).toEqual([]);
    const state = stored?.state as Record<string, unknown>;
    expect(sealedOf(state.owner).startsWith(`v1.${subjectPart("a")}.`)).toBe(true);
    expect(state.balance).toBe(9);
    expect(await store.loadSnapshot("account-a")).toEqual(snapshot);
    expect(await store.loadSnapshot("account-x")).toBeUndefined();
  });
});

/** Subject `a` with every kind of personal value stored, and subject `b` beside it. */
const populated = async () => {
  const told: { subjectId: string; field: string; why: string }[] = [];
  const parts = {
    ...setup({ onUnreadable: (subjectId, field, why) => told.push({ subjectId, field, why }) }),
    told,
  };
  const { store } = parts;
  await ok(
    store.append({
      streamId: "account-a",
      aggregateType: "account",
      expectedVersion: 0,
      events: [opened(OWNER), deposited(100, 100, REFERENCE), deposited(5, 105)],
      outcomes: [outcome("ka", OWNER, 105)],
    }),
  );
  await ok(
    store.append({
      streamId: "account-b",
      aggregateType: "account",
      expectedVersion: 0,
      events: [opened("Bea")],
    }),
  );
  await store.saveSnapshot({
    streamId: "account-a",
    version: 3,
    snapshotVersion: 1,
    state: { owner: OWNER, balance: 105 },
  });
  return parts;
};

describe("erasure", () => {
  test("afterwards every read shows `[erased]` for the personal fields, named in `erased`; the rest unchanged", async () => {
    const { personal, store } = await populated();
    const at = new Date("2024-05-06T07:08:09.000Z");
    const record = await personal.erase("a", "admin@example", "GDPR art. 17", at);
    expect(record).toEqual({
      subjectId: "a",
      erasedAt: "2024-05-06T07:08:09.000Z",
      erasedBy: "admin@example",
      reason: "GDPR art. 17",
    });

    const expectedA = [
      {
        data: { owner: ERASED, currency: "EUR", kind: "current" },
        erased: ["owner"],
        version: 1,
      },
      {
        data: { amount: 100, currency: "EUR", reference: ERASED, balance: 100 },
        erased: ["reference"],
        version: 2,
      },
      { data: { amount: 5, currency: "EUR", balance: 105 }, erased: undefined, version: 3 },
    ];
    const shape = (events: readonly EventEnvelope[]) =>
      events.map((e) => ({ data: e.data, erased: e.erased, version: e.version }));
    expect(shape(await store.readStream("account-a"))).toEqual(expectedA);
    const all = await store.readAll(0, 100);
    expect(shape(all.filter((e) => e.streamId === "account-a"))).toEqual(expectedA);
    // Key order kept, erased or not.
    expect(Object.keys(all[1]?.data as object)).toEqual(["amount", "currency", "reference", "balance"]);
    // Another subject is untouched.
    expect(shape(all.filter((e) => e.streamId === "account-b"))).toEqual([
      { data: { owner: "Bea", currency: "EUR", kind: "current" }, erased: undefined, version: 1 },
    ]);
    expect((await store.findOutcome("ka"))?.outcome).toEqual({
      kind: "accepted",
      id: "a",
      version: 1,
      state: { owner: ERASED, balance: 105 },
    });
    expect(await store.loadSnapshot("account-a")).toEqual({
      streamId: "account-a",
      version: 3,
      snapshotVersion: 1,
      state: { owner: ERASED, balance: 105 },
    });
  });

  test("a new append for an erased subject stores its value sealed as nothing and reads `[erased]`", async () => {
    const { personal, raw, store } = await populated();
    await personal.erase("a", "admin", "asked");
    const after = deposited(1, 106, "a reference after the erasure");
    await ok(
      store.append({ streamId: "account-a", aggregateType: "account", expectedVersion: 3, events: [after] }),
    );
    const [stored] = await raw.readStream("account-a", { after: 3 });
    expect(JSON.stringify(stored)).not.toContain("a reference after the erasure");
    expect(fieldOf(stored?.data, "reference")).toEqual({
      $sealed: `v1.${subjectPart("a")}.erased`,
    });
    const [read] = await store.readStream("account-a", { after: 3 });
    expect(read?.data).toEqual({ amount: 1, currency: "EUR", reference: ERASED, balance: 106 });
    expect(read?.erased).toEqual(["reference"]);
    // So does a snapshot or an outcome saved after it.
    await store.saveSnapshot({
      streamId: "account-a",
      version: 4,
      snapshotVersion: 1,
      state: { owner: "Z" },
    });
    expect(fieldOf((await raw.loadSnapshot("account-a"))?.state, "owner")).toEqual({
      $sealed: `v1.${subjectPart("a")}.erased`,
    });
    expect((await store.loadSnapshot("account-a"))?.state).toEqual({ owner: ERASED });
  });

  test("erasing again answers the first record; a subject never seen answers undefined", async () => {
    const { keys, personal } = await populated();
    const first = await personal.erase("a", "admin", "first", new Date("2024-01-01T00:00:00.000Z"));
    const again = await personal.erase("a", "someone else", "second", new Date("2025-01-01T00:00:00.000Z"));
    expect(again).toEqual(first);
    expect(again?.reason).toBe("first");
    expect(await personal.erase("never-seen", "admin", "why")).toBeUndefined();
    // And nothing was kept for it: it is still unknown to the key store.
    expect((await keys.keys(["never-seen"])).size).toBe(0);
  });
});

describe("a sealed value is bound to its subject and field", () => {
  const stored = async () => {
    const parts = await populated();
    const events = await parts.raw.readAll(0, 100);
    return { ...parts, events };
  };
  const withData = (envelope: EventEnvelope | undefined, data: Record<string, unknown>): EventEnvelope => {
    if (!envelope) throw new Error("no such event");
    return { ...envelope, data: { ...(envelope.data as object), ...data } };
  };

  /** A read of one event: the field reads `[erased]`, is named in `erased`, and never shows a value. */
  const unreadableIn = async (read: Promise<EventEnvelope[]>, field: string) => {
    const [event] = await read;
    if (!event) throw new Error("no event read");
    expect((event.data as Record<string, unknown>)[field]).toBe(ERASED);
    expect(event.erased).toContain(field);
  };

  test("moved to another field, it does not open: it reads as erased and is reported, never as the value", async () => {
    const { events, personal, told } = await stored();
    const [openedA, depositA] = events;
    const owner = fieldOf(openedA?.data, "owner");
    const reference = fieldOf(depositA?.data, "reference");
    // The owner's ciphertext in the deposit's `reference`, and the reference's in `owner`.
    await unreadableIn(personal.openEvents([withData(depositA, { reference: owner })]), "reference");
    await unreadableIn(personal.openEvents([withData(openedA, { owner: reference })]), "owner");
    // The same in a snapshot's state: a field it was not sealed for.
    const snapshot = await personal.openSnapshot({
      streamId: "account-a",
      version: 1,
      snapshotVersion: 1,
      state: { name: owner },
    });
    expect(snapshot?.state).toEqual({ name: ERASED });
    expect(told.map((t) => t.field)).toEqual(["reference", "owner", "name"]);
    // Untampered, both open.
    expect(dataOf(await personal.openEvents([openedA as EventEnvelope, depositA as EventEnvelope]))).toEqual([
      { owner: OWNER, currency: "EUR", kind: "current" },
      { amount: 100, currency: "EUR", reference: REFERENCE, balance: 100 },
    ]);
  });

  test("its ciphertext moved under another subject does not open: erased, reported, never the value", async () => {
    const { events, personal, told } = await stored();
    const openedA = events.find((e) => e.streamId === "account-a");
    const openedB = events.find((e) => e.streamId === "account-b");
    const sealedA = sealedOf(fieldOf(openedA?.data, "owner"));
    const tokenA = sealedA.slice(sealedA.lastIndexOf(".") + 1);
    // The ciphertext of a's owner, in b's event, named as b's.
    const moved = { $sealed: `v1.${subjectPart("b")}.${tokenA}` };
    await unreadableIn(personal.openEvents([withData(openedB, { owner: moved })]), "owner");
    // b's own value, named as a's: neither.
    const sealedB = sealedOf(fieldOf(openedB?.data, "owner"));
    const tokenB = sealedB.slice(sealedB.lastIndexOf(".") + 1);
    await unreadableIn(
      personal.openEvents([withData(openedA, { owner: { $sealed: `v1.${subjectPart("a")}.${tokenB}` } })]),
      "owner",
    );
    expect(told.map((t) => t.subjectId)).toEqual(["b", "a"]);
  });

  test("moved whole into another subject's event, outcome or snapshot, it does not open there either", async () => {
    const { events, personal, told } = await stored();
    const openedA = events.find((e) => e.streamId === "account-a");
    const openedB = events.find((e) => e.streamId === "account-b");
    const ownerA = fieldOf(openedA?.data, "owner");
    await unreadableIn(personal.openEvents([withData(openedB, { owner: ownerA })]), "owner");
    const outcome = await personal.openOutcome({
      key: "k",
      fingerprint: "f",
      outcome: { kind: "accepted", id: "b", version: 1, state: { owner: ownerA } },
    });
    expect(outcome?.outcome).toEqual({ kind: "accepted", id: "b", version: 1, state: { owner: ERASED } });
    const snapshot = await personal.openSnapshot({
      streamId: "account-b",
      version: 1,
      snapshotVersion: 1,
      state: { owner: ownerA },
    });
    expect(snapshot?.state).toEqual({ owner: ERASED });
    expect(told).toHaveLength(3);
  });

  test("altered ciphertext does not open either", async () => {
    const { events, personal, told } = await stored();
    const [openedA] = events;
    const sealed = sealedOf(fieldOf(openedA?.data, "owner"));
    const cut = sealed.slice(0, sealed.lastIndexOf(".") + 1);
    const token = sealed.slice(cut.length);
    const bytes = Buffer.from(token, "base64url");
    bytes[5] = (bytes[5] ?? 0) ^ 1;
    const altered = { $sealed: `${cut}${bytes.toString("base64url")}` };
    await unreadableIn(personal.openEvents([withData(openedA, { owner: altered })]), "owner");
    expect(told).toEqual([{ subjectId: "a", field: "owner", why: expect.stringContaining("does not open") }]);
  });

  test("a page with one value that does not open reads whole: the others open", async () => {
    const { events, personal } = await stored();
    const openedA = events.find((e) => e.streamId === "account-a");
    const openedB = events.find((e) => e.streamId === "account-b");
    const page = await personal.openEvents([
      withData(openedB, { owner: fieldOf(openedA?.data, "owner") }),
      openedA as EventEnvelope,
    ]);
    expect(page.map((e) => (e.data as { owner: unknown }).owner)).toEqual([ERASED, OWNER]);
  });
});

describe("round trip", () => {
  test("any JSON value as owner, sealed then opened, reads back exactly (as JSON holds it)", async () => {
    const { raw, store } = setup();
    let n = 0;
    const owners = fc.oneof(
      fc.string({ unit: "grapheme" }),
      fc.string({ unit: "binary" }),
      fc.constantFrom('"', "\\", "'\"\\u0000", "\u0000", "\u{1F600}", "[erased]", "", "v1.abc"),
      fc.jsonValue(),
    );
    await fc.assert(
      fc.asyncProperty(owners, async (owner) => {
        n += 1;
        const streamId = `account-p${n}`;
        const kept = outcome(`kp${n}`, owner, n);
        await ok(
          store.append({
            streamId,
            aggregateType: "account",
            expectedVersion: 0,
            events: [opened(owner)],
            outcomes: [kept],
          }),
        );
        await store.saveSnapshot({ streamId, version: 1, snapshotVersion: 1, state: { owner } });
        const expected: unknown = JSON.parse(JSON.stringify(owner));
        const [storedEvent] = await raw.readStream(streamId);
        sealedOf(fieldOf(storedEvent?.data, "owner"));
        const [read] = await store.readStream(streamId);
        expect(fieldOf(read?.data, "owner")).toEqual(expected);
        expect(read?.erased).toBeUndefined();
        const state = fieldOf((await store.findOutcome(`kp${n}`))?.outcome, "state");
        expect(fieldOf(state, "owner")).toEqual(expected);
        expect(fieldOf((await store.loadSnapshot(streamId))?.state, "owner")).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});

describe("the seal-side key cache", () => {
  test("an erasure through the same PersonalData drops its cached key at once", async () => {
    let now = 1_000_000;
    const { personal, raw, store } = setup({ sealCacheMs: 60_000, now: () => now });
    await ok(
      store.append({
        streamId: "account-c",
        aggregateType: "account",
        expectedVersion: 0,
        events: [opened("Cy")],
      }),
    );
    await personal.erase("c", "admin", "asked");
    now += 1;
    await ok(
      store.append({
        streamId: "account-c",
        aggregateType: "account",
        expectedVersion: 1,
        events: [deposited(1, 1, "after")],
      }),
    );
    const [stored] = await raw.readStream("account-c", { after: 1 });
    expect(fieldOf(stored?.data, "reference")).toEqual({
      $sealed: `v1.${subjectPart("c")}.erased`,
    });
    expect(JSON.stringify(stored)).not.toContain("after");
  });

  test("another PersonalData that sealed before the erasure seals under its cached key until it expires; what it sealed never opens", async () => {
    let now = 1_000_000;
    const keys = new MemorySubjectKeys();
    const master = newDataKey();
    const raw = new MemoryStore();
    const options = { sealCacheMs: 1_000, now: () => now };
    const eraser = new PersonalData(keys, master, [account], options);
    const other = new PersonalData(keys, master, [account], options);
    const viaEraser = personalDataStore(raw, eraser);
    const viaOther = personalDataStore(raw, other);
    const append = (expectedVersion: number, ...events: NewEvent[]) =>
      ok(viaOther.append({ streamId: "account-d", aggregateType: "account", expectedVersion, events }));

    await append(0, opened("Dee"));
    await eraser.erase("d", "admin", "asked");

    // Within its cache: sealed under the key erased meanwhile (a real ciphertext, not nothing).
    now += 999;
    await append(1, deposited(1, 1, "sealed under a destroyed key"));
    const [late] = await raw.readStream("account-d", { after: 1 });
    const sealed = sealedOf(fieldOf(late?.data, "reference"));
    expect(sealed.endsWith(".erased")).toBe(false);
    expect(JSON.stringify(late)).not.toContain("destroyed key");
    // ...which no reader can open, through either instance: the key store says erased.
    for (const store of [viaOther, viaEraser]) {
      const read = await store.readStream("account-d");
      expect(read.map((e) => e.erased)).toEqual([["owner"], ["reference"]]);
      expect(fieldOf(read[1]?.data, "reference")).toBe(ERASED);
    }

    // Once the cache expires, it seals nothing.
    now += 2;
    await append(2, deposited(2, 3, "after the cache expired"));
    const [expired] = await raw.readStream("account-d", { after: 2 });
    expect(fieldOf(expired?.data, "reference")).toEqual({
      $sealed: `v1.${subjectPart("d")}.erased`,
    });
    expect(JSON.stringify(expired)).not.toContain("after the cache expired");
  });
});

describe("the projections' shared opener", () => {
  /** Two subjects' events as stored, a PersonalData reading them, and how many key look-ups it made. */
  const stored = async () => {
    let now = 1_000_000;
    const keys = new MemorySubjectKeys();
    const lookUps: string[][] = [];
    const counting: MemorySubjectKeys = Object.assign(Object.create(keys), {
      keys: (ids: readonly string[], create?: (id: string) => Uint8Array) => {
        if (!create) lookUps.push([...ids]);
        return keys.keys(ids, create);
      },
    });
    const master = newDataKey();
    const personal = new PersonalData(counting, master, [account], { now: () => now });
    /** Another process's, sharing the key store: what it erases, this one learns of from the log. */
    const elsewhere = new PersonalData(keys, master, [account], { now: () => now });
    const raw = new MemoryStore();
    const store = personalDataStore(raw, personal);
    for (const [id, owner] of [
      ["a", OWNER],
      ["b", "Bea"],
    ] as const) {
      await ok(
        store.append({
          streamId: `account-${id}`,
          aggregateType: "account",
          expectedVersion: 0,
          events: [opened(owner), deposited(100, 100, `${REFERENCE} ${id}`)],
        }),
      );
    }
    lookUps.length = 0;
    return { personal, elsewhere, raw, store, lookUps, later: (ms: number) => (now += ms) };
  };
  const erasure = (subjectId: string): EventEnvelope => ({
    ...event(SUBJECT_ERASED, { subjectId }),
    streamId: streamIdOf(SUBJECT_TYPE, subjectId),
    aggregateType: SUBJECT_TYPE,
    version: 1,
    position: 99,
    time: new Date().toISOString(),
  });

  test("hands every reader the events as openEvents reads them, opening each once and asking for keys once", async () => {
    const { personal, raw, store, lookUps } = await stored();
    const open = personal.sharedOpener();
    const page = await raw.readAll(0, 100);
    const expected = dataOf(await personal.openEvents(page));
    lookUps.length = 0;
    expect(dataOf(await open(page))).toEqual(expected);
    expect(lookUps).toEqual([["a", "b"]]);
    // A second projection handed the same page (a copy of it, as another queue delivers): no look-up.
    expect(dataOf(await open(structuredClone(page)))).toEqual(expected);
    // A new event of a subject whose key is held: opened without a look-up either.
    await ok(
      store.append({
        streamId: "account-a",
        aggregateType: "account",
        expectedVersion: 2,
        events: [deposited(1, 101, "later")],
      }),
    );
    expect(fieldOf((await open(await raw.readAll(4, 100)))[0]?.data, "reference")).toBe("later");
    expect(lookUps).toEqual([["a", "b"]]);
    expect(expected[1]).toEqual({ amount: 100, currency: "EUR", reference: `${REFERENCE} a`, balance: 100 });
  });

  test("a SubjectErased passing through lets go of its subject at once: the same events then read erased", async () => {
    const { personal, elsewhere, raw } = await stored();
    const open = personal.sharedOpener({ keyMs: 60_000, openedMs: 60_000 });
    const page = await raw.readAll(0, 100);
    await open(page);
    await elsewhere.erase("a", "admin", "asked");
    // Before the erasure reaches this reader, it may still hand out what it opened (its readers blank
    // what they wrote of the subject when it does).
    expect(fieldOf((await open(page))[0]?.data, "owner")).toBe(OWNER);
    const read = await open([erasure("a"), ...page]);
    expect(read.slice(1).map((e) => e.erased)).toEqual([["owner"], ["reference"], undefined, undefined]);
    expect(fieldOf(read[2]?.data, "reference")).toBe(ERASED);
    expect(fieldOf(read[3]?.data, "owner")).toBe("Bea");
    expect(leaks(read.slice(0, 3), OWNER, `${REFERENCE} a`)).toEqual([]);
  });

  test("an erasure made through the same PersonalData lets go at once, before its event passes", async () => {
    const { personal, raw } = await stored();
    const open = personal.sharedOpener({ keyMs: 60_000, openedMs: 60_000 });
    const page = await raw.readAll(0, 100);
    await open(page);
    await personal.erase("a", "admin", "asked");
    const read = await open(page);
    expect(read.map((e) => e.erased)).toEqual([["owner"], ["reference"], undefined, undefined]);
    expect(leaks(read.slice(0, 2), OWNER, `${REFERENCE} a`)).toEqual([]);
  });

  test("without the erasure event, what it kept expires: the key store is asked again and says erased", async () => {
    const { personal, elsewhere, raw, lookUps, later } = await stored();
    const open = personal.sharedOpener({ keyMs: 1_000, openedMs: 2_000 });
    const page = await raw.readAll(0, 100);
    await open(page);
    await elsewhere.erase("a", "admin", "asked");
    later(999);
    expect(fieldOf((await open(page))[0]?.data, "owner")).toBe(OWNER);
    later(1_001);
    const read = await open(page);
    expect(fieldOf(read[0]?.data, "owner")).toBe(ERASED);
    expect(fieldOf(read[2]?.data, "owner")).toBe("Bea");
    expect(lookUps).toEqual([
      ["a", "b"],
      ["a", "b"],
    ]);
  });

  test("a key looked up before an erasure passed through is used for that read only: never kept", async () => {
    const keys = new MemorySubjectKeys();
    /** Each look-up, read at once and answered when the test says so. */
    const held: { answer: () => void }[] = [];
    let asked = Promise.withResolvers<void>();
    const slow: MemorySubjectKeys = Object.assign(Object.create(keys), {
      keys: async (ids: readonly string[], create?: (id: string) => Uint8Array) => {
        const found = await keys.keys(ids, create);
        if (create) return found;
        const answered = Promise.withResolvers<void>();
        held.push({ answer: answered.resolve });
        asked.resolve();
        await answered.promise;
        return found;
      },
    });
    const lookUp = async () => {
      await asked.promise;
      asked = Promise.withResolvers<void>();
      return held.shift();
    };
    const master = newDataKey();
    const personal = new PersonalData(slow, master, [account]);
    const elsewhere = new PersonalData(keys, master, [account]);
    const raw = new MemoryStore();
    await ok(
      personalDataStore(raw, personal).append({
        streamId: "account-a",
        aggregateType: "account",
        expectedVersion: 0,
        events: [opened(OWNER)],
      }),
    );
    const open = personal.sharedOpener({ keyMs: 60_000, openedMs: 60_000 });
    const page = await raw.readAll(0, 100);
    const first = open(page);
    // The key is read (live), then the subject is erased and its erasure passes through before the
    // answer comes back.
    const firstLookUp = await lookUp();
    await elsewhere.erase("a", "admin", "asked");
    await open([erasure("a")]);
    firstLookUp?.answer();
    expect(fieldOf((await first)[0]?.data, "owner")).toBe(OWNER);
    const again = open(page);
    (await lookUp())?.answer();
    expect(fieldOf((await again)[0]?.data, "owner")).toBe(ERASED);
  });

  test("keeps at most `openedEvents` events opened, letting go of the oldest", async () => {
    const { personal, raw, lookUps } = await stored();
    const open = personal.sharedOpener({ openedEvents: 2, keyMs: 0 });
    const page = await raw.readAll(0, 100);
    await open(page);
    lookUps.length = 0;
    // The last two are kept; the first two are opened again, with a look-up of their subject only.
    await open(page.slice(2));
    expect(lookUps).toEqual([]);
    await open(page.slice(0, 2));
    expect(lookUps).toEqual([["a"]]);
  });
});
