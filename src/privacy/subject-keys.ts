/** Who erased a subject, when and why: kept for good once the key is gone. */
export interface ErasureRecord {
  readonly subjectId: string;
  /** ISO 8601 UTC. */
  readonly erasedAt: string;
  readonly erasedBy: string;
  readonly reason: string;
}

export type SubjectKey =
  | { readonly state: "live"; readonly subjectId: string; readonly wrapped: Uint8Array }
  | { readonly state: "erased"; readonly subjectId: string; readonly erasure: ErasureRecord };

/**
 * The subject keys port: each data subject's key, wrapped under the master key (`cipher.ts`), kept
 * until the subject is erased; then only the record of the erasure. Guarantees every adapter gives
 * (the conformance suite in `../store/conformance/subject-keys.ts` says each in a test):
 * - a subject's key is made once and kept: every later answer, from any client of the same data,
 *   holds the same bytes, and `create` is not called for a subject that has a key;
 * - of clients racing to make the keys of the same new subjects, every one is answered the same key
 *   per subject (the first stored), so nothing is ever sealed under a key that another one replaced;
 * - without `create`, a subject with no key is absent from the answer (nothing is made);
 * - `erase` destroys the wrapped key for good and keeps the record: from then on the subject is
 *   answered `erased` with its record, and `create` never makes it a new key;
 * - erasing an erased subject changes nothing and answers the first record;
 * - erasing a subject never seen answers undefined and keeps nothing: a later `create` makes its key;
 * - the bytes handed out are the caller's: changing them changes nothing stored.
 *
 * A key answered is durable (fsynced, or journaled on a majority): a key that a crash or a failover
 * took back would leave the values sealed under it unreadable. An `erase` that fails may have erased
 * all the same: erasing again says (it answers the record). What erasure cannot reach beyond the store
 * itself (backups, a replication log) each adapter says.
 */
export interface SubjectKeyStore {
  readonly name: string;
  /**
   * The keys of these subjects, in one round trip where the adapter can. With `create`, each subject
   * that has no key and was never erased gets one, `create(subjectId)` giving its wrapped bytes —
   * atomically: of two callers racing for the same new subject, both get the same (first stored) key.
   * Without `create`, a subject with no key is absent from the answer.
   */
  keys(
    subjectIds: readonly string[],
    create?: (subjectId: string) => Uint8Array,
  ): Promise<Map<string, SubjectKey>>;
  /**
   * Destroys the subject's wrapped key for good and keeps the record. A subject already erased: the
   * record kept the first time (the new one is ignored). A subject never seen (no key, never erased):
   * undefined, and nothing is kept.
   */
  erase(record: ErasureRecord): Promise<ErasureRecord | undefined>;
  /**
   * The erasures recorded after `after` (an `erasedAt` one of them gave, or any ISO instant), oldest
   * first, at most `limit`: how a process that holds subjects' data in memory learns of an erasure
   * made by another.
   */
  erasedSince(after: string, limit: number): Promise<ErasureRecord[]>;
  close(): Promise<void>;
}

/** A subject's key as an adapter reads it back: erased once it has an erasure instant, else live. */
export const subjectKeyOf = (
  subjectId: string,
  stored: {
    readonly wrapped: Uint8Array;
    readonly erasedAt?: string | null;
    readonly erasedBy?: string | null;
    readonly reason?: string | null;
  },
): SubjectKey =>
  stored.erasedAt !== null && stored.erasedAt !== undefined
    ? {
        state: "erased",
        subjectId,
        erasure: {
          subjectId,
          erasedAt: stored.erasedAt,
          erasedBy: stored.erasedBy ?? "",
          reason: stored.reason ?? "",
        },
      }
    : { state: "live", subjectId, wrapped: stored.wrapped };
