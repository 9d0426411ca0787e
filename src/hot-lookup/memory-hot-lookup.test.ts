import { expect, test } from "bun:test";
import { MemoryHotLookup } from "./memory-hot-lookup.ts";

const opened = {
  owner: 'Ann "the" Ö\u0000wner',
  currency: "EUR",
  kind: "current",
  balance: "0",
  status: "open",
};

test("writes apply in version order only: applied, duplicate, gap; fields merge into the document", async () => {
  const hot = new MemoryHotLookup();
  expect(await hot.applyMany([{ key: "a:1", version: 2, fields: { balance: "5" } }])).toEqual([
    { status: "gap", current: 0 },
  ]);
  expect(
    await hot.applyMany([
      { key: "a:1", version: 1, fields: opened },
      { key: "a:1", version: 2, fields: { balance: "5" } },
      { key: "a:1", version: 2, fields: { balance: "9" } },
      { key: "a:2", version: 1, fields: { status: "closed" } },
    ]),
  ).toEqual([
    { status: "applied", current: 1 },
    { status: "applied", current: 2 },
    { status: "duplicate", current: 2 },
    { status: "applied", current: 1 },
  ]);
  // Whatever the values hold (quotes, NUL, non-ASCII), they come back as written.
  expect(await hot.get("a:1")).toEqual({ ...opened, balance: "5", version: "2" });
  expect(await hot.get("a:2")).toEqual({ status: "closed", version: "1" });
  expect(await hot.get("a:3")).toBeUndefined();
});

test("a reader waiting for a version is answered when it is applied, or undefined at its deadline", async () => {
  const hot = new MemoryHotLookup();
  const waiting = hot.waitForVersion("a:1", 1, 5_000);
  await hot.applyMany([{ key: "a:1", version: 1, fields: opened }]);
  expect(await waiting).toEqual({ ...opened, version: "1" });
  expect(await hot.waitForVersion("a:1", 2, 1)).toBeUndefined();
});

test("keys by prefix: any and clear", async () => {
  const hot = new MemoryHotLookup();
  await hot.applyMany([
    { key: "gen1:a", version: 1, fields: opened },
    { key: "gen2:a", version: 1, fields: opened },
  ]);
  expect([await hot.any("gen1:"), await hot.any("gen3:")]).toEqual([true, false]);
  await hot.clear("gen1:");
  expect([await hot.get("gen1:a"), await hot.any("gen1:"), (await hot.get("gen2:a"))?.version]).toEqual([
    undefined,
    false,
    "1",
  ]);
});
