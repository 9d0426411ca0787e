import { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import type { ClickHouseClient } from "@clickhouse/client";
import { queryRows } from "../../src/analytics/clickhouse.ts";
import { Batcher } from "../../src/lib/batcher.ts";
import { forEachInSlices } from "../../src/lib/event-loop.ts";
import type { Projection } from "../../src/projector/projection.ts";
import type { EventEnvelope } from "../../src/store/envelope.ts";
import type { EventStore } from "../../src/store/event-store.ts";
import { eventsEngine, schemaStatements, tables } from "./schema.ts";

interface Row {
  stream_id: string;
  version: number;
  position: number;
  event_id: string;
  aggregate_type: string;
  aggregate_id: string;
  type: string;
  time: number;
  currency: string;
  amount: number;
  balance: number;
  data: string;
}

/** A row as a line of `JSONEachRow`: encoded while the apply runs in slices, not all at insert time. */
const toLine = (event: EventEnvelope): string => {
  const data = event.data as { currency?: unknown; amount?: unknown; balance?: unknown };
  const row: Row = {
    stream_id: event.streamId,
    version: event.version,
    position: event.position,
    event_id: event.eventId,
    aggregate_type: event.aggregateType,
    aggregate_id: event.streamId.slice(event.aggregateType.length + 1),
    type: event.type,
    time: Math.floor(Date.parse(event.time) / 1000),
    currency: typeof data.currency === "string" ? data.currency : "",
    amount: typeof data.amount === "number" ? data.amount : 0,
    balance: typeof data.balance === "number" ? data.balance : 0,
    data: JSON.stringify(event.data),
  };
  return `${JSON.stringify(row)}\n`;
};

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

export interface AnalyticsProjectionOptions {
  readonly client: ClickHouseClient;
  readonly database: string;
  readonly aggregateTypes: readonly string[];
  /**
   * Inserts start at least this far apart (unless `insertMaxRows` are waiting); applies from all shards
   * in between go as one. Each insert is a new data part (files, then merges), so a few large inserts
   * cost ClickHouse far less than many small ones; ClickHouse asks for about one a second.
   */
  readonly insertIntervalMs?: number;
  /** Rows at which a lingering insert goes at once (default 4 000). */
  readonly insertMaxRows?: number;
}

/** A coalesced insert failed: each apply in it looks again at what got in and inserts the rest alone. */
class CoalescedInsertFailed extends Error {
  constructor(cause: Error) {
    super(`an insert of several applies failed: ${cause.message}`, { cause });
  }
}

/**
 * Applies from all shard consumers, coalesced into one insert. If that insert fails, every apply in it
 * gets `CoalescedInsertFailed`, so that a bad batch fails only its own apply and not its neighbours'.
 */
const coalescingInserter = (
  insert: (lines: readonly string[]) => Promise<void>,
  options: { readonly intervalMs: number; readonly maxRows: number },
) =>
  new Batcher<readonly string[], Error | undefined>(
    async (parts) => {
      try {
        await insert(parts.flat());
        return parts.map(() => undefined);
      } catch (error) {
        if (parts.length === 1) return [toError(error)];
        const failed = new CoalescedInsertFailed(toError(error));
        return parts.map(() => failed);
      }
    },
    { maxBatch: options.maxRows, weigh: (lines) => lines.length, minIntervalMs: options.intervalMs },
  );

const toError = (error: unknown) => (error instanceof Error ? error : new Error(String(error)));

/** Versions 1..last that `present` lacks. */
const holesBelow = (last: number, present: readonly number[]): number[] => {
  const seen = new Set(present);
  const holes: number[] = [];
  for (let version = 1; version < last; version++) if (!seen.has(version)) holes.push(version);
  return holes;
};

/**
 * Events into ClickHouse, each exactly once. Before a batch is inserted, it learns how far each of its
 * streams already is (cache, else one indexed query), drops what is there, and reads from the event
 * store any events missing in between. One shard queue has one consumer, so nobody else inserts these
 * streams meanwhile.
 *
 * A failed insert may still have written some of its rows (its answer lost; one part per month of an
 * insert spanning two, the first written). So after a failure the cache forgets the batch's streams,
 * and the next look asks ClickHouse, which counts each stream's rows: fewer than its last version
 * means holes, which are filled from the event store.
 */
export const analyticsProjection = (
  options: AnalyticsProjectionOptions,
): Projection & { migrate(): Promise<string[]> } => {
  const { client, database: db } = options;
  const cache = new VersionCache(200_000);
  // `exec` with values sends rows already encoded in the statement's format (`insert` would encode
  // them all again, in one go).
  const insert = async (lines: readonly string[]) => {
    const { stream } = await client.exec({
      query: `INSERT INTO ${db}.events FORMAT JSONEachRow`,
      values: Readable.from(lines.join("")),
    });
    // The answer to an INSERT is empty, but it must be read for the connection to be reused.
    stream.resume();
    await finished(stream);
  };
  const inserter = coalescingInserter(insert, {
    intervalMs: options.insertIntervalMs ?? 0,
    maxRows: options.insertMaxRows ?? 4_000,
  });

  /** The last version of each stream in the table, and the streams with holes below it (rare). */
  const progressOf = async (streamIds: Iterable<string>) => {
    const versions = new Map<string, number>();
    const holes = new Map<string, number[]>();
    const unknown: string[] = [];
    await forEachInSlices(streamIds, slice, (id) => {
      const version = cache.get(id);
      if (version === undefined) unknown.push(id);
      else versions.set(id, version);
    });
    if (unknown.length === 0) return { versions, holes };
    // One query for all the streams the cache does not know (one per slice made eight times as many).
    const rows = await queryRows<{ stream_id: string; version: string; events: string }>(
      client,
      `SELECT stream_id, max(version) AS version, count() AS events FROM ${db}.events
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
        client,
        `SELECT stream_id, groupArray(version) AS versions FROM ${db}.events
         WHERE stream_id IN {ids:Array(String)} GROUP BY stream_id`,
        { ids: holey },
      );
      for (const row of present) {
        holes.set(row.stream_id, holesBelow(versions.get(row.stream_id) ?? 0, row.versions.map(Number)));
      }
    }
    return { versions, holes };
  };

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

  /** The rows of a batch that the table lacks, and how far each stream will be once they are in. */
  const rowsToInsert = async (streams: Map<string, EventEnvelope[]>, store: EventStore) => {
    const { versions, holes } = await progressOf(streams.keys());
    const lines: string[] = [];
    const reached: [string, number][] = [];
    await forEachInSlices(streams, slice, async ([streamId, stream]) => {
      const missing = holes.get(streamId);
      if (missing && missing.length > 0) {
        for (const event of await fromStore(store, streamId, missing)) lines.push(toLine(event));
      }
      let version = versions.get(streamId) ?? 0;
      for (const event of stream.toSorted((a, b) => a.version - b.version)) {
        if (event.version <= version) continue;
        if (event.version > version + 1) {
          const between = Array.from({ length: event.version - 1 - version }, (_, i) => version + 1 + i);
          for (const missed of await fromStore(store, streamId, between)) lines.push(toLine(missed));
        }
        lines.push(toLine(event));
        version = event.version;
      }
      reached.push([streamId, version]);
    });
    return { lines, reached };
  };

  const migrate = async (): Promise<string[]> => {
    for (const statement of schemaStatements(db)) await client.command({ query: statement });
    const [table] = await queryRows<{ engine: string }>(
      client,
      "SELECT engine FROM system.tables WHERE database = {db:String} AND name = 'events'",
      { db },
    );
    if (table && table.engine !== eventsEngine) {
      return [
        `${db}.events is a ${table.engine} (made by an earlier version); it works, but its merges take ` +
          `more memory: rebuild the analytics projection to move it to a ${eventsEngine}`,
      ];
    }
    return [];
  };

  return {
    name: "analytics",
    aggregateTypes: options.aggregateTypes,
    migrate,
    // In slices of streams, with a turn of the event loop between them: a batch of 2 000 events took
    // 10-30 ms in one go (a cache lookup in a Map of 200 000 streams alone costs ~1 µs), which every
    // request arriving meanwhile waited for.
    async apply(events, { store }) {
      const streams = Map.groupBy(events, (e) => e.streamId);
      let batch = await rowsToInsert(streams, store);
      if (batch.lines.length > 0) {
        const failure = await inserter.submit(batch.lines);
        if (failure) {
          for (const streamId of streams.keys()) cache.forget(streamId);
          if (!(failure instanceof CoalescedInsertFailed)) throw failure;
          batch = await rowsToInsert(streams, store);
          if (batch.lines.length > 0) await insert(batch.lines);
        }
      }
      await forEachInSlices(batch.reached, slice, ([streamId, version]) => cache.set(streamId, version));
    },
    // Dropped and made again, not truncated: a rebuild also moves a table made by an earlier schema.
    async reset() {
      cache.clear();
      for (const table of tables) await client.command({ query: `DROP TABLE IF EXISTS ${db}.${table} SYNC` });
      await migrate();
    },
    async ping() {
      await client.ping();
    },
  };
};
