import { Database } from "bun:sqlite";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../config.ts";
import { keyIdOf } from "../ledger/signing.ts";
import {
  type CheckedHead,
  type Verification,
  type VerifySource,
  verified,
  verifyLedger,
} from "../ledger/verify.ts";
import type { LedgerKey, SignedHead } from "../store/ledger-store.ts";
import { openVerifySource } from "../store/sqlite/ledger.ts";
import { progressBar } from "./progress.ts";

export const ledgerUsage = `usage: npm run eventfold -- ledger <command>

  verify [--head <head.json>] [--key <public key>]
                               recomputes the Merkle tree from the event store as stored now (offline:
                               EVENTFOLD_DATA_DIR's events.sqlite, or MONGO_URL) and compares it with
                               the tree and the signed heads kept beside it; names the first position
                               where the log breaks and how (altered, missing, reordered, inserted).
                               --head: a head saved earlier (GET /v1/ledger/head), checked too: its
                               signature, its root, and a consistency proof from it to the tree now.
                               --key: the Ed25519 public key (base64url, as GET /v1/ledger/keys lists
                               it) heads must be signed by; without it, the keys the store lists, which
                               whoever can write the store could add to. A tree with no signed head
                               does not verify.
  keygen                       prints a new Ed25519 signing key for EVENTFOLD_LEDGER_SIGNING_KEY

Exit codes: 0 verified, 1 broken or failed, 2 usage.`;

export class LedgerUsageError extends Error {}

const short = (hash: string) => `${hash.slice(0, 16)}…`;

const headLine = (label: string, c: CheckedHead): string => {
  const h = c.head;
  const verdict = [
    c.signed ? "signature good" : "SIGNATURE BAD (or its key is not listed)",
    c.matches ? "root matches the events" : "ROOT DOES NOT MATCH the events",
    c.consistent === undefined
      ? ""
      : c.consistent
        ? "the tree now extends it (consistency proof checks out)"
        : "NOT PROVEN CONSISTENT with the tree now",
  ].filter((part) => part !== "");
  return `${label}: size ${h.treeSize}, root ${short(h.rootHash)}, signed ${h.timestamp} by ${h.keyId}: ${verdict.join("; ")}`;
};

export const report = (v: Verification, seconds: number): string[] => {
  const lines: string[] = [];
  const rate = seconds > 0 ? Math.round(v.events / seconds) : v.events;
  if (v.break) {
    lines.push(`BROKEN at position ${v.break.position} (leaf ${v.break.leafIndex}): ${v.break.kind}`);
    lines.push(`  ${v.break.detail}`);
    lines.push(`  the ${v.events} events before it match their leaves`);
  } else {
    lines.push(
      `${v.events} events match the tree's ${v.treeSize} leaves (${rate} events/s); root ${v.rootHash}`,
    );
    if (!v.nodesMatch) lines.push("the tree's STORED NODES DO NOT give that root: they were changed");
  }
  if (v.latest) lines.push(headLine("latest signed head", v.latest));
  else if (v.treeSize > 0)
    lines.push(
      "NO SIGNED HEAD is kept: nothing proves this tree is the one the service signed (it signs within its interval)",
    );
  if (v.saved) lines.push(headLine("your head", v.saved));
  if (v.unsealed > 0)
    lines.push(`${v.unsealed} events after the tree's last leaf are not sealed into it yet`);
  lines.push(verified(v) ? "verified" : "NOT verified");
  return lines;
};

const sqliteSource = (dataDir: string): { source: VerifySource; close(): void } => {
  const path = join(dataDir, "events.sqlite");
  if (!existsSync(path)) throw new LedgerUsageError(`no event store at ${path} (EVENTFOLD_DATA_DIR)`);
  const db = new Database(path, { readonly: true });
  db.exec("PRAGMA busy_timeout = 10000");
  const format = db
    .query<{ value: number }, []>("SELECT value FROM store_meta WHERE name = 'format'")
    .get()?.value;
  if (format !== 3) {
    db.close();
    throw new Error(
      `${path} is of format ${format ?? "unknown"}, without the ledger's tree: start eventfold on it once, which builds the tree (format 3)`,
    );
  }
  // One read transaction for the whole run: WAL gives it one snapshot, whatever the service appends meanwhile.
  db.exec("BEGIN");
  return {
    source: openVerifySource(db),
    close: () => {
      db.exec("COMMIT");
      db.close();
    },
  };
};

const verify = async (args: string[]): Promise<number> => {
  let saved: SignedHead | undefined;
  const trusted: LedgerKey[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--head" && args[i + 1]) saved = JSON.parse(readFileSync(args[++i] as string, "utf8"));
    else if (args[i] === "--key" && args[i + 1]) {
      const publicKey = args[++i] as string;
      trusted.push({ keyId: keyIdOf(publicKey), algorithm: "Ed25519", publicKey, since: "" });
    } else throw new LedgerUsageError(`unknown argument: ${args[i]}`);
  }
  const config = loadConfig();
  let opened: { source: VerifySource; close(): void | Promise<void> };
  if (config.mongoUrl) {
    const { openStore } = await import("../store/open.ts");
    const { storeVerifySource } = await import("../ledger/verify.ts");
    const store = await openStore(config);
    opened = { source: storeVerifySource(store, true), close: () => store.close() };
  } else opened = sqliteSource(config.dataDir);
  const bar = progressBar("verify");
  const started = performance.now();
  try {
    const result = await verifyLedger(opened.source, {
      saved,
      onProgress: (done, total) => bar.update(done, total),
    });
    bar.finish();
    for (const line of report(result, (performance.now() - started) / 1000)) console.log(line);
    return verified(result) ? 0 : 1;
  } finally {
    await opened.close();
  }
};

const keygen = async (): Promise<number> => {
  const seed = crypto.getRandomValues(new Uint8Array(32));
  console.log(Buffer.from(seed).toString("base64url"));
  return 0;
};

/** `eventfold ledger …`: offline, against the store itself, not the API. */
export const ledgerCommand = async (args: string[]): Promise<number> => {
  const [verb, ...rest] = args;
  if (verb === "verify") return verify(rest);
  if (verb === "keygen") return keygen();
  if (verb === "--help" || verb === "-h" || verb === undefined) {
    console.log(ledgerUsage);
    return verb === undefined ? 2 : 0;
  }
  throw new LedgerUsageError(`unknown ledger command: ${verb}`);
};
