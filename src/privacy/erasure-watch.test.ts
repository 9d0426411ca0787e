import { expect, test } from "bun:test";
import { pollUntil } from "../lib/poll.ts";
import { watchErasures } from "./erasure-watch.ts";
import { MemorySubjectKeyData, MemorySubjectKeys } from "./memory-subject-keys.ts";
import type { ErasureRecord } from "./subject-keys.ts";

test("an erasure made through another client of the key store reaches the watcher, once, after its start", async () => {
  const data = new MemorySubjectKeyData();
  const mine = new MemorySubjectKeys(data);
  const theirs = new MemorySubjectKeys(data);
  await theirs.keys(["before", "after"], () => new Uint8Array(60).fill(1));
  await theirs.erase({
    subjectId: "before",
    erasedAt: "2026-01-01T00:00:00.000Z",
    erasedBy: "ops",
    reason: "x",
  });
  const seen: ErasureRecord[] = [];
  const watch = watchErasures(
    mine,
    (records) => {
      seen.push(...records);
    },
    {
      everyMs: 10,
      after: "2026-06-01T00:00:00.000Z",
      onError: (error) => {
        throw error;
      },
    },
  );
  try {
    await theirs.erase({
      subjectId: "after",
      erasedAt: "2026-12-07T00:00:00.000Z",
      erasedBy: "ops",
      reason: "y",
    });
    await pollUntil(
      async () => seen.length,
      (n) => n > 0,
      { timeoutMs: 2_000, intervalMs: 5 },
    );
    // A few more polls: nothing is told twice.
    await Bun.sleep(50);
    expect(seen.map((r) => r.subjectId)).toEqual(["after"]);
  } finally {
    watch.stop();
  }
});
