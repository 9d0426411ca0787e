import { realScheduler, type Scheduler } from "../lib/scheduler.ts";
import { erasedSubjectOf } from "../privacy/subject-stream.ts";
import type { EventEnvelope } from "../store/envelope.ts";
import { EventRing } from "../store/event-ring.ts";
import type { EventStore } from "../store/event-store.ts";

/** Which events a consumer follows: an absent list takes every aggregate type, or every event type. */
export interface EventFilter {
  readonly aggregateTypes?: readonly string[];
  readonly types?: readonly string[];
}

/** One answer to a consumer: events after its position, in position order. */
export interface FeedPage {
  readonly events: readonly EventEnvelope[];
  /**
   * Where to read after next time: the last event handed out, or, when a filter passed none of what
   * was scanned, as far as the scan went (so a consumer of a rare type does not scan again).
   */
  readonly next: number;
  /** The read reached the end of the log as it is now. */
  readonly caughtUp: boolean;
  /** The feed's `generation` when the read began: bytes made from these events are kept only under it. */
  readonly generation: number;
}

export interface EventFeedOptions {
  /** Events read from the store per query (default 500): one query's time on the event loop. */
  readonly pageSize?: number;
  /** Events scanned for one answer at most when a filter passes few (default 10 000). */
  readonly scanLimit?: number;
  /**
   * How often a waiting consumer looks again without being woken (default 250 ms): appends made by
   * another process (a second edge on the same store) are not announced to this one.
   */
  readonly pollMs?: number;
  /**
   * Waiting consumers are woken at most this often (default 0: at each wake): the events committed
   * meanwhile reach them in one chunk, so that the cost of many live consumers follows this rate, not
   * the commit rate.
   */
  readonly wakeEveryMs?: number;
  readonly scheduler?: Scheduler;
}

const matches = (filter: EventFilter, event: EventEnvelope): boolean =>
  (filter.aggregateTypes === undefined || filter.aggregateTypes.includes(event.aggregateType)) &&
  (filter.types === undefined || filter.types.includes(event.type));

/**
 * The event log as consumers outside the service follow it: every stored event in position order,
 * read the way the outbox relay reads it (`readAll`, which never passes a position another writer may
 * still fill), a page at a time, with no transaction held between pages and a turn of the event loop
 * between them. A consumer waiting at the end is woken by this process's appends (`wake`), or looks
 * again every `pollMs` for other processes'.
 */

export class EventFeed {
  private readonly pageSize: number;
  private readonly scanLimit: number;
  private readonly pollMs: number;
  private readonly wakeEveryMs: number;
  private readonly time: Scheduler;
  private lastWake = Number.NEGATIVE_INFINITY;
  private wakeScheduled = false;
  /** The events consumers read last: the others at the same place take them from here. */
  private readonly recent = new EventRing(8_192);
  /** A read after this position found nothing, and nothing was announced since. */
  private emptyAfter: { readonly position: number; readonly at: number } | undefined;
  /** Store reads under way, by the position they read after, and the wake they began after. */
  private readonly reading = new Map<
    number,
    { limit: number; wakes: number; generation: number; events: Promise<EventEnvelope[]> }
  >();
  /** Appends announced so far: a read begun before one may have missed it. */
  private wakes = 0;
  /** Consumers waiting at the end of the log. */
  private readonly waiting = new Set<() => void>();
  private readonly closing = new AbortController();
  /** Aborted once the service stops: streams end, long polls answer at once. */
  readonly stopping: AbortSignal = this.closing.signal;
  /** Consumers following now, by how; and how many streams were cut off for not reading. */
  readonly consumers = { streams: 0, polls: 0, cutOff: 0 };

  constructor(
    private readonly store: Pick<EventStore, "readAll">,
    options: EventFeedOptions = {},
  ) {
    this.pageSize = options.pageSize ?? 500;
    this.scanLimit = options.scanLimit ?? 10_000;
    this.pollMs = options.pollMs ?? 250;
    this.wakeEveryMs = options.wakeEveryMs ?? 0;
    this.time = options.scheduler ?? realScheduler;
  }

  /**
   * Bumped each time what the feed held was dropped: whoever keeps bytes made from its events (the
   * event stream's chunks) keys them by it.
   */
  generation = 0;

  /** Drops the events it holds, which a data subject's erasure has made out of date. */
  forget(): void {
    this.recent.clear();
    this.generation += 1;
  }

  /** Counts a consumer while it follows: the answer is called once it stops. */
  follow(kind: "streams" | "polls"): () => void {
    this.consumers[kind] += 1;
    let followed = true;
    return () => {
      if (followed) this.consumers[kind] -= 1;
      followed = false;
    };
  }

  /** The service stops: every consumer is answered and let go, so the server can close. */
  close(): void {
    this.closing.abort();
    this.wakeAll();
  }

  /** Events were appended: consumers waiting at the end read now. */
  wake(): void {
    this.wakes += 1;
    this.emptyAfter = undefined;
    if (this.wakeScheduled || this.waiting.size === 0) return;
    this.wakeScheduled = true;
    const wakeAll = () => {
      this.wakeScheduled = false;
      this.wakeAll();
    };
    const wait = this.lastWake + this.wakeEveryMs - this.time.now();
    // Never at once: a store announces a batch before the code that appended it has run on, and what
    // that code does with it (the SQLite store keeps it in memory for its readers) must come first.
    if (wait <= 0) this.time.soon(wakeAll);
    else this.time.after(wait, wakeAll);
  }

  private wakeAll(): void {
    this.lastWake = this.time.now();
    for (const done of this.waiting) done();
  }

  /** At most `limit` events after `after` that pass `filter`; stops early at the scan limit. */
  async read(after: number, limit: number, filter: EventFilter = {}): Promise<FeedPage> {
    const generation = this.generation;
    const events: EventEnvelope[] = [];
    const filtered = filter.aggregateTypes !== undefined || filter.types !== undefined;
    let next = after;
    let scanned = 0;
    for (;;) {
      const want = filtered ? this.pageSize : Math.min(this.pageSize, limit - events.length);
      if (scanned > 0) await this.yieldTurn();
      const page = await this.readAll(next, want);
      for (const event of page) {
        next = event.position;
        if (!matches(filter, event)) continue;
        events.push(event);
        if (events.length === limit) return { events, next, caughtUp: false, generation };
      }
      scanned += page.length;
      if (page.length < want) return { events, next, caughtUp: true, generation };
      if (scanned >= this.scanLimit) return { events, next, caughtUp: false, generation };
    }
  }

  /**
   * The store's `readAll`, shared: what one consumer read, the next one at the same place takes from
   * memory, and a consumer at the end of the log asks the store again only once something was
   * announced, or `pollMs` has passed, since the last read there found nothing.
   */
  private async readAll(after: number, limit: number): Promise<readonly EventEnvelope[]> {
    // What is held ends where consumers last read, not where the log ends: the store says the rest.
    const held = this.recent.read(after, limit) ?? [];
    if (held.length === limit) return held;
    const rest = await this.readStore(held.at(-1)?.position ?? after, limit - held.length);
    return held.length === 0 ? rest : [...held, ...rest];
  }

  private async readStore(after: number, limit: number): Promise<readonly EventEnvelope[]> {
    const empty = this.emptyAfter;
    if (empty?.position === after && this.time.now() - empty.at < this.pollMs) return [];
    // Consumers woken together ask for the same events at once: one read serves them all.
    // Shared only if begun since the last append was announced: an older one may have missed it.
    const reading = this.reading.get(after);
    if (
      reading &&
      reading.limit >= limit &&
      reading.wakes === this.wakes &&
      reading.generation === this.generation
    ) {
      return (await reading.events).slice(0, limit);
    }
    const wakes = this.wakes;
    const generation = this.generation;
    const events = this.store.readAll(after, limit).then((read) => {
      // An erasure passed: what is held from before it may still show the subject's personal data.
      // This page was read after the key was gone (the event is appended after), so it may stay.
      if (read.some((event) => erasedSubjectOf(event) !== undefined)) this.forget();
      // Or one was made while this read was under way: what it opened may be from before it, and is
      // answered but not kept.
      else if (generation !== this.generation) return read;
      for (const event of read) this.recent.put(event);
      if (read.length === 0 && wakes === this.wakes)
        this.emptyAfter = { position: after, at: this.time.now() };
      return read;
    });
    const entry = { limit, wakes, generation, events };
    this.reading.set(after, entry);
    try {
      return await events;
    } finally {
      if (this.reading.get(after) === entry) this.reading.delete(after);
    }
  }

  /**
   * Like `read`, but an answer with no event waits up to `waitMs` for one (a long poll), and is given
   * as soon as one that passes the filter is stored.
   */
  async poll(
    after: number,
    limit: number,
    filter: EventFilter,
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<FeedPage> {
    const deadline = this.time.now() + waitMs;
    let page = await this.read(after, limit, filter);
    while (page.events.length === 0 && !signal?.aborted && !this.stopping.aborted) {
      const left = deadline - this.time.now();
      if (left <= 0) break;
      if (page.caughtUp) await this.appended(left, signal);
      else await this.yieldTurn();
      page = await this.read(page.next, limit, filter);
    }
    return page;
  }

  /** Resolves once events may have been appended, after `ms` at most, or once `signal` aborts. */
  appended(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        cancel();
        this.waiting.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      if (this.stopping.aborted) return resolve();
      const cancel = this.time.after(Math.min(ms, this.pollMs), done);
      this.waiting.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  /** Lets I/O in between two store reads: a long scan must not hold the event loop. */
  private yieldTurn(): Promise<void> {
    return new Promise((resolve) => this.time.soon(resolve));
  }
}
