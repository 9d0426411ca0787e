import { expect, test } from "bun:test";
import { ERASED_FINGERPRINT } from "../runtime/command.ts";
import type { EventEnvelope } from "../store/envelope.ts";
import { newDataKey, unwrapKey, wrapKey } from "./cipher.ts";
import { type LegacySealing, sealLegacyEvent, sealLegacyOutcome } from "./legacy.ts";
import { MemorySubjectKeys } from "./memory-subject-keys.ts";
import { ERASED, PersonalData } from "./personal-data.ts";

const account = {
  type: "account",
  personalData: {
    events: { AccountOpened: ["owner"], MoneyDeposited: ["reference"] },
    state: ["owner"],
  },
};

const OWNER = 'Zoë "Zed" \u2603';

/** Keys made in a key store, as the migration makes them, and a PersonalData reading through the same store. */
const setup = async (subjects: readonly string[]) => {
  const store = new MemorySubjectKeys();
  const master = newDataKey();
  const made = await store.keys(subjects, (id) => wrapKey(master, id, newDataKey()));
  const keys = new Map<string, Uint8Array>();
  for (const [id, key] of made) if (key.state === "live") keys.set(id, unwrapKey(master, id, key.wrapped));
  const sealing: LegacySealing = { specs: { account: account.personalData }, keys, erased: new Set() };
  return { sealing, personal: new PersonalData(store, master, [account]) };
};

const envelope = (streamId: string, type: string, data: unknown, version = 1): EventEnvelope => ({
  eventId: crypto.randomUUID(),
  streamId,
  aggregateType: "account",
  type,
  version,
  schemaVersion: 1,
  time: "2024-01-01T00:00:00.000Z",
  data,
  metadata: { commandId: "c", correlationId: "c", causationId: "c" },
  position: version,
});

const sealed = (value: unknown) => expect(value).toEqual({ $sealed: expect.stringMatching(/^v1\./) });

test("a legacy event has only the declared fields of its declared type sealed, its JSON key order kept", async () => {
  const { sealing } = await setup(["a"]);
  const data = { currency: "EUR", owner: OWNER, kind: "current", reference: "not personal here" };
  const text = sealLegacyEvent(sealing, "account", "account-a", "AccountOpened", JSON.stringify(data));
  expect(text).toBeString();
  expect(text).not.toContain("Zoë");
  const parsed = JSON.parse(text as string) as Record<string, unknown>;
  expect(Object.keys(parsed)).toEqual(["currency", "owner", "kind", "reference"]);
  sealed(parsed.owner);
  // `reference` is personal only in MoneyDeposited.
  expect(parsed).toMatchObject({ currency: "EUR", kind: "current", reference: "not personal here" });

  const deposit = { amount: 5, reference: "invoice 7", balance: 5 };
  const sealedDeposit = JSON.parse(
    sealLegacyEvent(sealing, "account", "account-a", "MoneyDeposited", JSON.stringify(deposit)) as string,
  ) as Record<string, unknown>;
  expect(Object.keys(sealedDeposit)).toEqual(["amount", "reference", "balance"]);
  sealed(sealedDeposit.reference);
  expect(sealedDeposit).toMatchObject({ amount: 5, balance: 5 });
});

test("nothing to seal: undefined (undeclared type or aggregate, no personal value, no key, not a record, sealed already)", async () => {
  const { sealing } = await setup(["a"]);
  const seal = (aggregateType: string, streamId: string, type: string, data: unknown) =>
    sealLegacyEvent(sealing, aggregateType, streamId, type, JSON.stringify(data));
  expect(seal("account", "account-a", "AccountClosed", { owner: "Ann" })).toBeUndefined();
  expect(seal("transfer", "transfer-a", "AccountOpened", { owner: "Ann" })).toBeUndefined();
  expect(seal("account", "account-a", "MoneyDeposited", { amount: 5, balance: 5 })).toBeUndefined();
  expect(seal("account", "account-z", "AccountOpened", { owner: "Ann" })).toBeUndefined();
  expect(seal("account", "account-a", "AccountOpened", ["Ann"])).toBeUndefined();
  expect(seal("account", "account-a", "AccountOpened", "Ann")).toBeUndefined();
  // A second migration changes nothing: what is sealed is not sealed again.
  const once = seal("account", "account-a", "AccountOpened", { owner: "Ann" });
  expect(once).toBeString();
  expect(sealLegacyEvent(sealing, "account", "account-a", "AccountOpened", once as string)).toBeUndefined();
});

test("legacy events open with PersonalData.openEvents under the same keys, and read `[erased]` once erased", async () => {
  const { sealing, personal } = await setup(["a", "b"]);
  const rows = [
    { streamId: "account-a", type: "AccountOpened", data: { owner: OWNER, currency: "EUR" } },
    { streamId: "account-a", type: "MoneyDeposited", data: { amount: 5, reference: "inv", balance: 5 } },
    { streamId: "account-b", type: "AccountOpened", data: { owner: "Bea", currency: "USD" } },
  ];
  const stored = rows.map((row, i) => {
    const text = sealLegacyEvent(sealing, "account", row.streamId, row.type, JSON.stringify(row.data));
    expect(text).toBeString();
    return envelope(row.streamId, row.type, JSON.parse(text as string), i + 1);
  });
  const opened = await personal.openEvents(stored);
  expect(opened.map((e) => e.data)).toEqual(rows.map((r) => r.data));
  expect(opened.map((e) => Object.keys(e.data as object))).toEqual(rows.map((r) => Object.keys(r.data)));

  await personal.erase("a", "admin", "asked");
  const erased = await personal.openEvents(stored);
  expect(erased.map((e) => [e.data, e.erased])).toEqual([
    [{ owner: ERASED, currency: "EUR" }, ["owner"]],
    [{ amount: 5, reference: ERASED, balance: 5 }, ["reference"]],
    [{ owner: "Bea", currency: "USD" }, undefined],
  ]);
});

test("a legacy outcome has its state's owner sealed under the outcome's id; it opens with openOutcome", async () => {
  const { sealing, personal } = await setup(["a"]);
  const outcome = {
    kind: "accepted",
    id: "a",
    version: 3,
    state: { balance: 10, owner: OWNER, status: "open" },
  };
  const result = sealLegacyOutcome(sealing, JSON.stringify(outcome), "f");
  const text = result?.outcome;
  expect(text).toBeString();
  // The fingerprint hashes the request, personal fields and all: sealed too.
  expect(result?.fingerprint).toStartWith("sealed:v1.");
  expect(text).not.toContain("Zoë");
  const parsed = JSON.parse(text as string) as { state: Record<string, unknown> };
  expect(Object.keys(parsed)).toEqual(["kind", "id", "version", "state"]);
  expect(Object.keys(parsed.state)).toEqual(["balance", "owner", "status"]);
  sealed(parsed.state.owner);
  // Under the subject `a`: its name is in the sealed value.
  expect(
    (parsed.state.owner as { $sealed: string }).$sealed.startsWith(
      `v1.${Buffer.from("a").toString("base64url")}.`,
    ),
  ).toBe(true);
  expect(parsed).toMatchObject({
    kind: "accepted",
    id: "a",
    version: 3,
    state: { balance: 10, status: "open" },
  });

  const stored = { key: "k", fingerprint: result?.fingerprint ?? "", outcome: parsed };
  expect(await personal.openOutcome(stored)).toEqual({ key: "k", fingerprint: "f", outcome });
  await personal.erase("a", "admin", "asked");
  const afterwards = await personal.openOutcome(stored);
  expect(afterwards?.outcome).toEqual({ ...outcome, state: { ...outcome.state, owner: ERASED } });
  expect(afterwards?.fingerprint).toBe(ERASED_FINGERPRINT);
});

test("a legacy outcome that names no live or erased subject: undefined; one that does has its fingerprint sealed", async () => {
  const { sealing } = await setup(["a"]);
  const seal = (outcome: unknown) => sealLegacyOutcome(sealing, JSON.stringify(outcome), "f");
  expect(seal({ kind: "rejected", code: "conflict", detail: "no" })).toBeUndefined();
  expect(seal({ kind: "accepted", id: "z", version: 1, state: { owner: "Ann" } })).toBeUndefined();
  expect(seal({ kind: "accepted", id: 7, version: 1, state: { owner: "Ann" } })).toBeUndefined();
  expect(seal(null)).toBeUndefined();
  const unchanged = seal({ kind: "accepted", id: "a", version: 1, state: { balance: 1 } });
  expect(unchanged?.outcome).toBe(
    JSON.stringify({ kind: "accepted", id: "a", version: 1, state: { balance: 1 } }),
  );
  expect(unchanged?.fingerprint).toStartWith("sealed:v1.");
  const once = seal({ kind: "accepted", id: "a", version: 1, state: { owner: "Ann" } });
  const twice = once && sealLegacyOutcome(sealing, once.outcome, once.fingerprint);
  expect(twice).toEqual(once);
});

test("a subject erased before the migration (an old backup restored): its values sealed as nothing, never left", () => {
  const sealing: LegacySealing = {
    specs: { account: account.personalData },
    keys: new Map(),
    erased: new Set(["gone"]),
  };
  const event = sealLegacyEvent(
    sealing,
    "account",
    "account-gone",
    "AccountOpened",
    JSON.stringify({ owner: OWNER }),
  );
  expect(event).toBeString();
  expect(event).not.toContain("Zoë");
  expect(event).toContain(".erased");
  const outcome = sealLegacyOutcome(
    sealing,
    JSON.stringify({ kind: "accepted", id: "gone", version: 1, state: { owner: OWNER } }),
    "f",
  );
  expect(outcome?.outcome).not.toContain("Zoë");
  expect(outcome?.fingerprint).toEndWith(".erased");
});
