import { idOfStream } from "../aggregate.ts";
import type { HotLookup, VersionedWrite } from "../hot-lookup/hot-lookup.ts";
import type { EventEnvelope } from "../store/envelope.ts";
import type { EventStore } from "../store/event-store.ts";
import type { Projection } from "./projection.ts";

export interface DocumentProjectionSpec {
  readonly name: string;
  readonly aggregateType: string;
  readonly hot: HotLookup;
  /** Where its documents are, by generation: what the read routes read through too. */
  readonly keys: DocumentKeys;
  /** The document fields an event sets; an event that sets none still moves the version. */
  readonly fieldsOf: (event: EventEnvelope) => Record<string, string>;
}

/**
 * The keys of a document projection's generations, and which one serves. Generation 0 is `legacyPrefix`
 * (where documents were kept before generations); generation g is `prefix` + `g<g>:`. Which serves is
 * a document of its own, `prefix` + `serving`, whose version is the generation (so a switch is a
 * versioned write: from exactly the one before). A process reads it at most every `refreshMs`, and a
 * generation switched from is dropped only after a few of those, so that no reader is left on it.
 */
export class DocumentKeys {
  private serving = 0;
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
    this.serving = Number(document?.version ?? 0);
    this.readAt = performance.now();
    return this.serving;
  }

  /** The key prefix of the generation serving (read again once `refreshMs` old). */
  async current(): Promise<string> {
    if (performance.now() - this.readAt >= this.refreshMs) await this.read();
    return this.prefixOf(this.serving);
  }

  /** Whether the hot lookup still holds what says which generation serves (a flush loses it). */
  async intact(): Promise<boolean> {
    return (await this.hot.get(this.pointer)) !== undefined;
  }

  /** From now on `generation` serves; the one before is dropped once no reader can be left on it. */
  async switchTo(generation: number): Promise<void> {
    const before = await this.read();
    const [result] = await this.hot.applyMany([
      { key: this.pointer, version: generation, fields: { generation: String(generation) } },
    ]);
    if (result?.status !== "applied") {
      throw new Error(`generation ${generation} cannot follow generation ${result?.current ?? before}`);
    }
    this.serving = generation;
    this.readAt = performance.now();
    if (before !== generation) {
      const old = this.prefixOf(before);
      setTimeout(() => void this.hot.clear(old).catch(() => {}), 3 * this.refreshMs).unref?.();
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
  const writesOf =
    (prefix: string) =>
    (event: EventEnvelope): VersionedWrite => ({
      key: prefix + idOfStream(spec.aggregateType, event.streamId),
      version: event.version,
      fields: fieldsOf(event),
    });
  const applyTo = async (prefix: string, events: readonly EventEnvelope[], store: EventStore) => {
    const writeOf = writesOf(prefix);
    const ours = events.filter((e) => e.aggregateType === spec.aggregateType);
    const results = await hot.applyMany(ours.map(writeOf));
    const gaps = new Map<string, { current: number; upTo: number }>();
    for (const [i, result] of results.entries()) {
      const event = ours[i];
      if (result.status !== "gap" || !event) continue;
      const gap = gaps.get(event.streamId);
      gaps.set(event.streamId, {
        current: gap?.current ?? result.current,
        upTo: Math.max(gap?.upTo ?? 0, event.version),
      });
    }
    for (const [streamId, { current, upTo }] of gaps) {
      const missing = await store.readStream(streamId, { after: current, upTo });
      const filled = await hot.applyMany(missing.map(writeOf));
      const stillMissing = filled.find((r) => r.status === "gap");
      if (stillMissing || missing.at(-1)?.version !== upTo) {
        throw new Error(`${streamId}: cannot fill the gap after version ${current} from the event store`);
      }
    }
  };

  return {
    name: spec.name,
    aggregateTypes: [spec.aggregateType],
    apply: async (events, { store }) => applyTo(await keys.current(), events, store),
    reset: async () => hot.clear(await keys.current()),
    ping: () => hot.ping(),
    generations: {
      serving: () => keys.read(),
      async create() {
        const generation = (await keys.read()) + 1;
        const prefix = keys.prefixOf(generation);
        // Left by a rebuild that did not finish: it starts empty.
        await hot.clear(prefix);
        return { generation, fill: { apply: (events, { store }) => applyTo(prefix, events, store) } };
      },
      switchTo: (generation) => keys.switchTo(generation),
      drop: (generation) => hot.clear(keys.prefixOf(generation)),
    },
    // What a volatile store holds is rebuilt at every start; one that keeps it can lose it.
    ...(hot.volatile ? { volatile: true } : { intact: () => keys.intact() }),
  };
};
