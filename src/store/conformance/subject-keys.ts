import { afterAll, describe, expect, test } from "bun:test";
import type { ErasureRecord, SubjectKey, SubjectKeyStore } from "../../privacy/subject-keys.ts";

let subjects = 0;
/** A subject id no other test of the run uses (the data may be shared with other runs). */
const newSubject = () =>
  `subject-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}-${++subjects}`;

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

/** Any bytes will do: the store keeps what it is given. Counts its calls, by subject. */
const maker = () => {
  const calls: string[] = [];
  return {
    calls,
    create: (subjectId: string) => {
      calls.push(subjectId);
      return crypto.getRandomValues(new Uint8Array(60));
    },
  };
};

const wrappedOf = (answer: Map<string, SubjectKey>, subjectId: string): string => {
  const key = answer.get(subjectId);
  if (key?.state !== "live") throw new Error(`${subjectId} has no live key: ${JSON.stringify(key)}`);
  expect(key.subjectId).toBe(subjectId);
  return hex(key.wrapped);
};

const erasure = (subjectId: string, reason = "the subject asked"): ErasureRecord => ({
  subjectId,
  erasedAt: new Date().toISOString(),
  erasedBy: "operator@example.org",
  reason,
});

/**
 * The guarantees of the subject keys port (`SubjectKeyStore`), each in a test. `open` opens a client
 * over the suite's data: opening twice gives two clients of the same data.
 */
export const describeSubjectKeyStoreConformance = (name: string, open: () => Promise<SubjectKeyStore>) => {
  describe(`subject keys conformance: ${name}`, () => {
    const opened: SubjectKeyStore[] = [];
    afterAll(async () => {
      for (const store of opened) await store.close().catch(() => {});
    });
    const connect = async () => {
      const store = await open();
      opened.push(store);
      return store;
    };

    test("a key is made once and kept: later asks, and a second client of the same data, get the same bytes", async () => {
      const [a, b] = [await connect(), await connect()];
      const ids = [newSubject(), newSubject(), newSubject()];
      const first = maker();
      const made = await a.keys([...ids, ids[0] as string], first.create);
      expect(first.calls.sort()).toEqual([...ids].sort());
      const bytes = ids.map((id) => wrappedOf(made, id));
      expect(new Set(bytes).size).toBe(3);

      const again = maker();
      const kept = await a.keys(ids, again.create);
      expect(again.calls).toEqual([]);
      expect(ids.map((id) => wrappedOf(kept, id))).toEqual(bytes);
      const elsewhere = await b.keys(ids);
      expect(ids.map((id) => wrappedOf(elsewhere, id))).toEqual(bytes);
    });

    test("the bytes answered are the caller's: changing them changes nothing stored", async () => {
      const store = await connect();
      const id = newSubject();
      const given = new Uint8Array(60).fill(7);
      const made = await store.keys([id], () => given);
      given.fill(1);
      const answered = made.get(id);
      if (answered?.state !== "live") throw new Error("no live key");
      expect(hex(answered.wrapped)).toBe("07".repeat(60));
      answered.wrapped.fill(9);
      expect(wrappedOf(await store.keys([id]), id)).toBe("07".repeat(60));
    });

    test("two clients racing to make the keys of the same new subjects are each answered one key per subject, the one stored", async () => {
      const [a, b] = [await connect(), await connect()];
      const ids = Array.from({ length: 20 }, newSubject);
      const [ma, mb] = [maker(), maker()];
      const [fromA, fromB] = await Promise.all([
        a.keys(ids, ma.create),
        b.keys([...ids].reverse(), mb.create),
      ]);
      const stored = await (await connect()).keys(ids);
      for (const id of ids) {
        expect(wrappedOf(fromA, id)).toBe(wrappedOf(stored, id));
        expect(wrappedOf(fromB, id)).toBe(wrappedOf(stored, id));
      }
      // Each subject was made at least once between them, and no answer holds a key that was not stored.
      expect(new Set([...ma.calls, ...mb.calls])).toEqual(new Set(ids));
    });

    test("without create, a subject with no key is absent from the answer, and none is made", async () => {
      const store = await connect();
      const [known, unknown] = [newSubject(), newSubject()];
      await store.keys([known], maker().create);
      const answer = await store.keys([known, unknown]);
      expect([...answer.keys()]).toEqual([known]);
      expect((await store.keys([unknown])).size).toBe(0);
      expect(await store.keys([])).toEqual(new Map());
    });

    test("erase destroys the key and keeps the record: the subject is answered erased, and create makes it no new key", async () => {
      const [a, b] = [await connect(), await connect()];
      const [gone, stays] = [newSubject(), newSubject()];
      const made = await a.keys([gone, stays], maker().create);
      const record = erasure(gone);
      expect(await a.erase(record)).toEqual(record);

      const expected: SubjectKey = { state: "erased", subjectId: gone, erasure: record };
      expect((await a.keys([gone])).get(gone)).toEqual(expected);
      const again = maker();
      const asked = await b.keys([gone, stays], again.create);
      expect(again.calls).toEqual([]);
      expect(asked.get(gone)).toEqual(expected);
      // Only that subject: the other's key is as it was.
      expect(wrappedOf(asked, stays)).toBe(wrappedOf(made, stays));
    });

    test("erasing an erased subject answers the first record and keeps it", async () => {
      const [a, b] = [await connect(), await connect()];
      const id = newSubject();
      await a.keys([id], maker().create);
      const first = erasure(id, "first");
      expect(await a.erase(first)).toEqual(first);
      const second = { ...erasure(id, "second"), erasedBy: "someone-else" };
      expect(await b.erase(second)).toEqual(first);
      expect((await a.keys([id])).get(id)).toEqual({ state: "erased", subjectId: id, erasure: first });
    });

    test("erasing a subject never seen answers undefined and keeps nothing: a later create makes its key", async () => {
      const store = await connect();
      const id = newSubject();
      expect(await store.erase(erasure(id))).toBeUndefined();
      expect((await store.keys([id])).size).toBe(0);
      const later = maker();
      const made = await store.keys([id], later.create);
      expect(later.calls).toEqual([id]);
      expect(made.get(id)?.state).toBe("live");
    });

    test("erasedSince answers the erasures after an instant, oldest first, to another client too", async () => {
      const [a, b] = [await connect(), await connect()];
      // After every erasure other runs or tests made (the data may be shared): a future instant.
      const base = Date.now() + 86_400_000 * 365 * (10 + Math.random());
      const at = (ms: number) => new Date(base + ms).toISOString();
      const [first, second, third] = [newSubject(), newSubject(), newSubject()];
      await a.keys([first, second, third], maker().create);
      // Erased in another order than their instants say: the answer is by `erasedAt`.
      await a.erase({ ...erasure(third), erasedAt: at(30) });
      await a.erase({ ...erasure(first), erasedAt: at(10) });
      await a.erase({ ...erasure(second), erasedAt: at(20) });
      const seen = await b.erasedSince(at(0), 10);
      expect(seen.map((r) => [r.subjectId, r.erasedAt])).toEqual([
        [first, at(10)],
        [second, at(20)],
        [third, at(30)],
      ]);
      expect((await b.erasedSince(at(10), 1)).map((r) => r.subjectId)).toEqual([second]);
      expect(await b.erasedSince(at(30), 10)).toEqual([]);
    });
  });
};
