import type { Broker } from "../broker/broker.ts";
import { realScheduler, type Scheduler } from "../lib/scheduler.ts";
import { startBatchSpan, type Tracing, tracing } from "../observability/tracing.ts";
import type { EventEnvelope } from "../store/envelope.ts";
import type { EventStore } from "../store/event-store.ts";
import type { RelayStore } from "../store/relay-store.ts";

export interface RelayOptions {
  /** Events read and published per round. */
  readonly batchSize: number;
  /**
   * Rounds published and not yet confirmed (default 1). More keeps events flowing to a fast consumer
   * while a slow one (a projection that batches its writes) is still confirming an earlier round.
   */
  readonly maxInFlight?: number;
  /**
   * Events in the rounds in flight, at most (default: no bound but `maxInFlight`). Rounds are many
   * and small when events trickle, few and full when a projection catches up; this bounds the memory
   * the second case holds (1 024 rounds of 1 000 events would be a million).
   */
  readonly maxEventsInFlight?: number;
  /** Sleep when there is nothing to publish and nobody said there is. */
  readonly idleMs: number;
  /**
   * A round that was not full is followed by at least this pause (default 0), so that events that
   * trickle in go in fewer, larger rounds: each round costs a read, a publish and a checkpoint.
   */
  readonly minRoundIntervalMs?: number;
  /**
   * Confirmed progress is saved at most this often while events flow (default: after every round),
   * and at once when they stop. A crash re-publishes what was confirmed since: duplicates, which
   * projections ignore.
   */
  readonly checkpointEveryMs?: number;
  readonly leaseTtlMs: number;
  readonly onError: (error: unknown) => void;
  readonly onPublished?: (count: number, lastPosition: number) => void;
  /** Time (default: the event loop's). */
  readonly scheduler?: Scheduler;
}

const CHECKPOINT = "outbox-relay";
const LEASE = "outbox-relay";

interface Round {
  readonly count: number;
  readonly lastPosition: number;
  readonly confirmed: Promise<void>;
  settled: boolean;
}

/**
 * The outbox relay: the event store is the outbox. It reads stored events in position order,
 * publishes them, and only after the broker confirmed them records the last position. Rounds are
 * confirmed, and the checkpoint advanced, strictly in order; a failed round drops the rounds after it
 * and reading starts again from the checkpoint, so events sent behind it may arrive before it is sent
 * again (a gap, which projections fill from the store). A crash anywhere re-publishes from the
 * checkpoint (duplicates, which projections ignore), never skips. A lease lets one relay publish at a
 * time, so running several (one per projector) wastes nothing.
 */
export class OutboxRelay {
  private readonly owner = `relay-${Bun.randomUUIDv7()}`;
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private endPause: (() => void) | undefined;
  private checkpoint = 0;
  private saved = { position: 0, at: 0 };
  /** The last position read and handed to the broker; ahead of `checkpoint` by the rounds in flight. */
  private readPosition: number | undefined;
  private inFlight: Round[] = [];
  private leaseRenewedAt: number | undefined;
  /** The lease's fencing token while held: every checkpoint save carries it. */
  private fence: number | undefined;
  private readonly time: Scheduler;

  constructor(
    private readonly store: EventStore & RelayStore,
    private readonly broker: Broker,
    private readonly options: RelayOptions,
  ) {
    this.time = options.scheduler ?? realScheduler;
  }

  /** The last position confirmed by the broker. */
  get position(): number {
    return this.checkpoint;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** New events were appended: look now instead of after the idle sleep. */
  wake(): void {
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    this.endPause?.();
    await this.loop;
    await this.store.releaseLease(LEASE, this.owner).catch(() => {});
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        if (!(await this.holdLease())) {
          await this.abandonRounds();
          await this.sleep(this.options.leaseTtlMs / 3);
          continue;
        }
        if (this.readPosition === undefined) {
          this.checkpoint = Number((await this.store.loadCheckpoint(CHECKPOINT)) ?? 0);
          this.saved = { position: this.checkpoint, at: this.time.now() };
          this.readPosition = this.checkpoint;
        }
        const roundStarted = this.time.now();
        const published = await this.publishRound(this.readPosition);
        const full =
          this.inFlight.length >= (this.options.maxInFlight ?? 1) ||
          this.eventsInFlight() >= (this.options.maxEventsInFlight ?? Number.POSITIVE_INFINITY);
        await this.confirmRounds(full);
        if (!full && published === 0) await this.waitForWork();
        else if (published < this.options.batchSize) await this.pauseAfter(roundStarted);
      } catch (error) {
        this.options.onError(error);
        await this.abandonRounds();
        await this.sleep(500);
      }
    }
    await this.confirmAll().catch((error) => this.options.onError(error));
  }

  private eventsInFlight(): number {
    let events = 0;
    for (const round of this.inFlight) events += round.count;
    return events;
  }

  private async saveCheckpoint(force: boolean): Promise<void> {
    if (this.checkpoint === this.saved.position) return;
    const now = this.time.now();
    if (!force && now - this.saved.at < (this.options.checkpointEveryMs ?? 0)) return;
    await this.store.saveCheckpoint(CHECKPOINT, String(this.checkpoint), this.fence);
    this.saved = { position: this.checkpoint, at: now };
  }

  /** Reads the events after `after` and hands them to the broker; returns how many. */
  private async publishRound(after: number): Promise<number> {
    const events = await this.store.readAll(after, this.options.batchSize);
    const last = events.at(-1);
    if (!last) return 0;
    const tracer = tracing();
    const round: Round = {
      count: events.length,
      lastPosition: last.position,
      confirmed: tracer ? this.tracedPublish(tracer, events) : this.broker.publish(events),
      settled: false,
    };
    // Either way it is settled; a rejection is observed by confirmRounds, and must not count as unhandled.
    const settle = () => {
      round.settled = true;
    };
    round.confirmed.then(settle, settle);
    this.inFlight.push(round);
    this.readPosition = last.position;
    return events.length;
  }

  /** A round's publish under a span, from its handing over to the broker's confirmation. */
  private tracedPublish(tracer: Tracing, events: readonly EventEnvelope[]): Promise<void> {
    const span = startBatchSpan(
      tracer,
      "relay publish",
      events.map((event) => event.metadata.traceparent),
      {
        kind: "producer",
        attributes: {
          "messaging.system": this.broker.name,
          "messaging.operation.type": "send",
          "messaging.batch.message_count": events.length,
          "eventfold.position.first": events[0]?.position ?? 0,
          "eventfold.position.last": events.at(-1)?.position ?? 0,
        },
      },
    );
    const confirmed = this.broker.publish(events);
    confirmed.then(
      () => span.end(),
      (error: unknown) => span.end(error),
    );
    return confirmed;
  }

  /**
   * Takes the rounds at the head that the broker has confirmed, waiting for the oldest if asked, and
   * saves one checkpoint after the last of them. A refused round is thrown once those before it count.
   */
  private async confirmRounds(waitForOldest: boolean): Promise<void> {
    if (waitForOldest) await this.inFlight[0]?.confirmed.catch(() => {});
    let count = 0;
    let lastPosition: number | undefined;
    let refused: unknown;
    for (let round = this.inFlight[0]; round?.settled; round = this.inFlight[0]) {
      try {
        await round.confirmed;
      } catch (error) {
        refused = error ?? new Error("the broker refused a round");
        break;
      }
      this.inFlight.shift();
      count += round.count;
      lastPosition = round.lastPosition;
    }
    if (lastPosition !== undefined) {
      this.checkpoint = lastPosition;
      this.options.onPublished?.(count, lastPosition);
      await this.saveCheckpoint(false);
    }
    if (refused !== undefined) throw refused;
  }

  /** Nothing new to read: wait for an append, the oldest round's confirmation, or the idle timeout. */
  private async waitForWork(): Promise<void> {
    await this.saveCheckpoint(true);
    const oldest = this.inFlight[0];
    const sleeping = this.sleep(this.options.idleMs);
    await (oldest ? Promise.race([sleeping, oldest.confirmed.catch(() => {})]) : sleeping);
  }

  private async pauseAfter(roundStarted: number): Promise<void> {
    const left = roundStarted + (this.options.minRoundIntervalMs ?? 0) - this.time.now();
    // Not woken by `wake` (each append would cut the pause short), only by `stop`.
    if (left > 0 && this.running) {
      await new Promise<void>((resolve) => {
        const cancel = this.time.after(left, done);
        function done() {
          cancel();
          resolve();
        }
        this.endPause = done;
      });
      this.endPause = undefined;
    }
  }

  private async confirmAll(): Promise<void> {
    while (this.inFlight.length > 0) await this.confirmRounds(true);
    await this.saveCheckpoint(true);
  }

  /** After a failure or a lost lease: wait out what is in flight, read again from the checkpoint. */
  private async abandonRounds(): Promise<void> {
    await Promise.allSettled(this.inFlight.map((r) => r.confirmed));
    this.inFlight = [];
    this.readPosition = undefined;
  }

  private async holdLease(): Promise<boolean> {
    const now = this.time.now();
    if (this.leaseRenewedAt !== undefined && now - this.leaseRenewedAt < this.options.leaseTtlMs / 3)
      return true;
    this.fence = await this.store.tryLease(LEASE, this.owner, this.options.leaseTtlMs);
    this.leaseRenewedAt = this.fence === undefined ? undefined : now;
    return this.fence !== undefined;
  }

  /** Sleeps `ms`, or until `wake`. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const cancel = this.time.after(ms, done);
      function done() {
        cancel();
        resolve();
      }
      this.wakeUp = done;
    });
  }
}
