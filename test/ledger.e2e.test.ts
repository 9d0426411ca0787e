import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fromBase64url } from "../src/ledger/signing.ts";
import { client, openAccount } from "./support/http.ts";
import { startTestService, tempDir } from "./support/service.ts";

const tokens = { reader: "ledger-reader-token", writer: "ledger-writer-token" };
const apiKeys = [
  { name: "auditor", role: "reader" as const, token: tokens.reader },
  { name: "teller", role: "writer" as const, token: tokens.writer },
];

/**
 * The independent checker, run as an auditor would run it: a process of its own, over HTTP (spawned
 * without blocking: the service answering it runs in this process).
 */
const check = async (url: string, ...args: string[]) => {
  const run = Bun.spawn([process.execPath, "scripts/ledger-check.ts", "--url", url, ...args], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([
    new Response(run.stdout).text(),
    new Response(run.stderr).text(),
    run.exited,
  ]);
  return { code, out, err };
};
const asAuditor = ["--token", tokens.reader];

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("the ledger over HTTP, checked by a script that shares no code with eventfold", () => {
  test("a signed head, inclusion proofs, a consistency proof from a saved head; an altered event's proof fails", async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    let service = await startTestService({ dataDir, apiKeys });
    try {
      const writer = client(service.url, { Authorization: `Bearer ${tokens.writer}` });
      const reader = client(service.url, { Authorization: `Bearer ${tokens.reader}` });
      await openAccount(writer, "ledger-a", "EUR", 500);
      await openAccount(writer, "ledger-b", "EUR");
      for (let i = 1; i <= 5; i++) await writer.post("/v1/accounts/ledger-a/deposits", { amount: i });

      // The reader role suffices; no token is 401.
      expect((await client(service.url).get("/v1/ledger/head")).status).toBe(401);
      const head = await reader.get<{ treeSize: number; position: number; signature: string; keyId: string }>(
        "/v1/ledger/head",
      );
      expect(head.status).toBe(200);
      // A head covers what was acknowledged before it was asked for: 2 opens and 6 deposits.
      expect(head.body).toMatchObject({ treeSize: 8, position: 8 });
      const keys = await reader.get<{ keys: { keyId: string; publicKey: string }[] }>("/v1/ledger/keys");
      expect(keys.body.keys.map((k) => k.keyId)).toEqual([head.body.keyId]);
      expect(fromBase64url(keys.body.keys[0]?.publicKey ?? "")).toHaveLength(32);
      expect(fromBase64url(head.body.signature)).toHaveLength(64);
      // The signing key was made in the data directory, readable by its owner only.
      expect(statSync(join(dataDir, "ledger-signing-key")).mode & 0o777).toBe(0o600);

      const saved = join(dataDir, "auditor-head.json");
      const first = await check(
        service.url,
        ...asAuditor,
        "--position",
        "1",
        "--position",
        "8",
        "--save",
        saved,
      );
      expect(first.err).toBe("");
      expect(first.code).toBe(0);
      expect(first.out).toContain("ok head 8 root");
      expect(first.out).toContain("ok inclusion position 1 leaf 0 of 8");
      expect(first.out).toContain("ok inclusion position 8 leaf 7 of 8");

      // More appends; the saved head is proven to be a prefix of the new tree.
      await writer.post("/v1/transfers", {
        from: "ledger-a",
        to: "ledger-b",
        amount: 100,
        transferId: "ledger-t",
      });
      for (let i = 0; i < 20; i++) await writer.post("/v1/accounts/ledger-b/deposits", { amount: 1 });
      const second = await check(service.url, ...asAuditor, "--head", saved, "--position", "3");
      expect(second.err).toBe("");
      expect(second.code).toBe(0);
      expect(second.out).toMatch(/ok consistency 8 → \d+/);

      // Proofs the ledger cannot give are refused with a problem, never a 500.
      const later = await reader.get<{ treeSize: number }>("/v1/ledger/head");
      const past = await reader.get("/v1/ledger/proof/consistency?from=2&to=1000000000");
      expect(past.status).toBe(400);
      expect(past.body.code).toBe("proof_out_of_range");
      expect((await reader.get("/v1/ledger/proof/inclusion?position=999999")).status).toBe(404);
      // An event not in an earlier tree is not proven in it.
      const notYet = await reader.get("/v1/ledger/proof/inclusion?position=20&treeSize=8");
      expect(notYet.status).toBe(404);
      writeFileSync(join(dataDir, "latest.json"), JSON.stringify(later.body));
    } finally {
      await service.stop();
    }

    // Someone changes one stored event behind the service's back; the service starts again on it.
    const db = new Database(join(dataDir, "events.sqlite"));
    db.exec("PRAGMA busy_timeout = 10000");
    db.exec(`UPDATE events SET data = replace(data, '"amount":', '"amount":9') WHERE position = 5`);
    db.close();
    service = await startTestService({ dataDir, apiKeys });
    try {
      const altered = await check(service.url, ...asAuditor, "--position", "5");
      expect(altered.code).toBe(1);
      expect(altered.err).toContain("FAIL");
      // The other events still prove out against the same signed head.
      const untouched = await check(service.url, ...asAuditor, "--position", "4", "--position", "6");
      expect(untouched.code).toBe(0);
      // The key is the one kept in the data directory: heads signed before still verify.
      const before = JSON.parse(readFileSync(join(dataDir, "latest.json"), "utf8")) as { keyId: string };
      const keys = await client(service.url, { Authorization: `Bearer ${tokens.reader}` }).get<{
        keys: { keyId: string }[];
      }>("/v1/ledger/keys");
      expect(keys.body.keys.map((k) => k.keyId)).toEqual([before.keyId]);
    } finally {
      await service.stop();
    }
  }, 60_000);

  test("a configured key signs instead of a generated one, and a key file others may read is refused", async () => {
    const seed = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
    const configured = await startTestService({ ledgerSigningKey: seed });
    try {
      const head = await client(configured.url).get<{ keyId: string }>("/v1/ledger/head");
      const keys = await client(configured.url).get<{ keys: { keyId: string; publicKey: string }[] }>(
        "/v1/ledger/keys",
      );
      expect(keys.body.keys).toHaveLength(1);
      expect(keys.body.keys[0]?.keyId).toBe(head.body.keyId);
      expect((await check(configured.url)).code).toBe(0);
    } finally {
      await configured.dispose();
    }
    const dataDir = tempDir();
    dirs.push(dataDir);
    writeFileSync(join(dataDir, "ledger-signing-key"), `${seed}\n`, { mode: 0o644 });
    await expect(startTestService({ dataDir })).rejects.toThrow(
      /others may read it \(mode 644\): chmod 600 it/,
    );
  }, 60_000);
});
