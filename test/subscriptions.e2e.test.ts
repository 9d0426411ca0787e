/**
 * Catch-up subscriptions as another service uses them: a real SSE client (`eventsource`) and the long
 * poll, against a real server; the events they hold are checked against what the store holds.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { pollUntil } from "../src/lib/poll.ts";
import type { EventEnvelope } from "../src/store/envelope.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { type Client, client } from "./support/http.ts";
import { readEverything } from "./support/read-side.ts";
import { startTestService, tempDir } from "./support/service.ts";
import { Follower } from "./support/sse.ts";
import { freePort, spawnServer } from "./support/subprocess.ts";

/** Every event in the store of `dataDir`, read with its server stopped. */
const storedIn = async (dataDir: string): Promise<EventEnvelope[]> => {
  const store = new SqliteStore({ path: join(dataDir, "events.sqlite") });
  try {
    return await readEverything(store);
  } finally {
    await store.close();
  }
};

/**
 * Deposits, withdrawals and transfers among `accounts`, until `running()` says stop; the answer is the
 * transfers it started, which go on writing (their process) after the load stops.
 */
const writeLoad = async (api: Client, accounts: readonly string[], running: () => boolean) => {
  const pick = () => accounts[Math.floor(Math.random() * accounts.length)] ?? "";
  const transfers: string[] = [];
  const worker = async () => {
    while (running()) {
      const roll = Math.random();
      try {
        if (roll < 0.6) await api.post(`/v1/accounts/${pick()}/deposits`, { amount: 100 });
        else if (roll < 0.8) await api.post(`/v1/accounts/${pick()}/withdrawals`, { amount: 10 });
        else {
          const id = `t-${Bun.randomUUIDv7()}`;
          transfers.push(id);
          await api.post("/v1/transfers", { transferId: id, from: pick(), to: pick(), amount: 5 });
        }
      } catch {
        // The server is being killed: the load goes on once it is back.
        await Bun.sleep(50);
      }
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return transfers;
};

/** Resolves once no transfer of `ids` is pending any more: nothing more will be written for them. */
const settled = async (api: Client, ids: readonly string[]) => {
  for (const id of ids) {
    const status = await pollUntil(
      async () => (await api.get<{ status?: string }>(`/v1/transfers/${id}`)).body.status,
      (s) => s !== "pending",
      { timeoutMs: 30_000 },
    );
    expect(status).toBeDefined();
  }
};

/** The position of the last stored event, as the service says. */
const headOf = async (api: Client): Promise<number> => {
  for (let after = 0; ; ) {
    const page = (await api.get<{ events: unknown[]; next: number }>(`/v1/events?after=${after}&limit=1000`))
      .body;
    if (page.events.length === 0) return page.next;
    after = page.next;
  }
};

const openAccounts = async (api: Client, prefix: string, count: number): Promise<string[]> => {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  for (const id of ids) await api.post("/v1/accounts", { accountId: id, owner: id, currency: "EUR" });
  return ids;
};

const positions = (events: readonly { id: number }[]) => events.map((e) => e.id);

describe("catch-up subscriptions", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test("an SSE consumer cut off mid-stream and through a kill -9 holds every event exactly once, in order", async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const port = freePort();
    let server = await spawnServer(dataDir, port);
    const api = client(server.url);
    const accounts = await openAccounts(api, "sub", 12);
    for (const id of accounts) await api.post(`/v1/accounts/${id}/deposits`, { amount: 100_000 });

    let writing = true;
    const load = writeLoad(api, accounts, () => writing);
    const follower = new Follower(`${server.url}/v1/events/stream?after=0`);
    try {
      // Cut off by the consumer mid-stream, then resumed from the last event it holds.
      expect(
        await pollUntil(
          () => follower.events.length,
          (n) => n >= 300,
          { timeoutMs: 30_000 },
        ),
      ).toBeDefined();
      follower.cut();
      const heldAtCut = follower.events.length;
      // Events are written meanwhile, which the resumed stream must bring.
      const cutAt = follower.lastId ?? 0;
      await pollUntil(
        () => headOf(api),
        (head) => head > cutAt + 50,
        { timeoutMs: 30_000 },
      );
      follower.resume();
      expect(
        await pollUntil(
          () => follower.events.length,
          (n) => n > heldAtCut + 200,
          { timeoutMs: 30_000 },
        ),
      ).toBeDefined();

      // The server is killed while the stream flows and commands are written; it starts again.
      server.process.kill(9);
      await server.exited;
      const heldAtKill = follower.events.length;
      server = await spawnServer(dataDir, port);
      expect(
        await pollUntil(
          () => follower.events.length,
          (n) => n > heldAtKill + 200,
          { timeoutMs: 30_000 },
        ),
      ).toBeDefined();
    } finally {
      writing = false;
    }
    // Once every transfer is settled nothing more is written: the consumer gets to the last event,
    // and the store, read with the server stopped, says that it holds exactly what was stored.
    await settled(api, await load);
    const head = await headOf(api);
    try {
      expect(
        await pollUntil(
          () => follower.lastId,
          (id) => id === head,
          { timeoutMs: 30_000 },
        ),
      ).toBe(head);
    } finally {
      follower.close();
      server.process.kill("SIGTERM");
      await server.exited;
    }
    const stored = await storedIn(dataDir);
    expect(stored.at(-1)?.position).toBe(head);
    // The store's events, each once, in order, as stored: nothing skipped, nothing twice.
    expect(positions(follower.events)).toEqual(stored.map((e) => e.position));
    expect(follower.events.map((e) => e.envelope.eventId)).toEqual(stored.map((e) => e.eventId));
    expect(follower.events.map((e) => e.type)).toEqual(stored.map((e) => e.type));
    expect(follower.connections).toBeGreaterThanOrEqual(2);
  }, 120_000);

  test("two consumers with different filters at once each get exactly the events they asked for", async () => {
    const service = await startTestService();
    try {
      const api = client(service.url);
      const transfers = new Follower(`${service.url}/v1/events/stream?aggregateType=transfer`);
      const movements = new Follower(`${service.url}/v1/events/stream?type=MoneyDeposited,MoneyWithdrawn`);
      const accounts = await openAccounts(api, "two", 6);
      let writing = true;
      const load = writeLoad(api, accounts, () => writing);
      await pollUntil(
        () => movements.events.length,
        (n) => n >= 400,
        { timeoutMs: 30_000 },
      );
      writing = false;
      // Transfers write on after the load stops (their process): the log is read once they are done.
      await settled(api, await load);

      const all: EventEnvelope[] = [];
      for (;;) {
        const page = await api.get<{ events: EventEnvelope[]; next: number }>(
          `/v1/events?after=${all.at(-1)?.position ?? 0}&limit=1000`,
        );
        if (page.body.events.length === 0) break;
        all.push(...page.body.events);
      }
      const wantTransfers = all.filter((e) => e.aggregateType === "transfer").map((e) => e.position);
      const wantMovements = all
        .filter((e) => e.type === "MoneyDeposited" || e.type === "MoneyWithdrawn")
        .map((e) => e.position);
      expect(wantTransfers.length).toBeGreaterThan(0);
      await pollUntil(
        () => [transfers.lastId, movements.lastId],
        ([t, m]) => t === wantTransfers.at(-1) && m === wantMovements.at(-1),
        { timeoutMs: 10_000 },
      );
      expect(positions(transfers.events)).toEqual(wantTransfers);
      expect(positions(movements.events)).toEqual(wantMovements);
      transfers.close();
      movements.close();
    } finally {
      await service.dispose();
    }
  }, 60_000);

  test("two services in one process each stream their own log, though their positions are the same", async () => {
    const [first, second] = await Promise.all([startTestService(), startTestService()]);
    try {
      await openAccounts(client(first.url), "first", 2);
      await openAccounts(client(second.url), "second", 2);
      const followers = [first, second].map((s) => new Follower(`${s.url}/v1/events/stream`));
      await pollUntil(
        () => followers.map((f) => f.caughtUp),
        (counts) => counts.every((n) => n > 0),
        { timeoutMs: 10_000 },
      );
      for (const f of followers) f.close();
      expect(followers.map((f) => f.events.map((e) => [e.id, e.envelope.streamId]))).toEqual([
        [
          [1, "account-first-0"],
          [2, "account-first-1"],
        ],
        [
          [1, "account-second-0"],
          [2, "account-second-1"],
        ],
      ]);
    } finally {
      await Promise.all([first.dispose(), second.dispose()]);
    }
  });

  test("a long poll answers as soon as an event it waits for is stored", async () => {
    const service = await startTestService();
    try {
      const api = client(service.url);
      await openAccounts(api, "poll", 1);
      const { next } = (await api.get<{ next: number }>("/v1/events?after=0&limit=1000")).body;
      const waiting = api.get<{ events: EventEnvelope[]; next: number }>(
        `/v1/events?after=${next}&wait=30000&type=MoneyDeposited`,
      );
      // Once the poll is waiting, an event it does not want, then one it does.
      const polls = async () => {
        const text = await (await fetch(`${service.url}/metrics`)).text();
        return /eventfold_event_consumers\{kind="poll"\} (\d+)/.exec(text)?.[1];
      };
      expect(await pollUntil(polls, (n) => n === "1", { timeoutMs: 5_000 })).toBe("1");
      await api.post("/v1/accounts", { accountId: "poll-1", owner: "x", currency: "EUR" });
      await api.post("/v1/accounts/poll-0/deposits", { amount: 7 });
      const answer = await Promise.race([waiting, Bun.sleep(20_000).then(() => undefined)]);
      expect(answer?.status).toBe(200);
      expect(answer?.body.events.map((e) => [e.type, e.data])).toEqual([
        ["MoneyDeposited", { amount: 7, balance: 7, currency: "EUR" }],
      ]);
      expect(answer?.body.next).toBe(next + 2);
      // With nothing new it waits its time and answers empty, with where to go on from.
      const empty = await api.get<{ events: unknown[]; next: number }>(
        `/v1/events?after=${next + 2}&wait=200`,
      );
      expect(empty.body).toEqual({ events: [], next: next + 2 });
    } finally {
      await service.dispose();
    }
  }, 60_000);

  test("a consumer that stops reading is disconnected, and the server's memory stays flat", async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const server = await spawnServer(dataDir, freePort(), { EVENTFOLD_EVENTS_STALL_MS: "1000" });
    const rssMiB = () => {
      const status = readFileSync(`/proc/${server.process.pid}/status`, "utf8");
      return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024;
    };
    try {
      const api = client(server.url);
      const accounts = await openAccounts(api, "slow", 20);
      // About 20 MB of events, far more than a socket's buffers hold.
      const reference = "r".repeat(200);
      await Promise.all(
        accounts.map(async (id) => {
          for (let i = 0; i < 1_000; i++)
            await api.post(`/v1/accounts/${id}/deposits`, { amount: 1, reference });
        }),
      );
      // The read models take the deposits in first (chDB's inserts and merges grow the RSS on their
      // own): what is measured from here is the stream's alone.
      const settled = async () => {
        const { projections } = (await (await fetch(`${server.url}/v1/admin/projections`)).json()) as {
          projections: { lag: number; queued: number }[];
        };
        return projections.every((p) => p.lag === 0 && p.queued === 0);
      };
      expect(await pollUntil(settled, (done) => done, { timeoutMs: 15_000 })).toBe(true);
      const before = rssMiB();
      const streams = async () => {
        const text = await (await fetch(`${server.url}/metrics`)).text();
        return Number(/eventfold_event_consumers\{kind="stream"\} (\d+)/.exec(text)?.[1]);
      };
      // A consumer that asks for everything and then reads nothing.
      const socket = connect(Number(new URL(server.url).port), "127.0.0.1");
      let received = 0;
      let ended = false;
      socket.on("data", (chunk) => {
        received += chunk.length;
      });
      socket.on("end", () => {
        ended = true;
      });
      socket.on("error", () => {});
      socket.write("GET /v1/events/stream?after=0 HTTP/1.1\r\nHost: edge\r\n\r\n");
      socket.pause();
      expect(await pollUntil(streams, (n) => n === 1, { timeoutMs: 5_000 })).toBe(1);
      let peak = before;
      const gone = await pollUntil(
        async () => {
          peak = Math.max(peak, rssMiB());
          return streams();
        },
        (n) => n === 0,
        { timeoutMs: 15_000, intervalMs: 100 },
      );
      expect(gone).toBe(0);
      // What it was sent before the cut was only what the socket held, and then the server closed it.
      socket.resume();
      expect(
        await pollUntil(
          () => ended,
          (e) => e,
          { timeoutMs: 10_000 },
        ),
      ).toBe(true);
      expect(received).toBeLessThan(15 * 1024 * 1024);
      expect(peak - before).toBeLessThan(50);
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toContain("eventfold_event_streams_cut_off_total 1");
      // It resumes where it was cut: a new stream from the last id it holds works.
      const resumed = new Follower(`${server.url}/v1/events/stream`, { "Last-Event-ID": "19990" });
      expect(
        await pollUntil(
          () => resumed.caughtUp,
          (n) => n === 1,
          { timeoutMs: 10_000 },
        ),
      ).toBe(1);
      expect(positions(resumed.events)).toEqual(Array.from({ length: 30 }, (_, i) => 19_991 + i));
      resumed.close();
      socket.destroy();
    } finally {
      server.process.kill("SIGTERM");
      await server.exited;
    }
  }, 120_000);
});
