import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { account } from "../actors/account/index.ts";
import { transfer } from "../actors/transfer/index.ts";
import { advanceTransfer } from "../actors/transfer/process.ts";
import { fold } from "../src/runtime/fold.ts";
import type { EventEnvelope } from "../src/store/envelope.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { client, eventually } from "./support/http.ts";
import { startTestService, tempDir } from "./support/service.ts";
import { freePort, spawnServer } from "./support/subprocess.ts";

const readEverything = async (store: SqliteStore): Promise<EventEnvelope[]> => {
  const all: EventEnvelope[] = [];
  for (let after = 0; ; ) {
    const page = await store.readAll(after, 5_000);
    if (page.length === 0) return all;
    all.push(...page);
    after = page.at(-1)?.position ?? after;
  }
};

const openTransfers = async (store: SqliteStore): Promise<string[]> => {
  const ids: string[] = [];
  for await (const id of store.nonFinalStreams("transfer")) ids.push(id);
  return ids;
};

type Acked =
  | { kind: "deposit" | "withdrawal"; accountId: string; version: number }
  | { kind: "transfer"; id: string };

describe("crash safety", () => {
  const dataDir = tempDir();
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  test("kill -9 under load: every 2xx is stored, no gaps, transfers finish, money is conserved", async () => {
    const accounts = Array.from({ length: 24 }, (_, i) => `crash-${i}`);
    const first = await spawnServer(dataDir, freePort());
    const api = client(first.url);
    for (const id of accounts) {
      await api.post("/v1/accounts", { accountId: id, owner: id, currency: "EUR" });
      await api.post(`/v1/accounts/${id}/deposits`, { amount: 50_000 });
    }

    const acked: Acked[] = [];
    let sent = 0;
    let alive = true;
    const pick = () => accounts[Math.floor(Math.random() * accounts.length)] ?? "crash-0";
    const worker = async () => {
      while (alive && sent < 20_000) {
        sent += 1;
        const roll = Math.random();
        try {
          if (roll < 0.4) {
            const id = pick();
            const a = await api.post<{ version: number }>(`/v1/accounts/${id}/deposits`, {
              amount: 1 + Math.floor(roll * 1000),
            });
            if (a.status === 200) acked.push({ kind: "deposit", accountId: id, version: a.body.version });
          } else if (roll < 0.7) {
            const id = pick();
            const a = await api.post<{ version: number }>(`/v1/accounts/${id}/withdrawals`, {
              amount: 1 + Math.floor(roll * 700),
            });
            if (a.status === 200) acked.push({ kind: "withdrawal", accountId: id, version: a.body.version });
          } else {
            const [from, to] = [pick(), pick()];
            if (from === to) continue;
            const a = await api.post<{ transferId: string }>("/v1/transfers", {
              from,
              to,
              amount: 1 + Math.floor(roll * 500),
            });
            if (a.status === 202) acked.push({ kind: "transfer", id: a.body.transferId });
          }
        } catch {
          return; // the server is gone
        }
      }
    };
    const load = Promise.all(Array.from({ length: 48 }, worker));
    await eventually(
      async () => acked.length,
      (n) => n >= 1_500,
      20_000,
    );
    first.process.kill(9);
    alive = false;
    await load;
    await first.exited;
    expect(acked.filter((a) => a.kind === "transfer").length).toBeGreaterThan(100);

    const store = new SqliteStore({ path: join(dataDir, "events.sqlite") });
    const unfinishedAtCrash = (await openTransfers(store)).length;
    console.info(
      `crash test: ${acked.length} commands acknowledged, ${unfinishedAtCrash} transfers unfinished at the kill`,
    );

    // Start again: the half-done transfers are resumed at start-up.
    const second = await spawnServer(dataDir, freePort());
    try {
      const open = await eventually(
        () => openTransfers(store),
        (ids) => ids.length === 0,
        30_000,
      );
      expect(open).toEqual([]);

      const events = await readEverything(store);
      const byStream = Map.groupBy(events, (e) => e.streamId);

      // Every acknowledged command is in the store.
      for (const a of acked) {
        if (a.kind === "transfer") {
          const status = (await client(second.url).get(`/v1/transfers/${a.id}`)).body.status;
          expect([a.id, status]).toEqual([a.id, expect.stringMatching(/^(completed|refunded)$/)]);
        } else {
          const event = byStream.get(`account-${a.accountId}`)?.[a.version - 1];
          expect([a, event?.type]).toEqual([a, a.kind === "deposit" ? "MoneyDeposited" : "MoneyWithdrawn"]);
        }
      }

      // No stream has a gap, and positions are gap-free too.
      for (const [streamId, stream] of byStream) {
        expect([streamId, stream.map((e) => e.version)]).toEqual([streamId, stream.map((_, i) => i + 1)]);
      }
      expect(events.map((e) => e.position)).toEqual(events.map((_, i) => i + 1));

      // Money is conserved: balances add up to deposits minus withdrawals.
      const sum = (type: string) =>
        events.filter((e) => e.type === type).reduce((n, e) => n + (e.data as { amount: number }).amount, 0);
      let balances = 0;
      for (const id of accounts) {
        balances += fold(account, account.initialState, byStream.get(`account-${id}`) ?? []).balance;
      }
      expect(balances).toBe(sum("MoneyDeposited") - sum("MoneyWithdrawn"));

      // Each transfer moved its money exactly once: one debit, then one credit or one reversal.
      for (const [streamId, stream] of byStream) {
        if (!streamId.startsWith("transfer-")) continue;
        const id = streamId.slice("transfer-".length);
        const effects = events
          .filter((e) => (e.data as { transferId?: string }).transferId === id)
          .map((e) => e.type);
        const last = stream.at(-1)?.type;
        const expected =
          last === "TransferCompleted"
            ? ["TransferDebited", "TransferCredited"]
            : last === "TransferRefunded"
              ? ["TransferDebited", "TransferDebitReversed"]
              : [];
        expect([id, effects]).toEqual([id, expected]);
      }
    } finally {
      await store.close();
      second.process.kill();
      await second.exited;
    }
  }, 120_000);

  test("a transfer left half-done (debited, not credited) is finished when the service starts again", async () => {
    const dir = tempDir();
    try {
      const before = await startTestService({ dataDir: dir });
      const api = client(before.url);
      await api.post("/v1/accounts", { accountId: "half-from", owner: "a", currency: "EUR" });
      await api.post("/v1/accounts/half-from/deposits", { amount: 100 });
      await api.post("/v1/accounts", { accountId: "half-to", owner: "b", currency: "EUR" });
      // What the edge does, stopped right after the debit, as a crash would stop it.
      const metadata = { commandId: "c", correlationId: "c", causationId: "c" };
      await before.engine.actors.dispatch(transfer, "half", {
        command: { type: "RequestTransfer", from: "half-from", to: "half-to", amount: 40 },
        metadata,
      });
      expect((await advanceTransfer(before.engine.api, "half")).status).toBe("debited");
      await before.stop();

      const after = await startTestService({ dataDir: dir });
      try {
        const done = await eventually(
          () => client(after.url).get("/v1/transfers/half"),
          (t) => t.body.status !== "pending",
        );
        expect(done.body).toMatchObject({ status: "completed", amount: 40 });
        expect((await client(after.url).get("/v1/accounts/half-from/state")).body.balance).toBe(60);
        expect((await client(after.url).get("/v1/accounts/half-to/state")).body.balance).toBe(40);
      } finally {
        await after.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
