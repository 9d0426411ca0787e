import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { SubjectKey } from "../../src/privacy/subject-keys.ts";
import { describeSubjectKeyStoreConformance } from "../../src/store/conformance/subject-keys.ts";
import { ErasureNotFlushedError, SqliteSubjectKeys } from "../../src/store/sqlite/subject-keys.ts";
import { tempDir } from "../support/service.ts";

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeSubjectKeyStoreConformance(
  "SQLite",
  async () => new SqliteSubjectKeys(join(dir, "subject-keys.sqlite")),
);

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));

const wrapped = (answer: Map<string, SubjectKey>, subjectId: string): Uint8Array => {
  const key = answer.get(subjectId);
  if (key?.state !== "live") throw new Error(`${subjectId} has no live key`);
  return key.wrapped;
};

/**
 * The files SQLite keeps for `path` that hold any part of `bytes` (a quarter of them or more), read
 * raw: a cell rewritten in place over a larger one leaves the old one's head behind.
 */
const filesHolding = (path: string, bytes: Uint8Array): string[] => {
  const quarter = Math.floor(bytes.length / 4);
  const parts = [0, 1, 2, 3].map((i) => Buffer.from(bytes.subarray(i * quarter, (i + 1) * quarter)));
  return [path, `${path}-wal`, `${path}-shm`].filter((file) => {
    if (!existsSync(file)) return false;
    const raw = readFileSync(file);
    return parts.some((part) => raw.indexOf(part) !== -1);
  });
};

// Short, so the erased row's cell is much smaller than the key's was: what it leaves of it is seen.
const record = (subjectId: string) => ({
  subjectId,
  erasedAt: new Date().toISOString(),
  erasedBy: "op",
  reason: "x",
});

describe("SQLite subject keys", () => {
  test("after erase the wrapped key's bytes are in none of the files: database, write-ahead log, shared memory", async () => {
    const path = join(dir, "erased.sqlite");
    const store = new SqliteSubjectKeys(path);
    try {
      const ids = Array.from({ length: 200 }, (_, i) => `subject-${i}`);
      const made = await store.keys(ids, () => random(60));
      // Some keys in the database file (checkpointed), the erased one among them; later ones in the log
      // only (on the last page, which the first keys' pages are not).
      const other = new Database(path);
      other.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      other.close();
      const more = await store.keys(["zz-late-1", "zz-late-2"], () => random(60));
      const gone = wrapped(made, "subject-100");
      const stays = wrapped(made, "subject-101");
      // The search finds what is there.
      expect(filesHolding(path, gone)).toEqual([path]);
      expect(filesHolding(path, wrapped(more, "zz-late-1"))).toEqual([`${path}-wal`]);

      await store.erase(record("subject-100"));
      expect(filesHolding(path, gone)).toEqual([]);
      expect(filesHolding(path, stays)).toEqual([path]);
      expect(filesHolding(path, wrapped(more, "zz-late-1"))).toEqual([path]);

      // A key erased while still only in the log leaves no trace either.
      await store.erase(record("zz-late-2"));
      expect(filesHolding(path, wrapped(more, "zz-late-2"))).toEqual([]);
    } finally {
      await store.close();
    }
  });

  test("new subjects asked for together are made in one commit, each its own key, all there after a reopen", async () => {
    const path = join(dir, "burst.sqlite");
    const keys = new SqliteSubjectKeys(path);
    const walBytes = () => (existsSync(`${path}-wal`) ? readFileSync(`${path}-wal`).length : 0);
    const ids = Array.from({ length: 200 }, (_, i) => `burst-${i}`);
    await keys.keys(["warm"], () => random(60));
    const before = walBytes();
    // As 200 requests opening accounts in one turn of the event loop ask.
    const answers = await Promise.all(ids.map((id) => keys.keys([id, id], () => random(60))));
    const made = answers.map((answer, i) => wrapped(answer, ids[i] as string));
    // A commit writes at least one page to the log: 200 commits would add 200 pages or more.
    const pageBytes = 4_096 + 24;
    expect((walBytes() - before) / pageBytes).toBeLessThan(20);
    expect(new Set(made.map((bytes) => Buffer.from(bytes).toString("hex"))).size).toBe(200);
    await keys.close();
    const reopened = new SqliteSubjectKeys(path);
    try {
      const seen = await reopened.keys(ids);
      expect(ids.map((id) => wrapped(seen, id))).toEqual(made);
    } finally {
      await reopened.close();
    }
  });

  test("within one turn: a subject asked for twice gets one key, a caller whose wrapping fails alone is refused, an erasure finds the keys asked for before it", async () => {
    const path = join(dir, "turn.sqlite");
    const keys = new SqliteSubjectKeys(path);
    try {
      const wrappedFor: string[] = [];
      const create = (id: string) => {
        wrappedFor.push(id);
        return random(60);
      };
      const first = keys.keys(["x", "y"], create);
      const second = keys.keys(["y"], create);
      const failing = keys.keys(["z"], () => {
        throw new Error("no master key");
      });
      const erased = keys.erase(record("x"));
      expect(await erased).toEqual(expect.objectContaining({ subjectId: "x" }));
      expect(wrapped(await second, "y")).toEqual(wrapped(await first, "y"));
      expect(wrappedFor.sort()).toEqual(["x", "y"]);
      await expect(failing).rejects.toThrow("no master key");
      expect((await keys.keys(["x", "z"])).get("x")?.state).toBe("erased");
      expect((await keys.keys(["z"])).has("z")).toBe(false);
    } finally {
      await keys.close();
    }
  });

  test("keys asked for just before close are made, not lost", async () => {
    const path = join(dir, "closing.sqlite");
    const keys = new SqliteSubjectKeys(path);
    const asked = keys.keys(["late"], () => random(60));
    await keys.close();
    const made = wrapped(await asked, "late");
    const reopened = new SqliteSubjectKeys(path);
    try {
      expect(wrapped(await reopened.keys(["late"]), "late")).toEqual(made);
    } finally {
      await reopened.close();
    }
  });

  test("two connections to one file see the same keys and the same erasures", async () => {
    const path = join(dir, "shared.sqlite");
    const here = new SqliteSubjectKeys(path);
    const there = new SqliteSubjectKeys(path);
    try {
      const made = await here.keys(["a", "b"], () => random(60));
      const seen = await there.keys(["a", "b", "c"]);
      expect([...seen.keys()].sort()).toEqual(["a", "b"]);
      expect(wrapped(seen, "a")).toEqual(wrapped(made, "a"));
      expect(wrapped(seen, "b")).toEqual(wrapped(made, "b"));
      const erased = record("a");
      expect(await there.erase(erased)).toEqual(erased);
      expect((await here.keys(["a"], () => random(60))).get("a")).toEqual({
        state: "erased",
        subjectId: "a",
        erasure: erased,
      });
    } finally {
      await here.close();
      await there.close();
    }
  });

  test("processes racing to make the same subjects' keys are each answered the first stored", async () => {
    const path = join(dir, "raced.sqlite");
    const module = join(import.meta.dir, "../../src/store/sqlite/subject-keys.ts");
    const script = `
      const { SqliteSubjectKeys } = await import(${JSON.stringify(module)});
      const store = new SqliteSubjectKeys(${JSON.stringify(path)});
      const ids = Array.from({ length: 50 }, (_, i) => "raced-" + i);
      const answer = await store.keys(ids, () => crypto.getRandomValues(new Uint8Array(60)));
      console.log(JSON.stringify(ids.map((id) => Buffer.from(answer.get(id).wrapped).toString("hex"))));
      await store.close();
    `;
    const outputs = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "inherit" });
        const text = await new Response(child.stdout).text();
        expect(await child.exited).toBe(0);
        return JSON.parse(text) as string[];
      }),
    );
    const store = new SqliteSubjectKeys(path);
    try {
      const stored = await store.keys(Array.from({ length: 50 }, (_, i) => `raced-${i}`));
      const expected = Array.from({ length: 50 }, (_, i) =>
        Buffer.from(wrapped(stored, `raced-${i}`)).toString("hex"),
      );
      for (const output of outputs) expect(output).toEqual(expected);
    } finally {
      await store.close();
    }
  });

  test("a reader holding the log open: erase says the bytes remain, and erasing again once it is gone clears them", async () => {
    const path = join(dir, "held.sqlite");
    const store = new SqliteSubjectKeys(path, { busyTimeoutMs: 20, checkpointAttempts: 2 });
    const reader = new Database(path);
    try {
      const made = await store.keys(["held"], () => random(60));
      const gone = wrapped(made, "held");
      reader.exec("BEGIN");
      reader.query("SELECT count(*) FROM subject_keys").get();
      const first = record("held");
      await expect(store.erase(first)).rejects.toBeInstanceOf(ErasureNotFlushedError);
      // Erased all the same: no key is handed out for it.
      expect((await store.keys(["held"], () => random(60))).get("held")?.state).toBe("erased");
      expect(filesHolding(path, gone)).not.toEqual([]);
      reader.exec("COMMIT");
      expect(await store.erase(record("held"))).toEqual(first);
      expect(filesHolding(path, gone)).toEqual([]);
    } finally {
      reader.close();
      await store.close();
    }
  });
});
