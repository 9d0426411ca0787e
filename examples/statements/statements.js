// @ts-check
/**
 * Another service, as its developers would write it: it follows eventfold's accounts through
 * `@eventfold/client` and keeps a monthly statement per account in a SQLite file of its own. Each
 * event's effect and the position it reached are written in one transaction, so whatever stops this
 * process (kill -9 included) it applies every event exactly once.
 *
 *   EVENTFOLD_URL=http://127.0.0.1:3000 [EVENTFOLD_TOKEN=…] [STATEMENTS_DB=statements.sqlite] [PORT=3100] node statements.js
 *
 * It answers `GET /accounts/:id/statements` (one line per month: opening, credits, debits, closing)
 * and `GET /status` (the subscription's position, whether it is caught up, its lag).
 */
import { rmSync } from "node:fs";
import { createServer } from "node:http";
import { createEventfoldClient } from "@eventfold/client";
import sqlite from "node-sqlite3-wasm";

const baseUrl = process.env.EVENTFOLD_URL ?? "http://127.0.0.1:3000";
const path = process.env.STATEMENTS_DB ?? "statements.sqlite";
const port = Number(process.env.PORT ?? 3100);

// This SQLite build locks its file with a directory beside it, which a killed process leaves behind;
// this process is the file's only user, so one found at start is stale.
rmSync(`${path}.lock`, { recursive: true, force: true });
const db = new sqlite.Database(path);
db.exec(`
  CREATE TABLE IF NOT EXISTS checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), position INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS statements (
    account_id TEXT NOT NULL,
    month TEXT NOT NULL,
    currency TEXT NOT NULL,
    opening INTEGER NOT NULL,
    credits INTEGER NOT NULL DEFAULT 0,
    debits INTEGER NOT NULL DEFAULT 0,
    closing INTEGER NOT NULL,
    movements INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, month)
  );
`);

/** Money in, money out: the movements that change a balance, by event type. */
const direction = /** @type {Record<string, 1 | -1>} */ ({
  MoneyDeposited: 1,
  TransferCredited: 1,
  TransferDebitReversed: 1,
  MoneyWithdrawn: -1,
  TransferDebited: -1,
});

/** @param {import("@eventfold/client").EventEnvelope} event */
const apply = (event) => {
  const sign = direction[event.type];
  if (sign === undefined) return; // opened, closed: no money moves
  const { amount, balance, currency } = /** @type {{ amount: number, balance: number, currency: string }} */ (
    event.data
  );
  const accountId = event.streamId.slice("account-".length);
  const month = event.time.slice(0, 7);
  db.run(
    `INSERT INTO statements (account_id, month, currency, opening, closing) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (account_id, month) DO NOTHING`,
    [accountId, month, currency, balance - sign * amount, balance],
  );
  db.run(
    `UPDATE statements SET credits = credits + ?, debits = debits + ?, closing = ?, movements = movements + 1
     WHERE account_id = ? AND month = ?`,
    [sign > 0 ? amount : 0, sign < 0 ? amount : 0, balance, accountId, month],
  );
};

const api = createEventfoldClient({
  baseUrl,
  ...(process.env.EVENTFOLD_TOKEN ? { token: process.env.EVENTFOLD_TOKEN } : {}),
});
const stopping = new AbortController();
const subscription = api.subscribe({
  filters: { aggregateType: "account" },
  checkpoint: {
    load: () =>
      /** @type {{ position: number } | null} */ (db.get("SELECT position FROM checkpoint"))?.position,
    // No `save`: the handler writes the position with the statement, in the same transaction.
  },
  handle: (event) => {
    db.exec("BEGIN IMMEDIATE");
    try {
      apply(event);
      db.run(
        "INSERT INTO checkpoint (id, position) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET position = excluded.position",
        [event.position],
      );
      db.exec("COMMIT");
    } catch (error) {
      db.exec("ROLLBACK");
      throw error;
    }
  },
  signal: stopping.signal,
  onCaughtUp: (status) =>
    console.log(`caught up at position ${status.position} (${status.handled} events handled)`),
  onReconnect: ({ attempt, delayMs, reason }) =>
    console.log(`connection lost (${reason}): attempt ${attempt} in ${delayMs} ms`),
});

/**
 * @param {import("node:http").ServerResponse} response
 * @param {number} status
 * @param {unknown} body
 */
const send = (response, status, body) => {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(body));
};

const server = createServer((request, response) => {
  const url = new URL(request.url ?? "/", "http://localhost");
  const statements = url.pathname.match(/^\/accounts\/([^/]+)\/statements$/);
  if (request.method === "GET" && statements) {
    const rows = db.all(
      `SELECT month, currency, opening, credits, debits, closing, movements FROM statements
       WHERE account_id = ? ORDER BY month`,
      [decodeURIComponent(statements[1] ?? "")],
    );
    return send(response, 200, { accountId: statements[1], statements: rows });
  }
  if (request.method === "GET" && url.pathname === "/status")
    return send(response, 200, subscription.status());
  send(response, 404, { error: "not found" });
});
server.listen(port, "127.0.0.1", () => {
  const address = /** @type {import("node:net").AddressInfo} */ (server.address());
  console.log(`statements on http://127.0.0.1:${address.port}, following ${baseUrl}`);
});

const shutdown = async () => {
  server.close();
  await subscription.stop();
  db.close();
};
process.once("SIGTERM", shutdown);
process.once("SIGINT", shutdown);

subscription.done.catch((error) => {
  console.error(`stopped: ${error.message}`);
  process.exitCode = 1;
  server.close();
});
