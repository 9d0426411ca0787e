import type { ErasureRecord, SubjectKey, SubjectKeyStore } from "./subject-keys.ts";

type Entry = { wrapped: Uint8Array; erasure?: undefined } | { wrapped?: undefined; erasure: ErasureRecord };

/** What a memory store holds; several clients may share one, as processes share a file or a server. */
export class MemorySubjectKeyData {
  readonly subjects = new Map<string, Entry>();
}

const copyRecord = ({ subjectId, erasedAt, erasedBy, reason }: ErasureRecord): ErasureRecord => ({
  subjectId,
  erasedAt,
  erasedBy,
  reason,
});

const answer = (subjectId: string, entry: Entry): SubjectKey =>
  entry.erasure
    ? { state: "erased", subjectId, erasure: copyRecord(entry.erasure) }
    : { state: "live", subjectId, wrapped: new Uint8Array(entry.wrapped) };

/**
 * Subject keys in memory, with the guarantees of the durable adapters but for durability itself: the
 * same conformance suite passes against it. Bytes are copied in and out, so no caller shares them
 * with the store or with another caller.
 */
export class MemorySubjectKeys implements SubjectKeyStore {
  readonly name = "memory";

  constructor(readonly data: MemorySubjectKeyData = new MemorySubjectKeyData()) {}

  async keys(
    subjectIds: readonly string[],
    create?: (subjectId: string) => Uint8Array,
  ): Promise<Map<string, SubjectKey>> {
    const found = new Map<string, SubjectKey>();
    for (const subjectId of subjectIds) {
      if (found.has(subjectId)) continue;
      let entry = this.data.subjects.get(subjectId);
      if (!entry && create) {
        entry = { wrapped: new Uint8Array(create(subjectId)) };
        this.data.subjects.set(subjectId, entry);
      }
      if (entry) found.set(subjectId, answer(subjectId, entry));
    }
    return found;
  }

  async erase(record: ErasureRecord): Promise<ErasureRecord | undefined> {
    const entry = this.data.subjects.get(record.subjectId);
    if (!entry) return undefined;
    if (entry.erasure) return copyRecord(entry.erasure);
    // The only copy: zeroed, not merely dropped for the collector to reclaim some day.
    entry.wrapped.fill(0);
    const erasure = copyRecord(record);
    this.data.subjects.set(record.subjectId, { erasure });
    return copyRecord(erasure);
  }

  async erasedSince(after: string, limit: number): Promise<ErasureRecord[]> {
    const erasures: ErasureRecord[] = [];
    for (const entry of this.data.subjects.values())
      if (entry.erasure && entry.erasure.erasedAt > after) erasures.push(copyRecord(entry.erasure));
    return erasures.sort((a, b) => a.erasedAt.localeCompare(b.erasedAt)).slice(0, limit);
  }

  async close(): Promise<void> {}
}
