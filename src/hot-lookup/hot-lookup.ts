/**
 * A write that applies only on top of the version before the first one it covers. A write covers one
 * version, or (folded by `coalesce`) a run of them: `from` to `version`, with the fields each of them
 * set, later ones over earlier ones.
 */
export interface VersionedWrite {
  readonly key: string;
  /** The version the document is at once the write applies. */
  readonly version: number;
  /** The first version it covers; `version` when left out. */
  readonly from?: number;
  readonly fields: Readonly<Record<string, string>>;
}

/**
 * `applied`: the document is now at `version`; `duplicate`: it already was at or past it (nothing
 * changed); `gap`: it is at `current`, before the version ahead of `from`, so the missing ones come
 * first. A document already within a folded write's run takes it whole: fields are only ever set,
 * so the last value each field took in the run is the value it has at the run's end, from wherever
 * in the run the document was.
 */
export type WriteResult =
  | { readonly status: "applied" | "duplicate"; readonly current: number }
  | { readonly status: "gap"; readonly current: number };

export type HotDocument = Readonly<Record<string, string>>;

/**
 * The hot-lookup port: small documents by key, each with a version, updated atomically only in
 * version order. This is what makes the projection idempotent and gap-aware.
 */
export interface HotLookup {
  readonly name: string;
  /** Holds nothing across restarts, so projections into it are rebuilt at start-up. */
  readonly volatile?: boolean;
  /** Applies the writes in order (one round trip), each atomically. */
  applyMany(writes: readonly VersionedWrite[]): Promise<WriteResult[]>;
  get(key: string): Promise<HotDocument | undefined>;
  /**
   * Sets fields of a document that exists, its version unchanged (nothing for one that does not): for
   * what a later event changes in the past, a data subject's erasure, which no versioned write can.
   */
  overwrite(key: string, fields: Readonly<Record<string, string>>): Promise<void>;
  /** Waits up to `timeoutMs` for the document to reach `minVersion`; the document, or undefined. */
  waitForVersion(key: string, minVersion: number, timeoutMs: number): Promise<HotDocument | undefined>;
  /** Deletes every key starting with `prefix`. */
  clear(prefix: string): Promise<void>;
  /** Whether any key starts with `prefix`. */
  any(prefix: string): Promise<boolean>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Whether a write applies on top of a document at `current` (see `WriteResult`). */
export const statusOver = (write: VersionedWrite, current: number): WriteResult["status"] =>
  write.version <= current ? "duplicate" : (write.from ?? write.version) - 1 <= current ? "applied" : "gap";

/**
 * Folds each run of consecutive versions of one key into one write (order kept per key), so that a
 * stretch of the log that touches a document many times costs one write to it.
 */
export class Fold {
  private writes: VersionedWrite[] = [];
  private readonly lastOf = new Map<string, number>();
  /** The writes at these indexes are the fold's own copies, merged into in place. */
  private readonly owned = new Set<number>();

  /** Documents with a write held. */
  get size(): number {
    return this.lastOf.size;
  }

  add(write: VersionedWrite): void {
    const at = this.lastOf.get(write.key);
    const last = at === undefined ? undefined : this.writes[at];
    if (at === undefined || !last || (write.from ?? write.version) !== last.version + 1) {
      // Kept as given until a later version joins it: most writes of a live batch never do.
      this.lastOf.set(write.key, this.writes.push(write) - 1);
      return;
    }
    if (this.owned.has(at)) {
      const own = last as { version: number; fields: Record<string, string> };
      Object.assign(own.fields, write.fields);
      own.version = write.version;
      return;
    }
    this.owned.add(at);
    this.writes[at] = {
      key: write.key,
      version: write.version,
      from: last.from ?? last.version,
      fields: { ...last.fields, ...write.fields },
    };
  }

  /** The folded writes, in order; the fold is empty after. */
  take(): VersionedWrite[] {
    const writes = this.writes;
    this.writes = [];
    this.lastOf.clear();
    this.owned.clear();
    return writes;
  }
}

export const coalesce = (writes: readonly VersionedWrite[]): VersionedWrite[] => {
  const fold = new Fold();
  for (const write of writes) fold.add(write);
  return fold.take();
};
