import type { Broker } from "../broker/broker.ts";
import type { EventStore } from "../store/event-store.ts";

export interface RelayOptions {
  /** Events read and published per round. */
  readonly batchSize: number;
  /** Sleep when there is nothing to publish and nobody said there is. */
  readonly idleMs: number;
  readonly leaseTtlMs: number;
  readonly onError: (error: unknown) => void;
  readonly onPublished?: (count: number, lastPosition: number) => void;
}

const CHECKPOINT = "outbox-relay";
const LEASE = "outbox-relay";

/**
 * The outbox relay: the event store is the outbox. It reads stored events in position order,
 * publishes them, and only after the broker confirmed them records the last position. A crash
 * anywhere re-publishes from the checkpoint (duplicates, which projections ignore), never skips.
 * A lease lets one relay publish at a time, so running several (one per projector) wastes nothing.
 */
export class OutboxRelay {
  private readonly owner = `relay-${Bun.randomUUIDv7()}`;
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private checkpoint = 0;
  private leaseRenewedAt = 0;

  constructor(
    private readonly store: EventStore,
    private readonly broker: Broker,
    private readonly options: RelayOptions,
  ) {}

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
    await this.loop;
    await this.store.releaseLease(LEASE, this.owner).catch(() => {});
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        if (!(await this.holdLease())) {
          await this.sleep(this.options.leaseTtlMs / 3);
          continue;
        }
        this.checkpoint = Number((await this.store.loadCheckpoint(CHECKPOINT)) ?? 0);
        const published = await this.publishOnce();
        if (published === 0) await this.sleep(this.options.idleMs);
      } catch (error) {
        this.options.onError(error);
        await this.sleep(500);
      }
    }
  }

  /** Publishes one batch after the checkpoint; returns how many events it published. */
  async publishOnce(): Promise<number> {
    const events = await this.store.readAll(this.checkpoint, this.options.batchSize);
    const last = events.at(-1);
    if (!last) return 0;
    await this.broker.publish(events);
    await this.store.saveCheckpoint(CHECKPOINT, String(last.position));
    this.checkpoint = last.position;
    this.options.onPublished?.(events.length, last.position);
    return events.length;
  }

  private async holdLease(): Promise<boolean> {
    const now = Date.now();
    if (now - this.leaseRenewedAt < this.options.leaseTtlMs / 3) return true;
    const held = await this.store.tryLease(LEASE, this.owner, this.options.leaseTtlMs);
    this.leaseRenewedAt = held ? now : 0;
    return held;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
  }
}
