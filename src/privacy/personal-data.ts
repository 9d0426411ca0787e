import { type AnyAggregate, idOfStream, type PersonalDataSpec } from "../aggregate.ts";
import { Recent } from "../lib/recent.ts";
import { ERASED_FINGERPRINT } from "../runtime/command.ts";
import type { EventEnvelope, NewEvent } from "../store/envelope.ts";
import type { AppendRequest } from "../store/event-store.ts";
import type { StoredOutcome } from "../store/outcome-store.ts";
import type { Snapshot } from "../store/snapshot-store.ts";
import { newDataKey, openValue, SealedValueError, sealValue, unwrapKey, wrapKey } from "./cipher.ts";
import type { ErasureRecord, SubjectKey, SubjectKeyStore } from "./subject-keys.ts";
import { erasedSubjectOf } from "./subject-stream.ts";

/** Every field any of an aggregate's events declares personal. */
export const personalFieldsOf = (aggregate: Pick<AnyAggregate, "personalData">): string[] => [
  ...new Set(Object.values(aggregate.personalData?.events ?? {}).flat()),
];

/** What a personal field reads once its subject was erased, on every read path. */
export const ERASED = "[erased]";

/**
 * A personal field as stored: `{ "$sealed": "v1.<subject, base64url>.<AES-256-GCM of its JSON, base64url>" }`,
 * or `….erased` for a value that arrived after its subject was erased (kept by no key at all). The
 * value says whose it is, so a read needs no knowledge of the domain to open it.
 */
interface Sealed {
  readonly $sealed: string;
}

const PREFIX = "v1.";
const NOTHING = "erased";

const isSealed = (value: unknown): value is Sealed =>
  typeof value === "object" &&
  value !== null &&
  typeof (value as { $sealed?: unknown }).$sealed === "string" &&
  (value as { $sealed: string }).$sealed.startsWith(PREFIX);

const encodeSubject = (subjectId: string) => Buffer.from(subjectId, "utf8").toString("base64url");

const parse = (sealed: Sealed): { subjectId: string; token: string } => {
  const rest = sealed.$sealed.slice(PREFIX.length);
  const dot = rest.indexOf(".");
  return {
    subjectId: Buffer.from(rest.slice(0, dot), "base64url").toString("utf8"),
    token: rest.slice(dot + 1),
  };
};

/** Binds a ciphertext to its subject and its field: moved to another field or subject, it does not open. */
const aadOf = (subjectId: string, field: string) => `${subjectId}\u0000${field}`;

export type Record_ = Readonly<Record<string, unknown>>;

export const isRecord = (value: unknown): value is Record_ =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * `record` with each of `fields` that holds a value sealed under the subject's key (or, with no key,
 * its subject erased, sealed as nothing); the record itself if none does.
 */
export const sealFields = (
  record: Record_,
  fields: readonly string[],
  subjectId: string,
  key: Uint8Array | undefined,
): Record_ => {
  let out: Record<string, unknown> | undefined;
  for (const field of fields) {
    const value = record[field];
    if (value === undefined || isSealed(value)) continue;
    out ??= { ...record };
    const token = key ? sealValue(key, aadOf(subjectId, field), value) : NOTHING;
    out[field] = { $sealed: `${PREFIX}${encodeSubject(subjectId)}.${token}` } satisfies Sealed;
  }
  return out ?? record;
};

/**
 * An outcome's state is its aggregate's, named by its `id` (the stream's, in every append the engine
 * makes): sealed under that subject, as a read of it checks.
 */
const outcomeSubjectOf = (outcome: Record_, subjectId: string): string =>
  typeof outcome.id === "string" ? outcome.id : subjectId;

/** The pseudo-field a fingerprint is sealed as: no field of a record can be named so. */
const FINGERPRINT_FIELD = "\u0000fingerprint";
const FINGERPRINT_PREFIX = "sealed:";

/** A kept outcome's fingerprint as stored: sealed like a personal field, as text. */
export const sealFingerprint = (
  fingerprint: string,
  subjectId: string,
  key: Uint8Array | undefined,
): string => {
  if (fingerprint.startsWith(FINGERPRINT_PREFIX)) return fingerprint;
  const token = key ? sealValue(key, aadOf(subjectId, FINGERPRINT_FIELD), fingerprint) : NOTHING;
  return `${FINGERPRINT_PREFIX}${PREFIX}${encodeSubject(subjectId)}.${token}`;
};

const parseFingerprint = (fingerprint: string): { subjectId: string; token: string } | undefined =>
  fingerprint.startsWith(FINGERPRINT_PREFIX)
    ? parse({ $sealed: fingerprint.slice(FINGERPRINT_PREFIX.length) })
    : undefined;

/** Keys unwrapped for a while, by subject: `undefined` for a subject erased (or with no key). */
type KeyCache = Recent<string, { readonly key: Uint8Array | undefined }>;

export interface SharedOpenerOptions {
  /** How long at most a subject's key, once unwrapped, is used without asking the key store (default 30 s). */
  readonly keyMs?: number;
  /** The most subjects' keys kept (default 20 000): the oldest are let go first. */
  readonly keys?: number;
  /**
   * How long at most an event, once opened, is handed out as it was opened (default 5 s): long enough
   * for the projection that takes its events last (analytics, inserting about once a second).
   */
  readonly openedMs?: number;
  /**
   * The most events kept opened (default 10 000, each holding its envelope: opening 100 000 accounts
   * with 50 000 kept tripled the read side's heap).
   */
  readonly openedEvents?: number;
}

export interface PersonalDataOptions {
  /**
   * How long a subject's data key, once unwrapped, is kept for sealing new values (default 60 s): a
   * value sealed under a key erased meanwhile by another process can never be read again, which is what
   * erasure asks. Reads ask the key store each time (but for the projections' `sharedOpener`), so an
   * erasure is seen at once.
   */
  readonly sealCacheMs?: number;
  /** The most subjects' keys kept for sealing (default 100 000). */
  readonly sealCacheSize?: number;
  readonly now?: () => number;
  /** Stores personal data as it comes (`EVENTFOLD_PERSONAL_DATA_PLAIN`, to measure what sealing costs). */
  readonly plain?: boolean;
  /**
   * Told of a sealed value that does not open though its subject has a key (a key store restored
   * without it, which made a new one; a value moved from another record or altered): it reads as
   * erased, and this says so, for the log. Never the value, never a failed read of the whole page.
   */
  readonly onUnreadable?: (subjectId: string, field: string, why: string) => void;
}

/**
 * Crypto-shredding: personal fields are stored encrypted under a data key of their subject, kept
 * wrapped by the master key in the key store; erasing the subject destroys the key, and every read of
 * those fields, wherever the ciphertext went (the log, its backups, the broker, dead letters), finds
 * them erased. The event log itself is never rewritten: the Merkle tree covers the ciphertext.
 */
export class PersonalData {
  private readonly specs = new Map<string, PersonalDataSpec>();
  private readonly sealKeys = new Map<string, { key: Uint8Array | undefined; until: number }>();
  /**
   * Subjects this process erased or was told were: a key lookup that began before the erasure must
   * not put the destroyed key back in the cache when it answers after.
   */
  private readonly erasedHere = new Set<string>();
  /** What each shared opener holds of a subject, to let go of when it is erased. */
  private readonly openers = new Set<(subjectId: string) => void>();
  private readonly cacheMs: number;
  private readonly cacheSize: number;
  private readonly now: () => number;
  private readonly onUnreadable: (subjectId: string, field: string, why: string) => void;
  /** Whether new personal data is sealed (and so whether a subject can be erased). */
  readonly sealing: boolean;

  constructor(
    private readonly keys: SubjectKeyStore,
    private readonly master: Uint8Array,
    aggregates: readonly Pick<AnyAggregate, "type" | "personalData">[],
    options: PersonalDataOptions = {},
  ) {
    for (const a of aggregates) if (a.personalData) this.specs.set(a.type, a.personalData);
    this.cacheMs = options.sealCacheMs ?? 60_000;
    this.cacheSize = options.sealCacheSize ?? 100_000;
    this.now = options.now ?? Date.now;
    this.sealing = options.plain !== true;
    this.onUnreadable = options.onUnreadable ?? (() => {});
  }

  /** Whether the domain declares any personal data (else nothing is sealed, and reads only open). */
  get declared(): boolean {
    return this.specs.size > 0;
  }

  /** The aggregate types whose instances are data subjects. */
  get subjectTypes(): string[] {
    return [...this.specs.keys()];
  }

  // The write side.

  /**
   * The keys to seal with, made for new subjects; `undefined` for an erased subject. At once (no turn
   * of the event loop on the write path) when every one is cached.
   */
  private sealingKeys(
    subjectIds: readonly string[],
  ): Map<string, Uint8Array | undefined> | Promise<Map<string, Uint8Array | undefined>> {
    const now = this.now();
    const found = new Map<string, Uint8Array | undefined>();
    const missing: string[] = [];
    for (const id of subjectIds) {
      if (found.has(id) || missing.includes(id)) continue;
      const cached = this.sealKeys.get(id);
      if (cached && cached.until > now) found.set(id, cached.key);
      else missing.push(id);
    }
    if (missing.length === 0) return found;
    return this.makeSealingKeys(missing, found, now);
  }

  private async makeSealingKeys(
    missing: readonly string[],
    found: Map<string, Uint8Array | undefined>,
    now: number,
  ): Promise<Map<string, Uint8Array | undefined>> {
    const stored = await this.keys.keys(missing, (id) => wrapKey(this.master, id, newDataKey()));
    for (const id of missing) {
      const key = stored.get(id);
      const data =
        key?.state === "live" && !this.erasedHere.has(id)
          ? unwrapKey(this.master, id, key.wrapped)
          : undefined;
      found.set(id, data);
      if (this.sealKeys.size >= this.cacheSize) {
        const oldest = this.sealKeys.keys().next().value;
        if (oldest !== undefined) this.sealKeys.delete(oldest);
      }
      this.sealKeys.set(id, { key: data, until: now + this.cacheMs });
    }
    return found;
  }

  /**
   * An append as stored: the personal fields of its events, and of the states its outcomes keep,
   * sealed. At once when the keys it needs are cached.
   */
  sealAppend(request: AppendRequest): AppendRequest | Promise<AppendRequest> {
    const spec = this.specs.get(request.aggregateType);
    if (!spec || !this.sealing) return request;
    // Only an append that carries a personal value needs its subject's key (a deposit with no
    // reference and no idempotency key needs none). A kept outcome always does: its fingerprint hashes
    // the request, personal fields and all.
    const personal =
      request.events.some((e) => {
        const data = e.data;
        return isRecord(data) && spec.events[e.type]?.some((f) => data[f] !== undefined) === true;
      }) || (request.outcomes?.length ?? 0) > 0;
    if (!personal) return request;
    const subjectId = idOfStream(request.aggregateType, request.streamId);
    const subjects = [subjectId];
    for (const o of request.outcomes ?? [])
      if (isRecord(o.outcome)) subjects.push(outcomeSubjectOf(o.outcome, subjectId));
    const keys = this.sealingKeys(subjects);
    return keys instanceof Map
      ? this.sealWith(request, spec, subjectId, keys)
      : keys.then((found) => this.sealWith(request, spec, subjectId, found));
  }

  private sealWith(
    request: AppendRequest,
    spec: PersonalDataSpec,
    subjectId: string,
    keys: Map<string, Uint8Array | undefined>,
  ): AppendRequest {
    const stateFields = spec.state ?? [];
    const key = keys.get(subjectId);
    const events = request.events.map((event): NewEvent => {
      const fields = spec.events[event.type];
      if (!fields || !isRecord(event.data)) return event;
      return { ...event, data: sealFields(event.data, fields, subjectId, key) };
    });
    const outcomes = request.outcomes?.map((stored): StoredOutcome => {
      const outcome = stored.outcome;
      const subject = isRecord(outcome) ? outcomeSubjectOf(outcome, subjectId) : subjectId;
      const subjectKey = keys.get(subject);
      const fingerprint = sealFingerprint(stored.fingerprint, subject, subjectKey);
      if (!isRecord(outcome) || !isRecord(outcome.state)) return { ...stored, fingerprint };
      return {
        ...stored,
        fingerprint,
        outcome: { ...outcome, state: sealFields(outcome.state, stateFields, subject, subjectKey) },
      };
    });
    return { ...request, events, ...(outcomes ? { outcomes } : {}) };
  }

  /** A snapshot as stored: the personal fields of its state sealed. */
  async sealSnapshot(snapshot: Snapshot): Promise<Snapshot> {
    if (!this.sealing) return snapshot;
    for (const [type, spec] of this.specs) {
      if (!snapshot.streamId.startsWith(`${type}-`) || !spec.state?.length || !isRecord(snapshot.state))
        continue;
      const subjectId = idOfStream(type, snapshot.streamId);
      const key = (await this.sealingKeys([subjectId])).get(subjectId);
      return { ...snapshot, state: sealFields(snapshot.state, spec.state, subjectId, key) };
    }
    return snapshot;
  }

  // The read side: no cache (but in `sharedOpener`), so an erasure anywhere is seen by the next read.

  /**
   * The data keys of the subjects whose sealed values the records hold, unwrapped once each; undefined:
   * erased. With `cache`, those it holds unexpired are taken from it and those looked up are put in it.
   */
  private liveKeys(
    records: readonly unknown[],
    also: readonly string[] = [],
    cache?: KeyCache,
  ): Map<string, Uint8Array | undefined> | Promise<Map<string, Uint8Array | undefined>> {
    const subjects = new Set<string>(also);
    for (const record of records) {
      if (!isRecord(record)) continue;
      for (const value of Object.values(record)) if (isSealed(value)) subjects.add(parse(value).subjectId);
    }
    const keys = new Map<string, Uint8Array | undefined>();
    if (subjects.size === 0) return keys;
    const wanted: string[] = [];
    for (const subjectId of subjects) {
      const cached = cache?.get(subjectId);
      if (cached) keys.set(subjectId, cached.key);
      else wanted.push(subjectId);
    }
    // All in the cache: answered at once, without a turn of the event loop (see `sharedOpener`).
    if (wanted.length === 0) return keys;
    return this.keys.keys(wanted).then((stored: Map<string, SubjectKey>) => {
      for (const subjectId of wanted) {
        const key = stored.get(subjectId);
        const data = key?.state === "live" ? unwrapKey(this.master, subjectId, key.wrapped) : undefined;
        keys.set(subjectId, data);
        // Not a key looked up before an erasure seen meanwhile: it must not outlive it in the cache.
        if (cache && !this.erasedHere.has(subjectId)) cache.set(subjectId, { key: data });
      }
      return keys;
    });
  }

  /**
   * `expected`: the subject the record belongs to (its aggregate's id): a value sealed for another one
   * was moved there, and is refused rather than shown under the wrong person.
   */
  private openFields(
    record: Record_,
    keys: Map<string, Uint8Array | undefined>,
    expected: string | undefined,
  ): { opened: Record_; erased: string[] } {
    let out: Record<string, unknown> | undefined;
    const erased: string[] = [];
    for (const [field, value] of Object.entries(record)) {
      if (!isSealed(value)) continue;
      out ??= { ...record };
      const { subjectId, token } = parse(value);
      if (expected !== undefined && subjectId !== expected) {
        this.onUnreadable(expected, field, "it was sealed for another data subject");
        out[field] = ERASED;
        erased.push(field);
        continue;
      }
      const key = keys.get(subjectId);
      // No key at all (a key store restored without it) reads as erased too: the value cannot be had.
      if (token === NOTHING || key === undefined) {
        out[field] = ERASED;
        erased.push(field);
        continue;
      }
      try {
        out[field] = openValue(key, aadOf(subjectId, field), token);
        this.collectAfter(1);
      } catch (error) {
        if (!(error instanceof SealedValueError)) throw error;
        this.onUnreadable(subjectId, field, error.message);
        out[field] = ERASED;
        erased.push(field);
      }
    }
    return { opened: out ?? record, erased };
  }

  /** Events as read: personal fields opened, or `[erased]` and named in `erased`. One key lookup per call. */
  async openEvents(events: readonly EventEnvelope[]): Promise<EventEnvelope[]> {
    return this.openWith(events, await this.liveKeys(events.map((e) => e.data)));
  }

  private openWith(
    events: readonly EventEnvelope[],
    keys: Map<string, Uint8Array | undefined>,
  ): EventEnvelope[] {
    // A key (or its absence) is looked up for every subject a sealed value names: none, nothing sealed.
    if (keys.size === 0) return events as EventEnvelope[];
    return events.map((event) => {
      if (!isRecord(event.data)) return event;
      const expected = this.specs.has(event.aggregateType)
        ? idOfStream(event.aggregateType, event.streamId)
        : undefined;
      const { opened, erased } = this.openFields(event.data, keys, expected);
      if (opened === event.data) return event;
      return erased.length > 0 ? { ...event, data: opened, erased } : { ...event, data: opened };
    });
  }

  /**
   * How the projections of one process read: they are all handed the same events, so each event is
   * opened once for all of them and kept `openedMs` (at most `openedEvents` of them), and a subject's
   * key is unwrapped once per `keyMs` rather than once per page. A reader may so see an erasure made
   * elsewhere up to `keyMs + openedMs` late (an event opened with a key about to expire is then kept);
   * a `SubjectErased` passing through, or the erasure being made or learnt of here (`forget`), lets go
   * of its subject at once. Fit only for readers that, when an erasure reaches them, blank what they wrote of the subject
   * before it and what they write after it from events read before (the document and analytics
   * projections do); every other read asks the key store each time.
   */
  sharedOpener(options: SharedOpenerOptions = {}): (events: EventEnvelope[]) => Promise<EventEnvelope[]> {
    const cache: KeyCache = new Recent(options.keys ?? 20_000, options.keyMs ?? 30_000, this.now);
    /** By event id: the event opened, and whose subject it is. */
    const opened = new Recent<string, { readonly event: EventEnvelope; readonly subjectId: string }>(
      options.openedEvents ?? 10_000,
      options.openedMs ?? 5_000,
      this.now,
    );
    this.openers.add((subjectId) => {
      cache.delete(subjectId);
      opened.deleteWhere((entry) => entry.subjectId === subjectId);
    });
    const letGo = (subjectId: string) => this.forget(subjectId);
    return (events) => {
      for (const event of events) {
        const erased = erasedSubjectOf(event);
        if (erased !== undefined) letGo(erased);
      }
      const out = events.slice();
      const unopened: number[] = [];
      for (const [i, event] of events.entries()) {
        const kept = opened.get(event.eventId);
        if (kept) out[i] = kept.event;
        else unopened.push(i);
      }
      if (unopened.length === 0) return Promise.resolve(out);
      const toOpen = unopened.map((i) => events[i] as EventEnvelope);
      const finish = (keys: Map<string, Uint8Array | undefined>) => {
        const read = this.openWith(toOpen, keys);
        for (const [j, i] of unopened.entries()) {
          const event = read[j] as EventEnvelope;
          out[i] = event;
          // Only what opening changed is worth keeping (the rest is handed out as it came), and only
          // what is its own aggregate's subject's, which an erasure names.
          if (event === toOpen[j] || !this.specs.has(event.aggregateType)) continue;
          const subjectId = idOfStream(event.aggregateType, event.streamId);
          // Opened with a key looked up before its erasure passed through meanwhile: handed out this
          // once (as any read that began before it), never kept.
          if (this.erasedHere.has(subjectId)) continue;
          opened.set(event.eventId, { event, subjectId });
        }
        return out;
      };
      try {
        // With every key at hand, opened before this returns: the projections handed the same events
        // in the same turn of the event loop find them opened.
        const keys = this.liveKeys(
          toOpen.map((e) => e.data),
          [],
          cache,
        );
        return keys instanceof Map ? Promise.resolve(finish(keys)) : keys.then(finish);
      } catch (error) {
        return Promise.reject(error);
      }
    };
  }

  private sinceCollection = 0;

  /**
   * Each decryption's cipher context is native memory (about 1 KB) that the collector's heuristics do
   * not see: reading a large log piles them up far beyond what the values are worth until a collection
   * happens to run. One is asked for every few thousand.
   */
  private collectAfter(decrypted: number): void {
    this.sinceCollection += decrypted;
    if (this.sinceCollection < 4_096) return;
    this.sinceCollection = 0;
    Bun.gc(false);
  }

  async openSnapshot(snapshot: Snapshot | undefined): Promise<Snapshot | undefined> {
    if (!snapshot || !isRecord(snapshot.state)) return snapshot;
    const keys = await this.liveKeys([snapshot.state]);
    if (keys.size === 0) return snapshot;
    const type = [...this.specs.keys()].find((t) => snapshot.streamId.startsWith(`${t}-`));
    const expected = type === undefined ? undefined : idOfStream(type, snapshot.streamId);
    return { ...snapshot, state: this.openFields(snapshot.state, keys, expected).opened };
  }

  async openOutcome(stored: StoredOutcome | undefined): Promise<StoredOutcome | undefined> {
    if (!stored) return stored;
    const sealedFingerprint = parseFingerprint(stored.fingerprint);
    const state =
      isRecord(stored.outcome) && isRecord(stored.outcome.state) ? stored.outcome.state : undefined;
    const keys = await this.liveKeys(
      state ? [state] : [],
      sealedFingerprint ? [sealedFingerprint.subjectId] : [],
    );
    if (keys.size === 0) return stored;
    let fingerprint = stored.fingerprint;
    if (sealedFingerprint) {
      const key = keys.get(sealedFingerprint.subjectId);
      fingerprint =
        sealedFingerprint.token === NOTHING || key === undefined
          ? ERASED_FINGERPRINT
          : this.openFingerprint(key, sealedFingerprint.subjectId, sealedFingerprint.token);
    }
    if (!state || !isRecord(stored.outcome)) return { ...stored, fingerprint };
    const expected = typeof stored.outcome.id === "string" ? stored.outcome.id : undefined;
    return {
      ...stored,
      fingerprint,
      outcome: { ...stored.outcome, state: this.openFields(state, keys, expected).opened },
    };
  }

  /**
   * Destroys the subject's key: from now on its personal fields read `[erased]` wherever they are kept.
   * The record kept the first time for a subject erased before; undefined for one never seen.
   */
  private openFingerprint(key: Uint8Array, subjectId: string, token: string): string {
    try {
      return String(openValue(key, aadOf(subjectId, FINGERPRINT_FIELD), token));
    } catch (error) {
      if (!(error instanceof SealedValueError)) throw error;
      this.onUnreadable(subjectId, "fingerprint", error.message);
      return ERASED_FINGERPRINT;
    }
  }

  /**
   * Drops for good what this holds of the subject, its key for sealing and what every shared opener
   * keeps of it: it was erased (here or by another process).
   */
  forget(subjectId: string): void {
    if (this.erasedHere.size >= this.cacheSize) this.erasedHere.clear();
    this.erasedHere.add(subjectId);
    this.sealKeys.delete(subjectId);
    for (const letGo of this.openers) letGo(subjectId);
  }

  async erase(
    subjectId: string,
    erasedBy: string,
    reason: string,
    at = new Date(),
  ): Promise<ErasureRecord | undefined> {
    this.forget(subjectId);
    const record = await this.keys.erase({ subjectId, erasedAt: at.toISOString(), erasedBy, reason });
    this.sealKeys.delete(subjectId);
    return record;
  }
}
