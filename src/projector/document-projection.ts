import { idOfStream, streamIdOf } from "../aggregate.ts";
import { coalesce, Fold, type HotLookup, type VersionedWrite } from "../hot-lookup/hot-lookup.ts";
import { erasedSubjectOf, SUBJECT_TYPE } from "../privacy/subject-stream.ts";
import type { EventEnvelope } from "../store/envelope.ts";
import type { EventStore } from "../store/event-store.ts";
import type { Projection, ProjectionContext } from "./projection.ts";

export interface DocumentProjectionSpec {
  readonly name: string;
  readonly aggregateType: string;
  readonly hot: HotLookup;
  /** Where its documents are, by generation: what the read routes read through too. */
  readonly keys: DocumentKeys;
  /** The document fields an event sets; an event that sets none still moves the version. */
  readonly fieldsOf: (event: EventEnvelope) => Record<string, string>;
  /** A rebuild holds at most this many documents' folded writes before it writes them out. */
  readonly foldKeys?: number;
  /**
   * The document fields that hold personal data, and what each reads once the aggregate (its own data
   * subject) was erased: set when the erasure reaches the projection, whatever version the document is at.
   */
  readonly erasedFields?: Readonly<Record<string, string>>;
}

/** The subjects an erasure in `events` names, in order. */
const erasedSubjects = (events: readonly EventEnvelope[]): string[] =>
  events.flatMap((e) => erasedSubjectOf(e) ?? []);

const FOLD_KEYS = 100_000;
/** Writes per round trip when a fold goes out. */
const FLUSH_WRITES = 5_000;

/**
 * The keys of a document projection's generations, and which one serves. Generation 0 is `legacyPrefix`
 * (where documents were kept before generations); generation g is `prefix` + `g<g>:`. Which serves is
 * the document `prefix` + `serving`: its `generation`, and a version that each switch moves on by one,
 * with a versioned write (so it only applies on top of the switch it follows); a new generation is
 * numbered that version plus one. A process reads it at most every `refreshMs`, and a generation
 * switched from is dropped only after a few of those, so that no reader is left on it.
 */
export class DocumentKeys {
  private serving = 0;
  private switches = 0;
  /** Generations switched from, still holding their documents until they are dropped. */
  private readonly dropping = new Set<string>();
  private readAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly hot: HotLookup,
    private readonly legacyPrefix: string,
    private readonly prefix: string,
    private readonly refreshMs = 1_000,
  ) {}

  private get pointer(): string {
    return `${this.prefix}serving`;
  }

  prefixOf(generation: number): string {
    return generation === 0 ? this.legacyPrefix : `${this.prefix}g${generation}:`;
  }

  /** The generation serving, as the hot lookup says now. */
  async read(): Promise<number> {
    const document = await this.hot.get(this.pointer);
    this.serving = Number(document?.generation ?? 0);
    this.switches = Number(document?.version ?? 0);
    this.readAt = performance.now();
    return this.serving;
  }

  /** The key prefix of the generation serving (read again once `refreshMs` old). */
  async current(): Promise<string> {
    if (performance.now() - this.readAt >= this.refreshMs) await this.read();
    return this.prefixOf(this.serving);
  }

  /**
   * Every prefix whose documents are still kept: the serving generation's, and those switched from
   * and not yet dropped. What must be gone from all of them (a data subject's erasure) is blanked in each.
   */
  async kept(): Promise<string[]> {
    return [...new Set([await this.current(), ...this.dropping])];
  }

  /** The number a new generation takes. */
  async next(): Promise<number> {
    await this.read();
    return this.switches + 1;
  }

  /**
   * Whether the hot lookup still holds its documents: the pointer is there. Not: it lost them (a
   * flush, a restart without persistence), or it is new.
   */
  async intact(): Promise<boolean> {
    return (await this.hot.get(this.pointer)) !== undefined;
  }

  /**
   * At start, before any event is applied: documents kept before generations, with no pointer, are
   * taken as generation 0 (an upgrade), instead of being rebuilt. Only then: after a loss, the live
   * events applied meanwhile would make a few documents look like such a store.
   */
  async adopt(): Promise<void> {
    if ((await this.hot.get(this.pointer)) !== undefined || !(await this.hot.any(this.legacyPrefix))) return;
    await this.hot.applyMany([{ key: this.pointer, version: 1, fields: { generation: "0" } }]);
  }

  /** From now on `generation` serves; the one before is dropped once no reader can be left on it. */
  async switchTo(generation: number): Promise<void> {
    // What this process wrote to last, if the pointer moved (or went) since: dropped too.
    const cached = this.serving;
    const before = await this.read();
    const [result] = await this.hot.applyMany([
      { key: this.pointer, version: generation, fields: { generation: String(generation) } },
    ]);
    if (result?.status !== "applied") {
      throw new Error(`generation ${generation} cannot follow switch ${result?.current ?? this.switches}`);
    }
    this.serving = generation;
    this.switches = generation;
    this.readAt = performance.now();
    for (const old of new Set([before, cached])) {
      if (old === generation) continue;
      const prefix = this.prefixOf(old);
      this.dropping.add(prefix);
      setTimeout(
        () =>
          void this.hot
            .clear(prefix)
            .catch(() => {})
            .finally(() => this.dropping.delete(prefix)),
        3 * this.refreshMs,
      ).unref?.();
    }
  }
}

/**
 * A projection that keeps one hot document per aggregate, at the aggregate's version. The hot lookup
 * applies a write only on top of the version before it, so a duplicate changes nothing and a gap is
 * reported; the missing events are then read from the event store and applied first.
 */
export const documentProjection = (spec: DocumentProjectionSpec): Projection => {
  const { hot, keys, fieldsOf } = spec;
  const writeOf = (prefix: string, event: EventEnvelope): VersionedWrite => ({
    key: prefix + idOfStream(spec.aggregateType, event.streamId),
    version: event.version,
    fields: fieldsOf(event),
  });
  const foldInto = (fold: Fold, prefix: string, events: readonly EventEnvelope[]) => {
    for (const event of events) {
      if (event.aggregateType === spec.aggregateType) fold.add(writeOf(prefix, event));
    }
  };
  /** Applies the writes; a document found behind one gets the versions it misses from the store first. */
  const applyFilling = async (prefix: string, writes: readonly VersionedWrite[], store: EventStore) => {
    const results = await hot.applyMany(writes);
    const gaps = new Map<string, { current: number; upTo: number }>();
    for (const [i, result] of results.entries()) {
      const write = writes[i];
      if (result.status !== "gap" || !write) continue;
      const gap = gaps.get(write.key);
      gaps.set(write.key, {
        current: gap?.current ?? result.current,
        upTo: Math.max(gap?.upTo ?? 0, write.version),
      });
    }
    for (const [key, { current, upTo }] of gaps) {
      const streamId = streamIdOf(spec.aggregateType, key.slice(prefix.length));
      const missing = await store.readStream(streamId, { after: current, upTo });
      const filled = await hot.applyMany(coalesce(missing.map((event) => writeOf(prefix, event))));
      const stillMissing = filled.find((r) => r.status === "gap");
      if (stillMissing || missing.at(-1)?.version !== upTo) {
        throw new Error(`${streamId}: cannot fill the gap after version ${current} from the event store`);
      }
    }
  };
  /** Subjects whose erasure this process applied (bounded: the oldest are let go). */
  const erasedHere = new Set<string>();
  /** Blanks the personal fields of the documents of subjects erased: after the writes before them. */
  const erase = async (prefix: string, subjects: readonly string[]) => {
    const fields = spec.erasedFields;
    if (!fields) return;
    for (const subject of subjects) {
      if (erasedHere.size >= FOLD_KEYS) erasedHere.delete(erasedHere.values().next().value as string);
      erasedHere.add(subject);
      await hot.overwrite(prefix + subject, fields);
    }
  };
  /**
   * Subjects of `events` whose erasure was applied here, though these were opened with their data (read
   * before it, on another shard): what they wrote is blanked again. Events opened after it say what
   * they erased.
   */
  const lateFor = (events: readonly EventEnvelope[]): string[] => [
    ...new Set(
      events
        .filter((e) => e.aggregateType === spec.aggregateType && e.erased === undefined)
        .map((e) => idOfStream(spec.aggregateType, e.streamId))
        .filter((id) => erasedHere.has(id)),
    ),
  ];
  const applyTo = async (prefix: string, events: readonly EventEnvelope[], store: EventStore) => {
    const fold = new Fold();
    foldInto(fold, prefix, events);
    await applyFilling(prefix, fold.take(), store);
    const erased = [...erasedSubjects(events), ...lateFor(events)];
    // In a generation switched from as well: until it is dropped, it still holds its documents.
    if (erased.length > 0)
      for (const kept of new Set([prefix, ...(await keys.kept())])) await erase(kept, erased);
  };

  /**
   * What fills a new generation: the log read from the start touches each document many times, so
   * the writes are folded across pages, up to `foldKeys` documents held, before they go out.
   */
  const fillOf = (prefix: string) => {
    const fold = new Fold();
    const flush = async (store: EventStore) => {
      const writes = fold.take();
      for (let i = 0; i < writes.length; i += FLUSH_WRITES) {
        await applyFilling(prefix, writes.slice(i, i + FLUSH_WRITES), store);
      }
    };
    return {
      apply: async (events: readonly EventEnvelope[], { store }: ProjectionContext) => {
        foldInto(fold, prefix, events);
        const erased = [...erasedSubjects(events), ...lateFor(events)];
        // Events read before the erasure may hold what it erased: written first, then blanked.
        if (erased.length > 0 || fold.size >= (spec.foldKeys ?? FOLD_KEYS)) await flush(store);
        await erase(prefix, erased);
      },
      flush: ({ store }: ProjectionContext) => flush(store),
    };
  };

  return {
    name: spec.name,
    aggregateTypes: spec.erasedFields ? [spec.aggregateType, SUBJECT_TYPE] : [spec.aggregateType],
    apply: async (events, { store }) => applyTo(await keys.current(), events, store),
    reset: async () => hot.clear(await keys.current()),
    ping: () => hot.ping(),
    generations: {
      serving: () => keys.read(),
      async create() {
        const generation = await keys.next();
        const prefix = keys.prefixOf(generation);
        // Left by a rebuild that did not finish: it starts empty.
        await hot.clear(prefix);
        return { generation, fill: fillOf(prefix) };
      },
      switchTo: (generation) => keys.switchTo(generation),
      adopt: () => keys.adopt(),
      drop: (generation) => hot.clear(keys.prefixOf(generation)),
    },
    // What a volatile store holds is rebuilt at every start; one that keeps it can lose it.
    ...(hot.volatile ? { volatile: true } : { intact: () => keys.intact() }),
  };
};
