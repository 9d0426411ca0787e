import { MongoClient } from "mongodb";
import type { Coord, Hash } from "../../ledger/merkle.ts";
import { Batcher, type BatcherOptions } from "../../lib/batcher.ts";
import { answerWithin, deadlineIn } from "../../lib/deadline.ts";
import { errorMessage } from "../../lib/errors.ts";
import { realScheduler, type Scheduler } from "../../lib/scheduler.ts";
import type { StageObserver } from "../../observability/stages.ts";
import { tracing } from "../../observability/tracing.ts";
import type { EventEnvelope } from "../envelope.ts";
import {
  type AppendRequest,
  type AppendResult,
  AppendTooLargeError,
  type ReadStreamOptions,
  StoreOutcomeUnknownError,
  StoreOverloadedError,
  StoreUnavailableError,
  type StreamInfo,
} from "../event-store.ts";
import type { LedgerKey, LedgerLeaf, SignedHead, TreeExtent } from "../ledger-store.ts";
import type { StoredOutcome } from "../outcome-store.ts";
import type { Snapshot } from "../snapshot-store.ts";
import type { Store } from "../store.ts";
import { tracedWrite } from "../traced-writes.ts";
import { WriteHealth } from "../write-health.ts";
import { type Written, writeBatch } from "./append.ts";
import { appendDependent } from "./dependent.ts";
import { type Collections, collections, ensureIndexes, isUnavailable } from "./documents.ts";
import { HoleReader } from "./holes.ts";
import { ensureLedgerIndexes, ledgerCollections, MongoLedger } from "./ledger.ts";
import * as outcomes from "./outcomes.ts";
import * as read from "./read.ts";
import * as relay from "./relay.ts";
import * as snapshots from "./snapshots.ts";

export interface MongoStoreOptions
  extends Partial<Pick<BatcherOptions, "maxBatch" | "maxPending" | "onBatch">> {
  readonly url: string;
  /** Database name; default: the one in the URL's path, else `eventfold` (never the driver's `test`). */
  readonly database?: string;
  /** How long the relay's reader waits for a hole in the positions before it tombstones it (default 5 s). */
  readonly holeGraceMs?: number;
  /** How long a write waits for a majority to acknowledge it before it counts as unsure (default 5 s). */
  readonly writeTimeoutMs?: number;
  /** How long an operation waits for a server to send it to (default 10 s). */
  readonly serverSelectionTimeoutMs?: number;
  /**
   * The longest any operation takes to answer (default 15 s): an append is written, refused, or
   * failed within it, and a read answers or fails. Also the driver's socket time-out, so that a
   * server that stops answering does not hold a connection for good.
   */
  readonly deadlineMs?: number;
  /** Told when writes start failing for a reason that outlasts a retry, and when they work again. */
  readonly onWritable?: (cause: string | undefined) => void;
  /** Time for the deadlines (default: the event loop's). */
  readonly scheduler?: Scheduler;
  /** Told where each append's time goes: `queue`, then `write` (the round trip, journal commit included). */
  readonly onStage?: StageObserver;
}

/**
 * The database a URL names in its path, or `eventfold`: the driver's own default is `test`. The path
 * follows the host list, which holds no `/` (a `/` in the credentials must be percent-encoded).
 */
export const databaseOf = (url: string): string => {
  const path = /^mongodb(?:\+srv)?:\/\/[^/?#]*\/([^?#]*)/.exec(url)?.[1] ?? "";
  return decodeURIComponent(path) || "eventfold";
};

/**
 * An append on its way: `waiting` until its batch sends it; `sent` from then on; `abandoned` if its
 * deadline passed before, so that no batch writes it after its caller was told it was not written.
 */
interface Ticket {
  readonly request: AppendRequest;
  state: "waiting" | "sent" | "abandoned";
}

/**
 * The production store: every port over one MongoDB database, a module per operation beside it.
 * Every read is a majority read and every write waits for a majority's journal, so nothing is read
 * that a failover could take back; a write waits at most `writeTimeoutMs` for it, and is then settled
 * (see `append.ts`) before its caller is answered. No operation answers later than `deadlineMs`.
 */
export class MongoStore implements Store {
  readonly name = "mongodb";
  private readonly committer: Batcher<Ticket, Written>;
  private readonly holes: HoleReader;
  private readonly ledger: MongoLedger;
  private readonly health: WriteHealth;
  private readonly deadlineMs: number;
  private readonly writeTimeoutMs: number;
  private readonly scheduler: Scheduler;
  private readonly onStage: StageObserver | undefined;
  /** Dependent appends under way: `close` waits for them as it waits for the batches. */
  private readonly dependents = new Set<Promise<unknown>>();

  private constructor(
    private readonly client: MongoClient,
    private readonly collections: Collections,
    options: MongoStoreOptions,
  ) {
    this.holes = new HoleReader(collections, options.holeGraceMs ?? 5_000);
    // The sealer reads the log through a hole reader of its own, as a second relay would.
    const sealerHoles = new HoleReader(collections, options.holeGraceMs ?? 5_000);
    this.ledger = new MongoLedger(ledgerCollections(collections), (after, limit) =>
      sealerHoles.readAll(after, limit),
    );
    this.health = new WriteHealth(options.onWritable);
    this.deadlineMs = options.deadlineMs ?? 15_000;
    this.writeTimeoutMs = options.writeTimeoutMs ?? 5_000;
    this.scheduler = options.scheduler ?? realScheduler;
    const { onStage } = options;
    this.onStage = onStage;
    this.committer = new Batcher(
      async (tickets) => {
        const started = this.scheduler.now();
        const tracer = tracing();
        const written = await (tracer
          ? tracedWrite(
              tracer,
              "mongodb",
              tickets.map((t) => t.request),
              tickets.length,
              () => this.writeTickets(tickets),
            )
          : this.writeTickets(tickets));
        onStage?.("write", this.scheduler.now() - started, tickets.length);
        return written;
      },
      {
        maxBatch: options.maxBatch ?? 512,
        maxPending: options.maxPending ?? 20_000,
        full: () => new StoreOverloadedError("the write pipeline is full"),
        onBatch: options.onBatch,
        onWaited: onStage && ((ms) => onStage("queue", ms)),
      },
    );
  }

  static async connect(options: MongoStoreOptions): Promise<MongoStore> {
    const deadlineMs = options.deadlineMs ?? 15_000;
    const client = new MongoClient(options.url, {
      retryWrites: true,
      readConcern: { level: "majority" },
      writeConcern: { w: "majority", journal: true, wtimeoutMS: options.writeTimeoutMs ?? 5_000 },
      serverSelectionTimeoutMS: options.serverSelectionTimeoutMs ?? 10_000,
      // Without it a server that stops answering holds a request for good (the driver's default is
      // none). It must outlast a write's wait for a majority, which the deadline does.
      socketTimeoutMS: deadlineMs,
    });
    await client.connect();
    const db = client.db(options.database ?? databaseOf(options.url));
    const store = new MongoStore(client, collections(db), options);
    await ensureIndexes(store.collections);
    await ensureLedgerIndexes(ledgerCollections(store.collections));
    await seedCounter(store.collections);
    return store;
  }

  /** The batch function: writes what is still waiting, within a deadline of its own. */
  private async writeTickets(tickets: readonly Ticket[]): Promise<Written[]> {
    const live = tickets.filter((t) => t.state === "waiting");
    const written = await writeBatch(
      this.collections,
      live.map((t) => t.request),
      {
        deadline: deadlineIn(this.deadlineMs, this.scheduler),
        // Marked sent as it goes: from then on its caller is told "unknown" if the deadline passes.
        claim: (indexes) =>
          indexes.filter((i) => {
            const ticket = live[i] as Ticket;
            if (ticket.state === "abandoned") return false;
            ticket.state = "sent";
            return true;
          }),
      },
    );
    const byTicket = new Map(live.map((t, i) => [t, written[i] as Written]));
    return tickets.map(
      (t) => byTicket.get(t) ?? { failed: new StoreUnavailableError("the append was abandoned") },
    );
  }

  /**
   * An append not answered by the deadline: not written if it was still waiting to go (and it never
   * will), else unknown (it was sent, and may have been written).
   */
  private pastDeadline(ticket: Ticket, verb: "take" | "write"): Error {
    if (ticket.state === "waiting") {
      ticket.state = "abandoned";
      return new StoreUnavailableError(
        `the event store did not ${verb} the append within ${this.deadlineMs} ms; it was not written`,
      );
    }
    return new StoreOutcomeUnknownError(
      `the event store did not confirm the append within ${this.deadlineMs} ms; it may be written`,
    );
  }

  async append(request: AppendRequest): Promise<AppendResult> {
    // Checked in a transaction of its own; never in the batch, nor as outcomes alone, unchecked.
    if (request.dependsOn?.length) return this.appendDependent(request);
    if (request.events.length === 0) {
      // A commit document takes positions and versions; an append without events only stores outcomes.
      return this.guard(() => outcomes.appendOutcomes(this.collections, request), true);
    }
    const ticket: Ticket = { request, state: "waiting" };
    let written: Written;
    try {
      written = await answerWithin(
        this.committer.submit(ticket),
        this.deadlineMs,
        () => this.pastDeadline(ticket, "take"),
        this.scheduler,
      );
    } catch (error) {
      if (error instanceof StoreOverloadedError) throw error;
      throw this.health.failed(errorMessage(error), error);
    }
    if (!("failed" in written)) {
      this.health.succeeded();
      return written;
    }
    if (written.failed instanceof StoreUnavailableError)
      throw this.health.failed(written.failed.message, written.failed);
    throw written.failed;
  }

  /**
   * An append that names other streams (`dependent.ts`), answered as a batched one is: within the
   * deadline, and "not written" only while its commit has not been sent (it is then never sent).
   */
  private async appendDependent(request: AppendRequest): Promise<AppendResult> {
    const ticket: Ticket = { request, state: "waiting" };
    const started = this.scheduler.now();
    const work = appendDependent(this.client, this.collections, request, {
      deadline: deadlineIn(this.deadlineMs, this.scheduler),
      writeTimeoutMs: this.writeTimeoutMs,
      claim: () => {
        if (ticket.state === "abandoned") return false;
        ticket.state = "sent";
        return true;
      },
    });
    const settled = work.catch(() => {});
    this.dependents.add(settled);
    void settled.finally(() => this.dependents.delete(settled));
    try {
      const result = await answerWithin(
        work,
        this.deadlineMs,
        () => this.pastDeadline(ticket, "write"),
        this.scheduler,
      );
      this.onStage?.("write", this.scheduler.now() - started, 1);
      this.health.succeeded();
      return result;
    } catch (error) {
      if (error instanceof AppendTooLargeError) throw error;
      throw this.health.failed(errorMessage(error), error);
    }
  }

  /**
   * A read, or a write other than an append, answered within the deadline: a server that cannot be
   * reached is `StoreUnavailableError`; a write whose answer did not come in time may have been kept
   * (`StoreOutcomeUnknownError`).
   */
  private async guard<T>(work: () => Promise<T>, write = false): Promise<T> {
    try {
      const result = await answerWithin(
        work(),
        this.deadlineMs,
        () =>
          write
            ? new StoreOutcomeUnknownError(`no answer from the event store within ${this.deadlineMs} ms`)
            : new StoreUnavailableError(`no answer from the event store within ${this.deadlineMs} ms`),
        this.scheduler,
      );
      if (write) this.health.succeeded();
      return result;
    } catch (error) {
      const ours = error instanceof StoreUnavailableError;
      if (!ours && !isUnavailable(error)) throw error;
      if (write) throw this.health.failed(errorMessage(error), error);
      if (ours) throw error;
      throw new StoreUnavailableError(`the event store cannot be read: ${errorMessage(error)}`, {
        cause: error,
      });
    }
  }

  readStream(streamId: string, options?: ReadStreamOptions): Promise<EventEnvelope[]> {
    return this.guard(() => read.readStream(this.collections, streamId, options));
  }
  streamInfo(streamId: string): Promise<StreamInfo | undefined> {
    return this.guard(() => read.streamInfo(this.collections, streamId));
  }
  readAll(after: number, limit: number): Promise<EventEnvelope[]> {
    return this.guard(() => this.holes.readAll(after, limit));
  }
  headPosition(): Promise<number> {
    return this.guard(() => read.headPosition(this.collections));
  }
  async *nonFinalStreams(aggregateType: string): AsyncIterable<string> {
    const ids = await this.guard(() =>
      Array.fromAsync(read.nonFinalStreams(this.collections, aggregateType)),
    );
    yield* ids;
  }
  loadSnapshot(streamId: string): Promise<Snapshot | undefined> {
    return this.guard(() => snapshots.loadSnapshot(this.collections, streamId));
  }
  saveSnapshot(snapshot: Snapshot): Promise<void> {
    return this.guard(() => snapshots.saveSnapshot(this.collections, snapshot), true);
  }
  findOutcome(key: string): Promise<StoredOutcome | undefined> {
    return this.guard(() => outcomes.findOutcome(this.collections, key));
  }
  loadCheckpoint(name: string): Promise<string | undefined> {
    return this.guard(() => relay.loadCheckpoint(this.collections, name));
  }
  saveCheckpoint(name: string, value: string, fence?: number): Promise<void> {
    return this.guard(() => relay.saveCheckpoint(this.collections, name, value, fence), true);
  }
  tryLease(name: string, owner: string, ttlMs: number): Promise<number | undefined> {
    return this.guard(() => relay.tryLease(this.collections, name, owner, ttlMs), true);
  }
  releaseLease(name: string, owner: string): Promise<void> {
    return this.guard(() => relay.releaseLease(this.collections, name, owner), true);
  }

  treeExtent(): Promise<TreeExtent> {
    return this.guard(() => this.ledger.extent());
  }
  /** Round after round, each within the deadline, until the tree reaches what can be read. */
  async seal(): Promise<TreeExtent> {
    for (;;) {
      const { extent, more } = await this.guard(() => this.ledger.seal(10), true);
      if (!more) return extent;
    }
  }
  ledgerNodes(coords: readonly Coord[]): Promise<readonly Hash[]> {
    return this.guard(() => this.ledger.nodes(coords));
  }
  ledgerLeaves(fromIndex: number, limit: number): Promise<LedgerLeaf[]> {
    return this.guard(() => this.ledger.leaves(fromIndex, limit));
  }
  ledgerLeafAt(position: number): Promise<LedgerLeaf | undefined> {
    return this.guard(() => this.ledger.leafAt(position));
  }
  saveHead(head: SignedHead): Promise<void> {
    return this.guard(() => this.ledger.saveHead(head), true);
  }
  latestHead(): Promise<SignedHead | undefined> {
    return this.guard(() => this.ledger.latestHead());
  }
  saveLedgerKey(key: LedgerKey): Promise<void> {
    return this.guard(() => this.ledger.saveKey(key), true);
  }
  ledgerKeys(): Promise<LedgerKey[]> {
    return this.guard(() => this.ledger.keys());
  }

  /** A ping; and while writes have been failing, says so until they have worked for a while. */
  async ping(): Promise<void> {
    await this.guard(() => this.client.db().command({ ping: 1 }));
    const problem = this.health.problem;
    if (problem) {
      // The relay's checkpoint is written every round trip; a write here tells whether writes work now.
      await this.guard(
        () =>
          this.collections.counters.updateOne(
            { _id: "probe" },
            { $currentDate: { at: true } },
            { upsert: true },
          ),
        true,
      );
      const still = this.health.problem;
      if (still) throw still;
    }
  }

  async close(): Promise<void> {
    await this.committer.drain();
    // Closing the client aborts a transaction under way: each dependent append finishes first.
    await Promise.all(this.dependents);
    await this.client.close();
  }
}

/** The highest position a relay checkpoint names: checkpoints are positions in the log. */
const highestCheckpoint = async ({ checkpoints }: Collections): Promise<number> => {
  let highest = 0;
  for await (const { value } of checkpoints.find({}, { projection: { value: 1 } })) {
    const position = /^\d{1,15}$/.test(value) ? Number(value) : 0;
    if (position > highest) highest = position;
  }
  return highest;
};

/**
 * The position counter starts past every stored position and every position a checkpoint has
 * passed, whatever happened to the counter. A restore can bring back `commits` behind the relay's
 * checkpoint (a dump taken without `--oplog`, one collection restored): new appends must not take
 * positions the relay believes it has published, or they would never be. `$max` keeps a counter that
 * is ahead (its holes are tombstoned by the reader, in pieces).
 */
export const seedCounter = async (collections: Collections): Promise<void> => {
  const last = await collections.commits
    .find<{ lastPosition: number }>({ lastPosition: { $exists: true } }, { projection: { lastPosition: 1 } })
    .sort({ lastPosition: -1 })
    .limit(1)
    .next();
  const highest = Math.max(last?.lastPosition ?? 0, await highestCheckpoint(collections));
  await collections.counters.updateOne({ _id: "position" }, { $max: { value: highest } }, { upsert: true });
};
