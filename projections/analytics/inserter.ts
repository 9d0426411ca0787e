import { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import type { ClickHouseClient } from "@clickhouse/client";
import { Batcher } from "../../src/lib/batcher.ts";
import { toError } from "../../src/lib/errors.ts";

/** Writes rows, already lines of `JSONEachRow` (rows.ts), into `events` in one INSERT. */
export type Insert = (lines: readonly string[]) => Promise<void>;

/**
 * `exec` with values sends rows already encoded in the statement's format (`insert` would encode
 * them all again, in one go).
 */
export const insertInto =
  (client: ClickHouseClient, db: string, table = "events"): Insert =>
  async (lines) => {
    const { stream } = await client.exec({
      query: `INSERT INTO ${db}.${table} FORMAT JSONEachRow`,
      values: Readable.from(lines.join("")),
    });
    // The answer to an INSERT is empty, but it must be read for the connection to be reused.
    stream.resume();
    await finished(stream);
  };

/** A coalesced insert failed: each apply in it looks again at what got in and inserts the rest alone. */
export class CoalescedInsertFailed extends Error {
  constructor(cause: Error) {
    super(`an insert of several applies failed: ${cause.message}`, { cause });
  }
}

export interface CoalescingOptions {
  /** Inserts start at least this far apart, unless `maxRows` are waiting. */
  readonly intervalMs: number;
  /** Rows at which a lingering insert goes at once. */
  readonly maxRows: number;
}

/**
 * Applies from all shard consumers, coalesced into one insert. If that insert fails, every apply in it
 * gets `CoalescedInsertFailed`, so that a bad batch fails only its own apply and not its neighbours'.
 * A submit resolves to the error of its insert, or to `undefined` once its rows are in.
 */
export const coalescingInserter = (insert: Insert, options: CoalescingOptions) =>
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
