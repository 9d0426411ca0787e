import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { client, openAccount } from "./support/http.ts";
import { startTestService, tempDir } from "./support/service.ts";
import { freePort, spawnServer } from "./support/subprocess.ts";

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("one writer per aggregate", () => {
  test("1 000 concurrent deposits on one account: exact balance, versions 2..1001 each once", async () => {
    const service = await startTestService();
    try {
      const api = client(service.url);
      await openAccount(api, "hot");
      const answers = await Promise.all(
        range(1, 1000).map((i) =>
          api.post<{ version: number; balance: number }>("/v1/accounts/hot/deposits", { amount: i }),
        ),
      );
      expect(answers.map((a) => a.status).filter((s) => s !== 200)).toEqual([]);
      expect(answers.map((a) => a.body.version).sort((a, b) => a - b)).toEqual(range(2, 1001));
      const expected = (1000 * 1001) / 2;
      expect(Math.max(...answers.map((a) => a.body.balance))).toBe(expected);
      expect((await api.get("/v1/accounts/hot/state")).body).toMatchObject({
        balance: expected,
        version: 1001,
      });

      const events = await service.engine.store.readStream("account-hot");
      expect(events.map((e) => e.version)).toEqual(range(1, 1001));
      // Each answer's balance is the running sum at its version: commands ran one at a time.
      const balanceAt = new Map(
        events.map((e) => [e.version, (e.data as { balance?: number }).balance ?? 0]),
      );
      for (const a of answers) expect(a.body.balance).toBe(balanceAt.get(a.body.version) ?? -1);
    } finally {
      await service.dispose();
    }
  });

  test("commands for one aggregate are decided in arrival order", async () => {
    const service = await startTestService();
    try {
      const api = client(service.url);
      await openAccount(api, "ordered");
      const { account } = await import("../actors/account/index.ts");
      const metadata = { commandId: "c", correlationId: "c", causationId: "c" };
      // Sent without waiting: the mailbox keeps arrival order.
      const outcomes = await Promise.all(
        range(1, 50).map((i) =>
          service.engine.actors.dispatch(account, "ordered", {
            command: { type: "Deposit", amount: i, reference: `r${i}` },
            metadata,
          }),
        ),
      );
      expect(outcomes.map((o) => (o.kind === "accepted" ? o.version : -1))).toEqual(range(2, 51));
      const events = await service.engine.store.readStream("account-ordered", { after: 1 });
      expect(events.map((e) => (e.data as { reference: string }).reference)).toEqual(
        range(1, 50).map((i) => `r${i}`),
      );
    } finally {
      await service.dispose();
    }
  });
});

describe("two engine instances over one SQLite file", () => {
  const dir = tempDir();
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("concurrent commands on the same account stay correct: no lost update, no duplicate version", async () => {
    // One event store, but chDB binds its data directory to one process: each gets its own analytics.
    const spawn = (name: string) =>
      spawnServer(dir, freePort(), { EVENTFOLD_CHDB_PATH: join(dir, `chdb-${name}`) });
    const [a, b] = await Promise.all([spawn("a"), spawn("b")]);
    try {
      const apiA = client(a.url);
      const apiB = client(b.url);
      await openAccount(apiA, "shared", "EUR", 10_000);
      // Both processes serve the same aggregate; each one's in-memory state goes stale as the other writes.
      const answers = await Promise.all(
        range(1, 400).map((i) => {
          const api = i % 2 === 0 ? apiA : apiB;
          return i % 4 === 3
            ? api.post<{ version: number }>("/v1/accounts/shared/withdrawals", { amount: 7 })
            : api.post<{ version: number }>("/v1/accounts/shared/deposits", { amount: 10 });
        }),
      );
      expect(answers.filter((x) => x.status !== 200).map((x) => [x.status, x.body])).toEqual([]);
      const versions = answers.map((x) => x.body.version).sort((p, q) => p - q);
      expect(versions).toEqual(range(3, 402));

      const store = new SqliteStore({ path: join(dir, "events.sqlite") });
      const events = await store.readStream("account-shared");
      await store.close();
      expect(events.map((e) => e.version)).toEqual(range(1, 402));
      const withdrawals = answers.filter((_, i) => (i + 1) % 4 === 3).length;
      const deposits = 400 - withdrawals;
      const expected = 10_000 + deposits * 10 - withdrawals * 7;
      expect(events.at(-1)?.data).toMatchObject({ balance: expected });
      expect((await apiB.get("/v1/accounts/shared/state")).body).toMatchObject({
        balance: expected,
        version: 402,
      });
      // The losers of clashes really did reload and retry.
      const conflicts = async (url: string) => {
        const text = await (await fetch(`${url}/metrics`)).text();
        return Number(/^eventfold_append_conflicts_total (\d+)/m.exec(text)?.[1] ?? 0);
      };
      expect((await conflicts(a.url)) + (await conflicts(b.url))).toBeGreaterThan(0);
    } finally {
      a.process.kill();
      b.process.kill();
      await Promise.all([a.exited, b.exited]);
    }
  }, 60_000);
});
