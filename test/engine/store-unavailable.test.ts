import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { closeSync, openSync, rmSync, writeSync } from "node:fs";
import { StoreUnavailableError } from "../../src/store/event-store.ts";
import { MongoStore } from "../../src/store/mongo/mongo-store.ts";
import type { Store } from "../../src/store/store.ts";
import { emptyCursor, FakeMongod, writeConcernTimeout } from "../../src/testing/fake-mongod.ts";
import { inProcessApp } from "../support/app.ts";
import { type Answer, eventually } from "../support/http.ts";
import { tempDir } from "../support/service.ts";

/** Writes a file until the device refuses another byte; returns its path. */
const fillDisk = (dir: string): string => {
  const path = `${dir}/filler`;
  const fd = openSync(path, "a");
  try {
    for (const size of [1 << 20, 1 << 12, 1]) {
      const chunk = Buffer.alloc(size, 1);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (error) {
        if ((error as { code?: string }).code !== "ENOSPC") throw error;
      }
    }
  } finally {
    closeSync(fd);
  }
  return path;
};

describe("a store that cannot write: 503 unavailable, readiness says so, and it heals", () => {
  test("injected: every write refused with 503 and Retry-After, nothing acknowledged, /readyz names the store", async () => {
    let full = false;
    const refuse = () => {
      throw new StoreUnavailableError(
        "the event store cannot write: no space left on the device (SQLITE_FULL)",
      );
    };
    const app = inProcessApp({
      wrap: (store: Store) =>
        Object.assign(Object.create(store) as Store, {
          append: async (request: Parameters<Store["append"]>[0]) =>
            full ? refuse() : store.append(request),
          ping: async () => (full ? refuse() : store.ping()),
        }),
    });
    try {
      await app.request("POST", "/v1/accounts", { accountId: "a", owner: "a", currency: "EUR" });
      full = true;
      const refused = await app.request("POST", "/v1/accounts/a/deposits", { amount: 5 });
      expect([refused.status, refused.body.code]).toEqual([503, "unavailable"]);
      expect(refused.headers.get("retry-after")).toBe("1");
      expect(refused.headers.get("content-type")).toStartWith("application/problem+json");
      const ready = await app.request("GET", "/readyz");
      expect(ready.status).toBe(503);
      expect((ready.body.checks as Record<string, string>).eventStore).toContain("no space left");

      full = false;
      expect((await app.request("GET", "/readyz")).status).toBe(200);
      expect((await app.request("POST", "/v1/accounts/a/deposits", { amount: 7 })).body).toMatchObject({
        balance: 7,
        version: 2,
      });
      expect(app.log.lines.filter((line) => line.level === "error")).toEqual([]);
    } finally {
      await app.close();
    }
  });

  test("a real full disk (tmpfs): 503s, one log line per episode, /readyz 503, and recovery without a restart", async () => {
    const mountPoint = tempDir("eventfold-full-");
    const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", mountPoint]);
    if (mounted.status !== 0) {
      console.info(
        `SKIPPED the full-disk run: cannot mount a tmpfs here (${mounted.stderr.toString().trim()})`,
      );
      rmSync(mountPoint, { recursive: true, force: true });
      return;
    }
    const episodes: (string | undefined)[] = [];
    const app = inProcessApp({
      config: { dataDir: mountPoint },
      onWritable: (cause) => episodes.push(cause),
    });
    try {
      const call = app.request;
      expect(
        (await call("POST", "/v1/accounts", { accountId: "d", owner: "d", currency: "EUR" })).status,
      ).toBe(201);
      let balance = 0;
      for (let episode = 1; episode <= 2; episode++) {
        const filler = fillDisk(mountPoint);
        // The WAL reuses the space it has, so writes go on until it must grow: send until one fails.
        let refused: Answer | undefined;
        for (let i = 0; i < 200 && !refused; i++) {
          const answers = await Promise.all(
            Array.from({ length: 50 }, () => call("POST", "/v1/accounts/d/deposits", { amount: 1 })),
          );
          balance += answers.filter((a) => a.status === 200).length;
          refused = answers.find((a) => a.status !== 200);
        }
        expect(refused?.status).toBe(503);
        expect(refused?.body.code).toBe("unavailable");
        expect(refused?.headers.get("retry-after")).toBe("1");
        // While it lasts, a write is refused with 503 (or passes, where the WAL had room): never a 500.
        const more = await Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            call(
              "POST",
              "/v1/accounts/d/deposits",
              { amount: 1 },
              { "Idempotency-Key": `full-${episode}-${i}` },
            ),
          ),
        );
        balance += more.filter((a) => a.status === 200).length;
        const refusals = more.filter((a) => a.status !== 200);
        expect([
          ...new Set(refusals.map((a) => `${a.status} ${a.body.code} ${a.headers.get("retry-after")}`)),
        ]).toEqual(["503 unavailable 1"]);
        const refusedKey = `full-${episode}-${more.findIndex((a) => a.status !== 200)}`;
        const ready = await call("GET", "/readyz");
        expect(ready.status).toBe(503);
        expect((ready.body.checks as Record<string, string>).eventStore).toContain(
          "no space left on the device",
        );
        // Named once for the whole episode, however many writes failed.
        expect(episodes.filter((cause) => cause !== undefined)).toHaveLength(episode);

        rmSync(filler);
        await eventually(
          async () => (await call("GET", "/readyz")).status,
          (status) => status === 200,
        );
        expect(episodes.at(-1)).toBeUndefined();
        // A refused command's retry is decided now: it was not kept.
        const retried = await call(
          "POST",
          "/v1/accounts/d/deposits",
          { amount: 1 },
          { "Idempotency-Key": refusedKey },
        );
        balance += 1;
        expect([retried.status, retried.body.balance]).toEqual([200, balance]);
        expect((await call("GET", "/v1/accounts/d/state")).body.balance).toBe(balance);
      }
      expect(episodes.filter((cause) => cause !== undefined)).toEqual([
        expect.stringContaining("SQLITE_FULL"),
        expect.stringContaining("SQLITE_FULL"),
      ]);
      expect(app.log.lines.filter((line) => line.level === "error")).toEqual([]);
    } finally {
      await app.close({ keepData: true });
      spawnSync("umount", ["-l", mountPoint]);
      rmSync(mountPoint, { recursive: true, force: true });
    }
  }, 30_000);
});

describe("a write the store could not confirm: 503 that says it may be kept", () => {
  test("through the MongoDB adapter and the real driver: a write concern error it cannot settle answers written: unknown, retry with the same key", async () => {
    const server = FakeMongod.start();
    const mongo = await MongoStore.connect({ url: server.url("fake"), deadlineMs: 400 });
    const app = inProcessApp({ wrap: () => mongo });
    try {
      server.handle = (c) => {
        const docs = c.body.documents as { kind?: string }[] | undefined;
        if (c.name === "insert" && docs?.[0]?.kind === "events") {
          return { ok: 1, n: 1, writeConcernError: writeConcernTimeout };
        }
        if (c.name === "insert" && c.collection === "commits") {
          // Its positions cannot be tombstoned: the document is there on the primary, unseen by a majority.
          const errmsg =
            "E11000 duplicate key error collection: fake.commits index: positions dup key: { k: 1 }";
          return { ok: 1, n: 0, writeErrors: [{ index: 0, code: 11000, errmsg }] };
        }
        if (c.name === "find" && c.collection === "commits" && c.body.readConcern?.level === "local") {
          return emptyCursor(c, [{ _id: (c.body.filter as { _id: unknown })._id }]);
        }
        return undefined;
      };
      const keyed = await app.request(
        "POST",
        "/v1/accounts",
        { accountId: "a", owner: "A", currency: "EUR" },
        { "Idempotency-Key": "open-a" },
      );
      expect([keyed.status, keyed.body.code, keyed.body.written]).toEqual([503, "unavailable", "unknown"]);
      expect(keyed.body.detail).toContain("same Idempotency-Key");
      expect(keyed.headers.get("retry-after")).toBe("1");
      const unkeyed = await app.request("POST", "/v1/accounts", {
        accountId: "b",
        owner: "B",
        currency: "EUR",
      });
      expect([unkeyed.status, unkeyed.body.written]).toEqual([503, "unknown"]);
      expect(unkeyed.body.detail).toContain("no Idempotency-Key");
    } finally {
      await app.close();
      await mongo.close().catch(() => {});
      server.stop();
    }
  });

  test("a store that surely did not write says written: no", async () => {
    const app = inProcessApp({
      wrap: (store: Store) =>
        Object.assign(Object.create(store) as Store, {
          append: async () => {
            throw new StoreUnavailableError("the event store cannot write: no primary");
          },
        }),
    });
    try {
      const answer = await app.request("POST", "/v1/accounts", {
        accountId: "a",
        owner: "A",
        currency: "EUR",
      });
      expect([answer.status, answer.body.code, answer.body.written]).toEqual([503, "unavailable", "no"]);
    } finally {
      await app.close();
    }
  });
});
