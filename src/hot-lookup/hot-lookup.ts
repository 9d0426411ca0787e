/** A write that applies only on top of exactly the version before it. */
export interface VersionedWrite {
  readonly key: string;
  readonly version: number;
  readonly fields: Readonly<Record<string, string>>;
}

/**
 * `applied`: the document is now at `version`; `duplicate`: it already was at or past it (nothing
 * changed); `gap`: it is at `current`, more than one version behind, so the missing ones come first.
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
  /** Waits up to `timeoutMs` for the document to reach `minVersion`; the document, or undefined. */
  waitForVersion(key: string, minVersion: number, timeoutMs: number): Promise<HotDocument | undefined>;
  /** Deletes every key starting with `prefix`. */
  clear(prefix: string): Promise<void>;
  /** Whether any key starts with `prefix`. */
  any(prefix: string): Promise<boolean>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
