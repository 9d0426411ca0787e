import type { Database, Statement } from "bun:sqlite";
import { leafText } from "../../ledger/leaf.ts";
import {
  type Coord,
  Frontier,
  frontierCoords,
  type Hash,
  leafHashOfText,
  nodeHash,
} from "../../ledger/merkle.ts";
import type { LedgerKey, LedgerLeaf, SignedHead, TreeExtent } from "../ledger-store.ts";
import { LedgerNodeMissingError } from "../ledger-store.ts";
import type { EventRow } from "./schema.ts";

interface LeafRow {
  leaf_index: number;
  position: number;
  hash: Uint8Array;
}

const toLeaf = (row: LeafRow): LedgerLeaf => ({
  index: row.leaf_index,
  position: row.position,
  hash: new Uint8Array(row.hash),
});

/** The leaf of an event row: its fields as stored, the time as the envelope shows it. */
export const rowLeafHash = (row: EventRow): Hash =>
  leafHashOfText(
    leafText({
      eventId: row.event_id,
      streamId: row.stream_id,
      aggregateType: row.aggregate_type,
      version: row.version,
      type: row.type,
      schemaVersion: row.schema_version,
      time: new Date(row.time).toISOString(),
      data: row.data,
      metadata: row.metadata,
    }),
  );

const statements = (db: Database) => ({
  last: db.prepare(
    "SELECT leaf_index, position, hash FROM ledger_leaves ORDER BY leaf_index DESC LIMIT 1",
  ) as Statement<LeafRow, []>,
  leaf: db.prepare("SELECT leaf_index, position, hash FROM ledger_leaves WHERE leaf_index = ?") as Statement<
    LeafRow,
    [number]
  >,
  leaves: db.prepare(
    "SELECT leaf_index, position, hash FROM ledger_leaves WHERE leaf_index >= ? ORDER BY leaf_index LIMIT ?",
  ) as Statement<LeafRow, [number, number]>,
  node: db.prepare("SELECT hash FROM ledger_nodes WHERE level = ? AND node_index = ?") as Statement<
    { hash: Uint8Array },
    [number, number]
  >,
  insertLeaf: db.prepare("INSERT INTO ledger_leaves (leaf_index, position, hash) VALUES (?, ?, ?)"),
  head: db.prepare("SELECT max(position) AS position FROM events") as Statement<
    { position: number | null },
    []
  >,
  insertNode: db.prepare("INSERT INTO ledger_nodes (level, node_index, hash) VALUES (?, ?, ?)"),
});

type Sql = ReturnType<typeof statements>;

/**
 * Nodes below this level are not stored: each is made again from its 2 to 8 leaves when a proof asks
 * for it (a few rows more per proof), which spares the append all but one node insert in sixteen.
 */
const STORED_FROM_LEVEL = 4;

/** Whether a completed node is kept: the leaves, and the subtrees of 16 leaves and more. */
const stored = ({ level }: Coord): boolean => level === 0 || level >= STORED_FROM_LEVEL;

const nodeOf = (sql: Sql, { level, index }: Coord): Hash | undefined => {
  if (level > 0 && level < STORED_FROM_LEVEL) {
    const width = 2 ** level;
    const rows = sql.leaves.all(index * width, width);
    if (rows.length !== width || rows[0]?.leaf_index !== index * width) return undefined;
    let hashes: Hash[] = rows.map((row) => new Uint8Array(row.hash));
    while (hashes.length > 1) {
      const up: Hash[] = [];
      for (let i = 0; i < hashes.length; i += 2) up.push(nodeHash(hashes[i] as Hash, hashes[i + 1] as Hash));
      hashes = up;
    }
    return hashes[0];
  }
  const hash = level === 0 ? sql.leaf.get(index)?.hash : sql.node.get(level, index)?.hash;
  return hash && new Uint8Array(hash);
};

/** The tree's right edge as the file holds it. */
const frontierOf = (sql: Sql): { frontier: Frontier; position: number } => {
  const last = sql.last.get();
  const size = last ? last.leaf_index + 1 : 0;
  const hashes = frontierCoords(size).map((coord) => {
    const hash = nodeOf(sql, coord);
    if (!hash) throw new LedgerNodeMissingError(`the ledger's node ${coord.level}/${coord.index} is missing`);
    return hash;
  });
  return { frontier: Frontier.restore(size, hashes), position: last?.position ?? 0 };
};

/**
 * The writer's side of the tree: each appended event becomes a leaf in the append's transaction, and
 * every subtree it completes a node, so the tree is always exactly the committed events. The right
 * edge is kept in memory (at most 64 hashes), so a leaf costs one hash per node it completes and no
 * read; it is read again under the write lock whenever another process has appended since.
 */
export class LedgerAppender {
  private readonly sql: Sql;
  private frontier: Frontier;
  private position: number;
  private saved: { frontier: Frontier; position: number } | undefined;

  constructor(private readonly db: Database) {
    this.sql = statements(db);
    ({ frontier: this.frontier, position: this.position } = frontierOf(this.sql));
  }

  /**
   * Under the write lock: picks up the leaves another process added since this one's last commit, and
   * makes leaves of events another process appended without them (one whose tree was off) before any
   * of this batch's, so that the tree never skips an event.
   */
  begin(): void {
    const last = this.sql.last.get();
    const size = last ? last.leaf_index + 1 : 0;
    if (size !== this.frontier.size)
      ({ frontier: this.frontier, position: this.position } = frontierOf(this.sql));
    if ((this.sql.head.get()?.position ?? 0) > this.position) {
      extendLedger(this.db);
      ({ frontier: this.frontier, position: this.position } = frontierOf(this.sql));
    }
    this.saved = {
      frontier: Frontier.restore(this.frontier.size, this.frontier.hashes()),
      position: this.position,
    };
  }

  add(position: number, hash: Hash): void {
    for (const { coord, hash: node } of this.frontier.push(hash)) {
      if (coord.level === 0) this.sql.insertLeaf.run(coord.index, position, node);
      else if (stored(coord)) this.sql.insertNode.run(coord.level, coord.index, node);
    }
    this.position = position;
  }

  rollback(): void {
    if (this.saved) ({ frontier: this.frontier, position: this.position } = this.saved);
    this.saved = undefined;
  }

  commit(): void {
    this.saved = undefined;
  }
}

/** Events hashed per statement, each followed by a progress report. */
const chunk = 20_000;

/**
 * Makes the tree over the events it does not cover yet, in position order, in the caller's
 * transaction: for a file of a format without the tree, every event. `onProgress` is told how many of
 * how many events it has hashed.
 */
export const extendLedger = (db: Database, onProgress?: (done: number, total: number) => void): void => {
  const sql = statements(db);
  const { frontier, position } = frontierOf(sql);
  const total =
    db.query<{ n: number }, [number]>("SELECT count(*) AS n FROM events WHERE position > ?").get(position)
      ?.n ?? 0;
  const read = db.prepare("SELECT * FROM events WHERE position > ? ORDER BY position LIMIT ?") as Statement<
    EventRow,
    [number, number]
  >;
  let done = 0;
  let after = position;
  onProgress?.(0, total);
  for (;;) {
    const rows = read.all(after, chunk);
    if (rows.length === 0) break;
    for (const row of rows) {
      for (const { coord, hash } of frontier.push(rowLeafHash(row))) {
        if (coord.level === 0) sql.insertLeaf.run(coord.index, row.position, hash);
        else if (stored(coord)) sql.insertNode.run(coord.level, coord.index, hash);
      }
      after = row.position;
    }
    done += rows.length;
    onProgress?.(done, total);
  }
};

interface HeadRow {
  tree_size: number;
  position: number;
  root_hash: string;
  timestamp: string;
  key_id: string;
  signature: string;
}

/** What a reading connection asks of the tree; each answer in one read transaction. */
export class LedgerReads {
  private readonly sql: Sql;
  private readonly head: Statement<HeadRow, []>;
  private readonly keys: Statement<{ key_id: string; public_key: string; since: string }, []>;
  private readonly begin: Statement;
  private readonly end: Statement;

  constructor(private readonly db: Database) {
    this.sql = statements(db);
    this.head = db.prepare("SELECT * FROM ledger_heads ORDER BY tree_size DESC LIMIT 1") as Statement<
      HeadRow,
      []
    >;
    this.keys = db.prepare("SELECT key_id, public_key, since FROM ledger_keys ORDER BY since, key_id");
    this.begin = db.prepare("BEGIN");
    this.end = db.prepare("COMMIT");
  }

  /** In one read transaction: the caller's, when it has one open (`ledger verify`'s snapshot). */
  private read<T>(work: () => T): T {
    if (this.db.inTransaction) return work();
    this.begin.run();
    try {
      return work();
    } finally {
      this.end.run();
    }
  }

  extent(): TreeExtent {
    const last = this.sql.last.get();
    return last ? { size: last.leaf_index + 1, position: last.position } : { size: 0, position: 0 };
  }

  nodes(coords: readonly Coord[]): Hash[] {
    return this.read(() =>
      coords.map((coord) => {
        const hash = nodeOf(this.sql, coord);
        if (!hash) throw new LedgerNodeMissingError(`the ledger holds no node ${coord.level}/${coord.index}`);
        return hash;
      }),
    );
  }

  leaves(fromIndex: number, limit: number): LedgerLeaf[] {
    return this.sql.leaves.all(fromIndex, limit).map(toLeaf);
  }

  /**
   * Leaf indexes and positions grow together: the leaf of a position is found by bisection over the
   * index (SQLite's positions have no gaps, so the first guess, `position - 1`, is the usual answer).
   */
  leafAt(position: number): LedgerLeaf | undefined {
    return this.read(() => {
      const guess = this.sql.leaf.get(position - 1);
      if (guess?.position === position) return toLeaf(guess);
      let low = 0;
      let high = this.extent().size - 1;
      while (low <= high) {
        const mid = Math.floor((low + high) / 2);
        const row = this.sql.leaf.get(mid);
        if (!row) return undefined;
        if (row.position === position) return toLeaf(row);
        if (row.position < position) low = mid + 1;
        else high = mid - 1;
      }
      return undefined;
    });
  }

  latestHead(): SignedHead | undefined {
    const row = this.head.get();
    return row
      ? {
          treeSize: row.tree_size,
          position: row.position,
          rootHash: row.root_hash,
          timestamp: row.timestamp,
          keyId: row.key_id,
          signature: row.signature,
        }
      : undefined;
  }

  ledgerKeys(): LedgerKey[] {
    return this.keys
      .all()
      .map((k) => ({ keyId: k.key_id, algorithm: "Ed25519", publicKey: k.public_key, since: k.since }));
  }
}

/** The writer's statements for heads and keys. */
export const ledgerWrites = (db: Database) => ({
  saveHead: db.prepare(
    `INSERT INTO ledger_heads (tree_size, position, root_hash, timestamp, key_id, signature)
     VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tree_size) DO NOTHING`,
  ),
  saveKey: db.prepare(
    `INSERT INTO ledger_keys (key_id, algorithm, public_key, since) VALUES (?, ?, ?, ?)
     ON CONFLICT (key_id) DO NOTHING`,
  ),
});

/**
 * The file as `ledger verify` reads it, read-only and beside a running service (WAL lets it): the
 * events hashed straight from their stored text, the fastest way through a large log.
 */
export const openVerifySource = (db: Database) => {
  const reads = new LedgerReads(db);
  const page = db.prepare("SELECT * FROM events WHERE position > ? ORDER BY position LIMIT ?") as Statement<
    EventRow,
    [number, number]
  >;
  return {
    sealsLater: false,
    treeExtent: async () => reads.extent(),
    ledgerLeaves: async (from: number, limit: number) => reads.leaves(from, limit),
    ledgerNodes: async (coords: readonly Coord[]) => reads.nodes(coords),
    latestHead: async () => reads.latestHead(),
    ledgerKeys: async () => reads.ledgerKeys(),
    hashedEvents: async (after: number, limit: number) =>
      page.all(after, limit).map((row) => ({ position: row.position, hash: rowLeafHash(row) })),
  };
};
