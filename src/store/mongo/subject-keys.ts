import type { AnyBulkWriteOperation, Collection, Db } from "mongodb";
import {
  type ErasureRecord,
  type SubjectKey,
  type SubjectKeyStore,
  subjectKeyOf,
} from "../../privacy/subject-keys.ts";
import { onlyDuplicateKeys } from "./documents.ts";

/**
 * One subject: its wrapped key (base64url) while it lives; the erasure's record, and no key, once
 * erased. `createdAt` stays, so an erased subject's document is still there for `$setOnInsert` to
 * find, and no key is ever made for it again.
 */
export interface SubjectKeyDoc {
  _id: string;
  wrapped?: string;
  createdAt: Date;
  erasedAt?: string;
  erasedBy?: string;
  reason?: string;
}

export interface MongoSubjectKeysOptions {
  /** How long a write waits for a majority to acknowledge it before it fails (default 5 s). */
  readonly writeTimeoutMs?: number;
  /** What `close` closes: the client, if this store is the one that opened it. */
  readonly owner?: { close(): Promise<void> };
}

const toKey = (doc: SubjectKeyDoc): SubjectKey =>
  subjectKeyOf(doc._id, { ...doc, wrapped: new Uint8Array(Buffer.from(doc.wrapped ?? "", "base64url")) });

/**
 * Subject keys in the `subject_keys` collection of a database. Every read is a majority read and every
 * write waits for a majority's journal: a key handed out is one no failover can take back (the values
 * sealed under a lost key could never be read again), and an erasure answered stays.
 *
 * What an erasure does not reach with MongoDB: the oplog keeps the document as it was written (the
 * wrapped key) until the oplog rolls past it, hours or days depending on its size and the write load;
 * every backup or disk snapshot taken before holds it until it expires; a delayed member holds it for
 * its delay. An operator knows the oplog's window (`rs.printReplicationInfo()`: the longest an erased
 * key stays there), keeps `subject_keys` out of the events' long-kept backups (a database of its own,
 * backed up on its own schedule, with backups that expire within the promise made to data subjects),
 * and keeps the master key away from all of these: whoever holds an old copy of the document and the
 * master key can read the subject's data.
 */
export class MongoSubjectKeys implements SubjectKeyStore {
  readonly name = "mongodb";
  private readonly subjects: Collection<SubjectKeyDoc>;
  private readonly owner: { close(): Promise<void> } | undefined;

  constructor(db: Db, options: MongoSubjectKeysOptions = {}) {
    this.subjects = db.collection<SubjectKeyDoc>("subject_keys", {
      readConcern: { level: "majority" },
      writeConcern: { w: "majority", journal: true, wtimeoutMS: options.writeTimeoutMs ?? 5_000 },
    });
    this.owner = options.owner;
  }

  private async read(ids: readonly string[], into: Map<string, SubjectKey>): Promise<void> {
    for await (const doc of this.subjects.find({ _id: { $in: [...ids] } })) into.set(doc._id, toKey(doc));
  }

  async keys(
    subjectIds: readonly string[],
    create?: (subjectId: string) => Uint8Array,
  ): Promise<Map<string, SubjectKey>> {
    const found = new Map<string, SubjectKey>();
    const ids = [...new Set(subjectIds)];
    if (ids.length === 0) return found;
    // Most asks are for subjects that have their key: one round trip, no write.
    await this.read(ids, found);
    const missing = ids.filter((id) => !found.has(id));
    if (!create || missing.length === 0) return found;
    const createdAt = new Date();
    const upserts: AnyBulkWriteOperation<SubjectKeyDoc>[] = missing.map((id) => ({
      updateOne: {
        filter: { _id: id },
        // Only where there is no document: an existing key, or an erased subject's record, stands.
        update: { $setOnInsert: { wrapped: Buffer.from(create(id)).toString("base64url"), createdAt } },
        upsert: true,
      },
    }));
    try {
      await this.subjects.bulkWrite(upserts, { ordered: false });
    } catch (error) {
      if (!onlyDuplicateKeys(error)) throw error;
    }
    // Whichever upsert came first, its key: the one every racing client reads back.
    await this.read(missing, found);
    const unread = missing.filter((id) => !found.has(id));
    if (unread.length > 0) {
      throw new Error(
        `${unread.length} subject key(s) were written but not read back by a majority read; try again`,
      );
    }
    return found;
  }

  async erase(record: ErasureRecord): Promise<ErasureRecord | undefined> {
    const { subjectId, erasedAt, erasedBy, reason } = record;
    // The installed driver (7.x, as 6.x) answers the document itself, or null when nothing matched
    // (`includeResultMetadata` is false by default).
    const erased = await this.subjects.findOneAndUpdate(
      { _id: subjectId, erasedAt: { $exists: false } },
      { $set: { erasedAt, erasedBy, reason }, $unset: { wrapped: "" } },
      { returnDocument: "after" },
    );
    if (erased) return { subjectId, erasedAt, erasedBy, reason };
    // Nothing matched: erased before (its first record stands), or never seen (nothing kept).
    const doc = await this.subjects.findOne({ _id: subjectId });
    const key = doc && toKey(doc);
    return key?.state === "erased" ? key.erasure : undefined;
  }

  /** Served by the `erased_at` index, made by `ensureIndexes`. */
  async erasedSince(after: string, limit: number): Promise<ErasureRecord[]> {
    const docs = await this.subjects
      .find({ erasedAt: { $gt: after } })
      .sort({ erasedAt: 1 })
      .limit(limit)
      .toArray();
    return docs.flatMap((doc) => {
      const key = toKey(doc);
      return key.state === "erased" ? [key.erasure] : [];
    });
  }

  /** The index `erasedSince` reads (only erased subjects have an entry). */
  async ensureIndexes(): Promise<void> {
    await this.subjects.createIndex(
      { erasedAt: 1 },
      { name: "erased_at", partialFilterExpression: { erasedAt: { $exists: true } } },
    );
  }

  async close(): Promise<void> {
    await this.owner?.close();
  }
}
