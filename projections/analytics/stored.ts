import type { ClickHouseClient } from "@clickhouse/client";
import { queryRows } from "../../src/analytics/clickhouse.ts";
import { forEachInSlices } from "../../src/lib/event-loop.ts";
import type { EventEnvelope } from "../../src/store/envelope.ts";
import type { EventStore } from "../../src/store/event-store.ts";
import { toLine } from "./rows.ts";

/** Streams applied between two turns of the event loop: about a millisecond's work. */
const slice = 250;

/**
 * Remembers how far streams are, so most batches need no lookup; bounded, first remembered first
 * out. An update stays in place: moving the entry to the back on every event (an exact LRU) churns a
 * large Map into rehashes that stall the event loop, and a forgotten stream costs only one query.
 */
class VersionCache {
  private readonly versions = new Map<string, number>();
  constructor(private readonly capacity: number) {}
  get(streamId: string): number | undefined {
    return this.versions.get(streamId);
  }
  set(streamId: string, version: number): void {
    this.versions.set(streamId, version);
    if (this.versions.size > this.capacity) {
      const oldest = this.versions.keys().next().value;
      if (oldest !== undefined) this.versions.delete(oldest);
    }
  }
  forget(streamId: string): void {
    this.versions.delete(streamId);
  }
  clear(): void {
    this.versions.clear();
  }
}

/** Versions 1..last that `present` lacks. */
const holesBelow = (last: number, present: readonly number[]): number[] => {
  const seen = new Set(present);
  const holes: number[] = [];
  for (let version = 1; version < last; version++) if (!seen.has(version)) holes.push(version);
  return holes;
};

/**
 * How far each stream already is in `events`: from the cache when it knows, else from ClickHouse,
 * which counts each stream's rows: fewer than its last version means holes below it (rare: an insert
 * that wrote part of its rows and then failed leaves them).
 */
export class StoredVersions {
  private readonly cache = new VersionCache(200_000);

  constructor(
    private readonly client: ClickHouseClient,
    private readonly db: string,
    private readonly table = "events",
  ) {}

  /** The last version of each stream in the table, and the streams with holes below it. */
  async progressOf(streamIds: Iterable<string>) {
    const versions = new Map<string, number>();
    const holes = new Map<string, number[]>();
    const unknown: string[] = [];
    await forEachInSlices(streamIds, slice, (id) => {
      const version = this.cache.get(id);
      if (version === undefined) unknown.push(id);
      else versions.set(id, version);
    });
    if (unknown.length === 0) return { versions, holes };
    // One query for all the streams the cache does not know, not one per slice of them: fewer round trips.
    const rows = await queryRows<{ stream_id: string; version: string; events: string }>(
      this.client,
      `SELECT stream_id, max(version) AS version, count() AS events FROM ${this.db}.${this.table}
       WHERE stream_id IN {ids:Array(String)} GROUP BY stream_id`,
      { ids: unknown },
    );
    for (const id of unknown) versions.set(id, 0);
    const holey: string[] = [];
    for (const row of rows) {
      versions.set(row.stream_id, Number(row.version));
      if (Number(row.events) < Number(row.version)) holey.push(row.stream_id);
    }
    if (holey.length > 0) {
      const present = await queryRows<{ stream_id: string; versions: string[] }>(
        this.client,
        `SELECT stream_id, groupArray(version) AS versions FROM ${this.db}.${this.table}
         WHERE stream_id IN {ids:Array(String)} GROUP BY stream_id`,
        { ids: holey },
      );
      for (const row of present) {
        holes.set(row.stream_id, holesBelow(versions.get(row.stream_id) ?? 0, row.versions.map(Number)));
      }
    }
    return { versions, holes };
  }

  /** Remembers how far streams are, once their rows are in. */
  remember(reached: Iterable<readonly [string, number]>): Promise<void> {
    return forEachInSlices(reached, slice, ([streamId, version]) => this.cache.set(streamId, version));
  }

  /** Forgets streams whose insert failed: some of its rows may be in, so the next look asks ClickHouse. */
  forget(streamIds: Iterable<string>): void {
    for (const streamId of streamIds) this.cache.forget(streamId);
  }

  clear(): void {
    this.cache.clear();
  }
}

/** These versions of a stream, from the event store; all of them, or an error. */
const fromStore = async (store: EventStore, streamId: string, wanted: readonly number[]) => {
  const first = wanted[0] ?? 1;
  const last = wanted.at(-1) ?? 0;
  const want = new Set(wanted);
  const found = (await store.readStream(streamId, { after: first - 1, upTo: last })).filter((e) =>
    want.has(e.version),
  );
  if (found.length !== wanted.length) {
    throw new Error(`${streamId}: events ${first}..${last} are not all in the event store`);
  }
  return found;
};

/** The stream's events by version: as they come from the log, unless they do not. */
const inOrder = (stream: readonly EventEnvelope[]): readonly EventEnvelope[] => {
  for (let i = 1; i < stream.length; i++) {
    if ((stream[i] as EventEnvelope).version < (stream[i - 1] as EventEnvelope).version)
      return stream.toSorted((a, b) => a.version - b.version);
  }
  return stream;
};

/** The versions missing between `version` and the events after it. */
const gapsAfter = (ordered: readonly EventEnvelope[], version: number): number[] => {
  const gaps: number[] = [];
  let at = version;
  for (const event of ordered) {
    if (event.version <= at) continue;
    for (let missing = at + 1; missing < event.version; missing++) gaps.push(missing);
    at = event.version;
  }
  return gaps;
};

/**
 * The rows of a batch that the table lacks, and how far each stream will be once they are in: what is
 * there is dropped, and the events missing below or between the batch's are read from the event store.
 */
export const rowsToInsert = async (
  stored: StoredVersions,
  streams: ReadonlyMap<string, readonly EventEnvelope[]>,
  store: EventStore,
) => {
  const { versions, holes } = await stored.progressOf(streams.keys());
  const lines: string[] = [];
  const reached: [string, number][] = [];
  /** Rows for the stream's events past where the table is, the ones read from the store among them. */
  const take = (streamId: string, ordered: readonly EventEnvelope[]) => {
    let version = versions.get(streamId) ?? 0;
    for (const event of ordered) {
      if (event.version <= version) continue;
      lines.push(toLine(event));
      version = event.version;
    }
    reached.push([streamId, version]);
  };
  await forEachInSlices(streams, slice, ([streamId, stream]) => {
    const ordered = inOrder(stream);
    const below = holes.get(streamId) ?? [];
    const between = gapsAfter(ordered, versions.get(streamId) ?? 0);
    // Most streams need nothing from the store: those are done without a promise each.
    if (below.length === 0 && between.length === 0) return take(streamId, ordered);
    return (async () => {
      if (below.length > 0)
        for (const event of await fromStore(store, streamId, below)) lines.push(toLine(event));
      const read = between.length > 0 ? await fromStore(store, streamId, between) : [];
      take(streamId, inOrder([...read, ...ordered]));
    })();
  });
  return { lines, reached };
};
