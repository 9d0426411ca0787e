import type { ClickHouseClient } from "@clickhouse/client";
import { queryRows } from "../../src/analytics/clickhouse.ts";
import type { Projection } from "../../src/projector/projection.ts";
import { CoalescedInsertFailed, coalescingInserter, insertInto } from "./inserter.ts";
import { createSchema, dropTables, generationOf, schemaStatements } from "./schema.ts";
import { rowsToInsert, StoredVersions } from "./stored.ts";
import { createViews } from "./views.ts";

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
  /** The analysts' views go in `<viewsSchema>_v1` (views.ts); unset: no views. */
  readonly viewsSchema?: string;
}

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
): Projection & { createSchema(): Promise<void> } => {
  const { client, database: db } = options;
  const ensureSchema = async () => {
    await createSchema(client, db);
    if (options.viewsSchema) await createViews(client, db, options.viewsSchema);
  };
  const stored = new StoredVersions(client, db);
  const insert = insertInto(client, db);
  const servingGeneration = async () => {
    const rows = await queryRows<{ comment: string }>(
      client,
      "SELECT comment FROM system.tables WHERE database = {db:String} AND name = 'events'",
      { db },
    );
    return generationOf(rows[0]?.comment);
  };
  const inserter = coalescingInserter(insert, {
    intervalMs: options.insertIntervalMs ?? 0,
    maxRows: options.insertMaxRows ?? 4_000,
  });

  return {
    name: "analytics",
    aggregateTypes: options.aggregateTypes,
    createSchema: ensureSchema,
    // In slices of streams, with a turn of the event loop between them: a large batch in one go would
    // hold the event loop, and every request arriving meanwhile would wait for it.
    async apply(events, { store }) {
      const streams = Map.groupBy(events, (e) => e.streamId);
      let batch = await rowsToInsert(stored, streams, store);
      if (batch.lines.length > 0) {
        const failure = await inserter.submit(batch.lines);
        if (failure) {
          stored.forget(streams.keys());
          if (!(failure instanceof CoalescedInsertFailed)) throw failure;
          batch = await rowsToInsert(stored, streams, store);
          if (batch.lines.length > 0) await insert(batch.lines);
        }
      }
      await stored.remember(batch.reached);
    },
    // Dropped and made again, not truncated: a rebuild also makes the tables as the schema is now.
    async reset() {
      stored.clear();
      await dropTables(client, db);
      await ensureSchema();
    },
    async ping() {
      await client.ping();
    },
    generations: {
      serving: () => servingGeneration(),
      async create() {
        const generation = (await servingGeneration()) + 1;
        await client.command({ query: `DROP TABLE IF EXISTS ${db}.${NEXT} SYNC` });
        for (const query of schemaStatements(db, NEXT, generation)) await client.command({ query });
        // Filled as the live table is, but alone in it: no coalescing, its own versions.
        const filled = new StoredVersions(client, db, NEXT);
        const insertNext = insertInto(client, db, NEXT);
        return {
          generation,
          fill: {
            async apply(events, { store }) {
              const batch = await rowsToInsert(
                filled,
                Map.groupBy(events, (e) => e.streamId),
                store,
              );
              if (batch.lines.length > 0) await insertNext(batch.lines);
              await filled.remember(batch.reached);
            },
          },
        };
      },
      async switchTo() {
        // One statement: a query sees the old table whole or the new one whole, never a part of either.
        await client.command({ query: `EXCHANGE TABLES ${db}.events AND ${db}.${NEXT}` });
        stored.clear();
        await client.command({ query: `DROP TABLE IF EXISTS ${db}.${NEXT} SYNC` });
      },
      async drop() {
        await client.command({ query: `DROP TABLE IF EXISTS ${db}.${NEXT} SYNC` });
      },
    },
  };
};

/** The table a rebuild fills before it becomes `events`. */
const NEXT = "events_next";
