import type { ClickHouseClient } from "@clickhouse/client";
import { idOfStream } from "../../src/aggregate.ts";
import { queryRows } from "../../src/analytics/clickhouse.ts";
import { ERASED } from "../../src/privacy/personal-data.ts";
import { erasedSubjectOf, SUBJECT_TYPE } from "../../src/privacy/subject-stream.ts";
import type { Projection } from "../../src/projector/projection.ts";
import type { EventEnvelope } from "../../src/store/envelope.ts";
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
  /**
   * The aggregate whose instances are data subjects, and the fields of its events' data that are
   * personal (strings): blanked in the rows of a subject once its erasure reaches the projection.
   */
  readonly erasure?: { readonly aggregateType: string; readonly fields: readonly string[] };
}

/**
 * A mutation that blanks the personal fields of the subjects' rows, in `data` and in the projections
 * made from it (`by_day` keeps a day's first and last `data`); it returns once every part is rewritten.
 * The fields' values are JSON strings, matched with their escapes.
 */
const eraseStatement = (db: string, table: string, fields: readonly string[]) =>
  `ALTER TABLE ${db}.${table} UPDATE data = replaceRegexpAll(data, '"(${fields.join("|")})":"(?:[^"\\\\\\\\]|\\\\\\\\.)*"', '"\\\\1":"${ERASED}"')
   WHERE aggregate_type = {type:String} AND aggregate_id IN {ids:Array(String)} SETTINGS mutations_sync = 2`;

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
  const { erasure } = options;
  /** Subjects whose erasure this process has applied: a row of theirs still on its way is blanked too. */
  const erased = new Set<string>();
  /**
   * The events to insert, those of a subject erased blanked (read before the erasure, they may hold
   * what it erased); and the subjects erased in this batch.
   */
  const split = (events: readonly EventEnvelope[]) => {
    const subjects: string[] = [];
    const rows: EventEnvelope[] = [];
    for (const event of events) {
      // An erasure is a row like any event (analysts count them), and says whose rows to blank.
      const subject = erasedSubjectOf(event);
      if (subject !== undefined) subjects.push(subject);
      rows.push(event);
    }
    for (const subject of subjects) erased.add(subject);
    // Rows of a subject that carry its personal values as opened: if its erasure is applied before
    // they are in (on another shard, while they wait to be inserted), they are blanked again after.
    const exposed = new Set(
      erasure
        ? rows
            .filter(
              (e) =>
                e.aggregateType === erasure.aggregateType &&
                erasure.fields.some((f) => {
                  const value = (e.data as Record<string, unknown>)[f];
                  return value !== undefined && value !== ERASED;
                }),
            )
            .map((e) => idOfStream(e.aggregateType, e.streamId))
        : [],
    );
    if (!erasure || erased.size === 0) return { rows, subjects, exposed };
    const blanked = rows.map((event) => {
      if (
        event.aggregateType !== erasure.aggregateType ||
        !erased.has(idOfStream(event.aggregateType, event.streamId))
      )
        return event;
      const data = { ...(event.data as Record<string, unknown>) };
      for (const field of erasure.fields) if (data[field] !== undefined) data[field] = ERASED;
      return { ...event, data };
    });
    return { rows: blanked, subjects, exposed };
  };
  /** After the batch's rows are in: the rows of the subjects erased, wherever they are, blanked. */
  const eraseRows = async (table: string, subjects: readonly string[]) => {
    if (!erasure || subjects.length === 0) return;
    await client.command({
      query: eraseStatement(db, table, erasure.fields),
      query_params: { type: erasure.aggregateType, ids: subjects },
    });
  };

  return {
    name: "analytics",
    aggregateTypes: erasure ? [...options.aggregateTypes, SUBJECT_TYPE] : options.aggregateTypes,
    createSchema: ensureSchema,
    // In slices of streams, with a turn of the event loop between them: a large batch in one go would
    // hold the event loop, and every request arriving meanwhile would wait for it.
    async apply(all, { store }) {
      const { rows: events, subjects, exposed } = split(all);
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
      await eraseRows("events", [
        ...subjects,
        ...[...exposed].filter((s) => erased.has(s) && !subjects.includes(s)),
      ]);
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
            async apply(all, { store }) {
              const { rows: events, subjects, exposed } = split(all);
              const batch = await rowsToInsert(
                filled,
                Map.groupBy(events, (e) => e.streamId),
                store,
              );
              if (batch.lines.length > 0) await insertNext(batch.lines);
              await filled.remember(batch.reached);
              await eraseRows(NEXT, [
                ...subjects,
                ...[...exposed].filter((s) => erased.has(s) && !subjects.includes(s)),
              ]);
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
