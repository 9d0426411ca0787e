/**
 * The soak's audit, from outside, through the public API: every acknowledged command is in the event
 * log exactly once, no command is in it twice, money is conserved, every transfer is finished, and
 * the read models (Redis documents, ClickHouse counts) equal what the log says.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

interface LoggedEvent {
  readonly streamId: string;
  readonly type: string;
  readonly version: number;
  readonly position: number;
  readonly data: { amount?: number; balance?: number; accountId?: string };
  readonly metadata: { correlationId?: string };
}

export interface AuditResult {
  readonly events: number;
  /** Acknowledged commands (2xx) the audit looked for. */
  readonly acknowledged: number;
  /** Acknowledged commands whose event is not in the log. */
  readonly lost: number;
  /** Commands whose event is in the log more than once. */
  readonly doubled: number;
  /** Deposits minus withdrawals, against the sum of every account's balance. */
  readonly moneyIn: number;
  readonly moneyHeld: number;
  /** Transfers requested and not finished (completed, refunded or rejected). */
  readonly unfinishedTransfers: number;
  /** Accounts whose Redis document differs from the log (balance or version). */
  readonly hotLookupMismatches: number;
  /** Event types whose ClickHouse count differs from the log's. */
  readonly analyticsMismatches: string[];
  readonly examples: string[];
}

/** The event a command of each kind (its correlation id's second part) must leave, once. */
const eventOf: Record<string, string> = { d: "MoneyDeposited", w: "MoneyWithdrawn", t: "TransferRequested" };

/**
 * Counts per command id, kept small: an id is soak-<kind>-<run>-<thread>-<n>, and each run's thread
 * numbers its commands 1, 2, 3…, so a byte per command in one array per run and thread is enough for
 * the tens of millions an hour sends.
 */
class CommandCounts {
  private readonly byRunThread = new Map<string, Uint8Array>();
  add(id: string): void {
    const parsed = parse(id);
    if (!parsed) return;
    let counts = this.byRunThread.get(parsed.key);
    if (!counts || counts.length <= parsed.n) {
      const grown = new Uint8Array(Math.max(1024, (parsed.n + 1) * 2));
      if (counts) grown.set(counts);
      counts = grown;
      this.byRunThread.set(parsed.key, counts);
    }
    counts[parsed.n] = Math.min(255, (counts[parsed.n] ?? 0) + 1);
  }
  count(id: string): number {
    const parsed = parse(id);
    return parsed ? (this.byRunThread.get(parsed.key)?.[parsed.n] ?? 0) : 0;
  }
  *entries(): Generator<[string, number]> {
    for (const [key, counts] of this.byRunThread)
      for (const [n, count] of counts.entries()) if (count > 0) yield [`${key}-${n}`, count];
  }
}

const parse = (id: string) => {
  const parts = id.split("-");
  if (parts.length !== 5 || parts[0] !== "soak") return undefined;
  return { key: `${parts[1]}-${parts[2]}-${parts[3]}`, n: Number(parts[4]) };
};

/** Every stored event, a page at a time, through the public log. */
export const eachLoggedEvent = async (url: string, each: (event: LoggedEvent) => void): Promise<number> => {
  let count = 0;
  for (let after = 0; ; ) {
    const response = await fetch(`${url}/v1/events?after=${after}&limit=1000`);
    if (!response.ok) throw new Error(`GET /v1/events: ${response.status} ${await response.text()}`);
    const page = (await response.json()) as { events: LoggedEvent[] };
    const last = page.events.at(-1);
    if (!last) return count;
    for (const event of page.events) each(event);
    count += page.events.length;
    after = last.position;
  }
};

/** The ids of the commands wrk saw acknowledged (one file per run and thread), one line each. */
const readAcks = async (dir: string, each: (id: string) => void) => {
  for (const name of readdirSync(dir).filter((n) => n.startsWith("acks-"))) {
    const lines = readFileSync(join(dir, name), "utf8").split("\n");
    // What follows the last newline is empty, or a line cut off (a wrk killed mid-write): not an id.
    lines.pop();
    for (const line of lines) if (line) each(line);
  }
};

const inBatches = async <T>(items: readonly T[], size: number, each: (item: T) => Promise<void>) => {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(each));
};

export const audit = async (url: string, ackDir: string): Promise<AuditResult> => {
  const examples: string[] = [];
  const note = (line: string) => {
    if (examples.length < 20) examples.push(line);
  };

  const seen = new CommandCounts();
  const counts: Record<string, number> = {};
  let moneyIn = 0;
  const accounts = new Map<string, { balance: number; version: number }>();
  const unfinished = new Set<string>();
  const events = await eachLoggedEvent(url, (e) => {
    counts[e.type] = (counts[e.type] ?? 0) + 1;
    const id = e.metadata.correlationId;
    if (id?.startsWith("soak-") && eventOf[id.split("-")[1] ?? ""] === e.type) seen.add(id);
    // Money: what came in and went out, against what the accounts hold (each movement says the balance after it).
    if (e.type === "MoneyDeposited") moneyIn += e.data.amount ?? 0;
    if (e.type === "MoneyWithdrawn") moneyIn -= e.data.amount ?? 0;
    if (e.streamId.startsWith("account-")) {
      const before = accounts.get(e.streamId);
      accounts.set(e.streamId, { balance: e.data.balance ?? before?.balance ?? 0, version: e.version });
    }
    if (e.type === "TransferRequested") unfinished.add(e.streamId);
    if (["TransferCompleted", "TransferRefunded", "TransferRejected"].includes(e.type))
      unfinished.delete(e.streamId);
  });

  let acknowledged = 0;
  let lost = 0;
  await readAcks(ackDir, (id) => {
    acknowledged += 1;
    if (seen.count(id) === 0) {
      lost += 1;
      note(`lost: ${id}`);
    }
  });
  let doubled = 0;
  for (const [id, n] of seen.entries()) {
    if (n <= 1) continue;
    doubled += 1;
    note(`doubled: soak-${id} ×${n}`);
  }
  const moneyHeld = [...accounts.values()].reduce((sum, a) => sum + a.balance, 0);

  let hotLookupMismatches = 0;
  await inBatches([...accounts], 32, async ([streamId, expected]) => {
    const id = streamId.slice("account-".length);
    const response = await fetch(`${url}/v1/accounts/${id}?minVersion=${expected.version}`);
    const doc = (await response.json()) as { balance?: number; version?: number };
    if (!response.ok || doc.balance !== expected.balance || doc.version !== expected.version) {
      hotLookupMismatches += 1;
      note(
        `hot lookup ${id}: ${response.status} ${JSON.stringify(doc)}, log says ${JSON.stringify(expected)}`,
      );
    }
  });

  const range = `from=2020-01-01T00:00:00Z&to=${new Date(Date.now() + 86_400_000).toISOString()}`;
  const analytics = (await (await fetch(`${url}/v1/analytics/event-counts?${range}`)).json()) as {
    counts?: Record<string, number>;
  };
  const analyticsMismatches = Object.keys({ ...counts, ...analytics.counts }).filter(
    (type) => (analytics.counts?.[type] ?? 0) !== (counts[type] ?? 0),
  );
  for (const type of analyticsMismatches)
    note(`analytics ${type}: ${analytics.counts?.[type] ?? 0}, log says ${counts[type] ?? 0}`);

  return {
    events,
    acknowledged,
    lost,
    doubled,
    moneyIn,
    moneyHeld,
    unfinishedTransfers: unfinished.size,
    hotLookupMismatches,
    analyticsMismatches,
    examples,
  };
};
