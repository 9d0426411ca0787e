import { afterAll, describe, expect, test } from "bun:test";
import type { HotLookup } from "../../src/hot-lookup/hot-lookup.ts";
import { MemoryHotLookup } from "../../src/hot-lookup/memory-hot-lookup.ts";
import { RedisHotLookup } from "../../src/hot-lookup/redis-hot-lookup.ts";
import { fullStack } from "../support/read-side.ts";
import { describeWith } from "../support/servers.ts";

/** The same tests for every hot lookup: each under keys of its own below `prefix`. */
const overwriteTests = (hot: () => HotLookup, prefix: string) => {
  test("overwrite sets fields of an existing document, its version unchanged; versioned writes go on as before", async () => {
    const lookup = hot();
    const key = `${prefix}doc`;
    await lookup.applyMany([{ key, version: 1, fields: { owner: "X", balance: "0", status: "open" } }]);
    await lookup.overwrite(key, { owner: "[erased]" });
    expect(await lookup.get(key)).toEqual({ owner: "[erased]", balance: "0", status: "open", version: "1" });

    // The next version still applies on top of it, and leaves the overwritten field alone.
    expect(await lookup.applyMany([{ key, version: 2, fields: { balance: "5" } }])).toEqual([
      { status: "applied", current: 2 },
    ]);
    expect(await lookup.get(key)).toEqual({ owner: "[erased]", balance: "5", status: "open", version: "2" });

    // A duplicate is still a duplicate: it does not bring the old value back.
    expect(
      await lookup.applyMany([
        { key, version: 1, fields: { owner: "X", balance: "0" } },
        { key, version: 2, fields: { owner: "X", balance: "9" } },
        { key, version: 2, from: 1, fields: { owner: "X", balance: "9" } },
      ]),
    ).toEqual([
      { status: "duplicate", current: 2 },
      { status: "duplicate", current: 2 },
      { status: "duplicate", current: 2 },
    ]);
    // And a gap still a gap.
    expect(await lookup.applyMany([{ key, version: 4, fields: { owner: "X" } }])).toEqual([
      { status: "gap", current: 2 },
    ]);
    expect(await lookup.get(key)).toEqual({ owner: "[erased]", balance: "5", status: "open", version: "2" });
    expect(await lookup.waitForVersion(key, 2, 1)).toEqual({
      owner: "[erased]",
      balance: "5",
      status: "open",
      version: "2",
    });
  });

  test("overwrite of several fields, one the document lacked, at once; again, the same", async () => {
    const lookup = hot();
    const key = `${prefix}many`;
    await lookup.applyMany([{ key, version: 3, from: 1, fields: { owner: "X", email: "x@example" } }]);
    const erased = { owner: "[erased]", email: "[erased]", phone: "[erased]" };
    await lookup.overwrite(key, erased);
    await lookup.overwrite(key, erased);
    expect(await lookup.get(key)).toEqual({ ...erased, version: "3" });
  });

  test("overwrite of a document that does not exist does nothing: it stays absent, and its first write applies", async () => {
    const lookup = hot();
    const key = `${prefix}absent`;
    await lookup.overwrite(key, { owner: "[erased]" });
    expect(await lookup.get(key)).toBeUndefined();
    expect(await lookup.any(key)).toBe(false);
    expect(await lookup.applyMany([{ key, version: 1, fields: { owner: "Y" } }])).toEqual([
      { status: "applied", current: 1 },
    ]);
    expect(await lookup.get(key)).toEqual({ owner: "Y", version: "1" });
  });

  test("overwrite touches only its own document", async () => {
    const lookup = hot();
    await lookup.applyMany([
      { key: `${prefix}one`, version: 1, fields: { owner: "A" } },
      { key: `${prefix}one-more`, version: 1, fields: { owner: "B" } },
    ]);
    await lookup.overwrite(`${prefix}one`, { owner: "[erased]" });
    expect([await lookup.get(`${prefix}one`), await lookup.get(`${prefix}one-more`)]).toEqual([
      { owner: "[erased]", version: "1" },
      { owner: "B", version: "1" },
    ]);
  });
};

describe("in-process hot lookup", () => {
  const hot = new MemoryHotLookup();
  overwriteTests(() => hot, "overwrite-test:");
});

describeWith(["Redis"], "Redis hot lookup", () => {
  const hot = new RedisHotLookup(fullStack.redisUrl);
  const prefix = `overwrite-test:${process.pid}:${Date.now().toString(36)}:`;
  afterAll(async () => {
    await hot.clear(prefix);
    await hot.close();
  });
  overwriteTests(() => hot, prefix);
});
