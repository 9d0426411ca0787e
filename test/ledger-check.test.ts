import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type ConsistencyProof,
  checkConsistency,
  checkHead,
  checkInclusion,
  type Head,
  type InclusionProof,
  type Key,
} from "../scripts/ledger-check.ts";
import {
  type Coord,
  consistencyProof,
  Frontier,
  type Hash,
  inclusionProof,
  leafHash,
  type NodeSource,
  rootOf,
  toHex,
} from "../src/ledger/merkle.ts";

const script = join(import.meta.dir, "..", "scripts", "ledger-check.ts");
const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");
const encoder = new TextEncoder();

async function keyPair(): Promise<CryptoKeyPair> {
  const pair: unknown = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
  return pair as CryptoKeyPair;
}

/** An in-memory ledger: events at positions with gaps, their tree, heads signed as eventfold signs them. */
class TestLedger {
  readonly leaves: Uint8Array[];
  readonly source: NodeSource;
  readonly #nodes = new Map<string, Hash>();

  private constructor(
    count: number,
    private readonly pair: CryptoKeyPair,
    readonly key: Key,
    amount: (i: number) => number,
  ) {
    this.leaves = Array.from({ length: count }, (_, i) =>
      encoder.encode(JSON.stringify({ eventId: `e${i}`, type: "Deposited", data: { amount: amount(i) } })),
    );
    const frontier = new Frontier();
    for (const leaf of this.leaves) {
      for (const { coord, hash } of frontier.push(leafHash(leaf))) this.#nodes.set(this.#key(coord), hash);
    }
    this.source = { nodes: (coords) => coords.map((c) => this.#nodes.get(this.#key(c)) as Hash) };
  }

  #key(c: Coord): string {
    return `${c.level}:${c.index}`;
  }

  static async create(count: number, keyId = "k1"): Promise<TestLedger> {
    const pair = await keyPair();
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    const key = { keyId, algorithm: "Ed25519", publicKey: b64url(raw), since: "2024-01-01T00:00:00.000Z" };
    return new TestLedger(count, pair, key, (i) => i * 7);
  }

  /** The same key signing another history: leaf `altered` has another amount. */
  fork(altered: number): TestLedger {
    return new TestLedger(this.leaves.length, this.pair, this.key, (i) => (i === altered ? -1 : i * 7));
  }

  /** Positions start at 101 and skip every other number, so that they are never mistaken for leaf indices. */
  static position(leafIndex: number): number {
    return 101 + 2 * leafIndex;
  }

  async head(treeSize: number, pair: CryptoKeyPair = this.pair): Promise<Head> {
    const rootHash = toHex(await rootOf(treeSize, this.source));
    const timestamp = new Date(Date.UTC(2024, 5, 1) + treeSize * 1000).toISOString();
    const keyId = this.key.keyId;
    const text = `eventfold.head.v1 ${treeSize} ${rootHash} ${timestamp} ${keyId}`;
    const signature = new Uint8Array(
      await crypto.subtle.sign("Ed25519", pair.privateKey, encoder.encode(text)),
    );
    const position = treeSize === 0 ? 0 : TestLedger.position(treeSize - 1);
    return { treeSize, position, rootHash, timestamp, keyId, signature: b64url(signature) };
  }

  async inclusion(leafIndex: number, treeSize: number): Promise<InclusionProof> {
    const leaf = this.leaves[leafIndex] as Uint8Array;
    return {
      position: TestLedger.position(leafIndex),
      leafIndex,
      treeSize,
      leaf: b64url(leaf),
      leafHash: toHex(leafHash(leaf)),
      path: (await inclusionProof(leafIndex, treeSize, this.source)).map(toHex),
    };
  }

  async consistency(from: number, to: number): Promise<ConsistencyProof> {
    return { from, to, path: (await consistencyProof(from, to, this.source)).map(toHex) };
  }
}

/** The hex string with one digit changed. */
const alterHex = (hex: string, at = 0) =>
  `${hex.slice(0, at)}${hex[at] === "0" ? "1" : "0"}${hex.slice(at + 1)}`;

function alterLeaf(leaf: string, at = 0): string {
  const bytes = new Uint8Array(Buffer.from(leaf, "base64url"));
  bytes[at] = (bytes[at] as number) ^ 0x01;
  return b64url(bytes);
}

describe("the checks", () => {
  let ledger: TestLedger;
  beforeAll(async () => {
    ledger = await TestLedger.create(45);
  });

  test("accept right heads, inclusion proofs and consistency proofs", async () => {
    for (const size of [0, 1, 2, 7, 8, 9, 32, 45]) await checkHead(await ledger.head(size), [ledger.key]);
    for (const size of [1, 2, 3, 17, 45]) {
      const head = await ledger.head(size);
      for (let i = 0; i < size; i++) checkInclusion(await ledger.inclusion(i, size), head);
    }
    for (const [from, to] of [
      [1, 45],
      [8, 45],
      [13, 44],
      [44, 45],
      [31, 32],
    ] as const) {
      checkConsistency(await ledger.consistency(from, to), await ledger.head(from), await ledger.head(to));
    }
    const [empty, same] = [await ledger.head(0), await ledger.head(20)];
    checkConsistency({ from: 0, to: 20, path: [] }, empty, same);
    checkConsistency({ from: 20, to: 20, path: [] }, same, same);
  });

  test("agree with src/ledger/merkle.ts on every proof of a 45-leaf tree, and reject each altered one", async () => {
    // Unsigned heads: checkInclusion and checkConsistency trust the head they are given.
    const heads: Head[] = [];
    for (let size = 0; size <= 45; size++) {
      const rootHash = toHex(await rootOf(size, ledger.source));
      heads.push({ treeSize: size, position: 0, rootHash, timestamp: "t", keyId: "k1", signature: "" });
    }
    const headOf = (size: number) => heads[size] as Head;
    for (let to = 1; to <= 45; to++) {
      for (let i = 0; i < to; i++) {
        const proof = await ledger.inclusion(i, to);
        checkInclusion(proof, headOf(to));
        const j = i % Math.max(1, proof.path.length);
        const path = proof.path.map((h, k) => (k === j ? alterHex(h, 7) : h));
        if (path.length > 0)
          expect(() => checkInclusion({ ...proof, path }, headOf(to))).toThrow(/not proven/);
      }
      for (let from = 1; from <= to; from++) {
        const proof = await ledger.consistency(from, to);
        checkConsistency(proof, headOf(from), headOf(to));
        if (from < to) {
          const path = proof.path.map((h, k) => (k === from % proof.path.length ? alterHex(h, 7) : h));
          expect(() => checkConsistency({ ...proof, path }, headOf(from), headOf(to))).toThrow(/not proven/);
          expect(() => checkConsistency(proof, headOf(from - 1 || 2), headOf(to))).toThrow();
        }
      }
    }
  });

  test("reject a head signed by another key, by an unknown key, or altered after signing", async () => {
    const head = await ledger.head(30);
    const other = await keyPair();
    await expect(checkHead(await ledger.head(30, other), [ledger.key])).rejects.toThrow(/bad signature/);
    await expect(checkHead({ ...head, keyId: "k2" }, [ledger.key])).rejects.toThrow(/unknown keyId "k2"/);
    await expect(checkHead({ ...head, treeSize: 31 }, [ledger.key])).rejects.toThrow(/bad signature/);
    await expect(checkHead({ ...head, treeSize: 29 }, [ledger.key])).rejects.toThrow(/bad signature/);
    await expect(checkHead({ ...head, rootHash: alterHex(head.rootHash) }, [ledger.key])).rejects.toThrow(
      /bad signature/,
    );
    await expect(checkHead({ ...head, timestamp: "2024-06-01T00:00:31.000Z" }, [ledger.key])).rejects.toThrow(
      /bad signature/,
    );
    await expect(checkHead({ ...head, rootHash: head.rootHash.toUpperCase() }, [ledger.key])).rejects.toThrow(
      /rootHash/,
    );
  });

  test("reject a leaf altered by one byte, whether or not its leaf hash was altered to match", async () => {
    const head = await ledger.head(45);
    for (const i of [0, 1, 22, 44]) {
      const proof = await ledger.inclusion(i, 45);
      for (const at of [0, 5, ledger.leaves[i]?.length ? (ledger.leaves[i]?.length as number) - 1 : 0]) {
        const leaf = alterLeaf(proof.leaf, at);
        expect(() => checkInclusion({ ...proof, leaf }, head)).toThrow(/do not hash to leafHash/);
        const rehashed = toHex(leafHash(new Uint8Array(Buffer.from(leaf, "base64url"))));
        expect(() => checkInclusion({ ...proof, leaf, leafHash: rehashed }, head)).toThrow(/is not proven/);
      }
    }
  });

  test("reject an altered path element, a wrong leaf index, or a proof for another tree", async () => {
    const head = await ledger.head(45);
    for (const i of [0, 9, 31, 44]) {
      const proof = await ledger.inclusion(i, 45);
      for (let j = 0; j < proof.path.length; j++) {
        for (const at of [0, 63]) {
          const path = proof.path.map((h, k) => (k === j ? alterHex(h, at) : h));
          expect(() => checkInclusion({ ...proof, path }, head)).toThrow(/is not proven/);
        }
      }
      expect(() => checkInclusion({ ...proof, leafIndex: i ^ 1 }, head)).toThrow(/is not proven/);
      expect(() => checkInclusion({ ...proof, path: proof.path.slice(1) }, head)).toThrow(/is not proven/);
      expect(() => checkInclusion({ ...proof, treeSize: 44 }, head)).toThrow(/proof is for tree 44/);
    }
    const proof = await ledger.inclusion(3, 45);
    expect(() => checkInclusion({ ...proof, path: [...proof.path.slice(1), "xyz"] }, head)).toThrow(
      /path\[\d+\] is not 64 lowercase hex digits/,
    );
    expect(() => checkInclusion({ ...proof, leaf: "not base64url!" }, head)).toThrow(/leaf is not base64url/);
  });

  test("reject a consistency proof against an altered old root, or altered itself", async () => {
    const [oldHead, newHead] = [await ledger.head(13), await ledger.head(45)];
    const proof = await ledger.consistency(13, 45);
    checkConsistency(proof, oldHead, newHead);
    for (const at of [0, 31, 63]) {
      const altered = { ...oldHead, rootHash: alterHex(oldHead.rootHash, at) };
      expect(() => checkConsistency(proof, altered, newHead)).toThrow(/is not proven a prefix/);
      expect(() =>
        checkConsistency(proof, oldHead, { ...newHead, rootHash: alterHex(newHead.rootHash, at) }),
      ).toThrow(/is not proven a prefix/);
    }
    for (let j = 0; j < proof.path.length; j++) {
      const path = proof.path.map((h, k) => (k === j ? alterHex(h, 10) : h));
      expect(() => checkConsistency({ ...proof, path }, oldHead, newHead)).toThrow(/is not proven a prefix/);
    }
    expect(() => checkConsistency({ ...proof, from: 12 }, oldHead, newHead)).toThrow(
      /proof is from 12 to 45/,
    );
    expect(() => checkConsistency({ from: 45, to: 13, path: [] }, newHead, oldHead)).toThrow(/shrank/);
    const same = await ledger.head(13);
    expect(() =>
      checkConsistency({ from: 13, to: 13, path: [] }, { ...same, rootHash: alterHex(same.rootHash) }, same),
    ).toThrow(/different roots/);
    expect(() =>
      checkConsistency({ from: 0, to: 45, path: [] }, { ...oldHead, treeSize: 0 }, newHead),
    ).toThrow(/not the empty tree/);
  });
});

describe("the command line, against a real HTTP server", () => {
  const token = "reader-token";
  let ledger: TestLedger;
  let server: ReturnType<typeof Bun.serve>;
  let served = 30;
  let alteredLeaf: number | undefined;
  let dir: string;

  beforeAll(async () => {
    ledger = await TestLedger.create(50, "key-2024");
    dir = mkdtempSync(join(tmpdir(), "ledger-check-"));
    const json = (body: unknown, status = 200) => Response.json(body, { status });
    server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: async (request) => {
        if (request.headers.get("authorization") !== `Bearer ${token}`)
          return json({ error: "unauthorized" }, 401);
        const url = new URL(request.url);
        const query = (name: string) => Number(url.searchParams.get(name));
        switch (url.pathname) {
          case "/v1/ledger/keys":
            return json({ keys: [ledger.key] });
          case "/v1/ledger/head":
            return json(await ledger.head(served));
          case "/v1/ledger/proof/inclusion": {
            const leafIndex = (query("position") - 101) / 2;
            const treeSize = url.searchParams.has("treeSize") ? query("treeSize") : served;
            if (!Number.isInteger(leafIndex) || leafIndex < 0 || leafIndex >= treeSize) {
              return json({ error: "no such event" }, 404);
            }
            const proof = await ledger.inclusion(leafIndex, treeSize);
            return json(leafIndex === alteredLeaf ? { ...proof, leaf: alterLeaf(proof.leaf, 3) } : proof);
          }
          case "/v1/ledger/proof/consistency":
            return json(await ledger.consistency(query("from"), query("to")));
          default:
            return json({ error: "not found" }, 404);
        }
      },
    });
  });

  afterAll(() => {
    server.stop(true);
    rmSync(dir, { recursive: true, force: true });
  });

  async function run(
    args: string[],
    env: Record<string, string> = {},
    command = [process.execPath, script],
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const child = Bun.spawn([...command, "--url", `http://127.0.0.1:${server.port}`, ...args], {
      env: { PATH: process.env.PATH ?? "", ...env },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, stdout, stderr] = await Promise.all([
      child.exited,
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
    ]);
    return { code, stdout, stderr };
  }

  test("checks the head and inclusion proofs, saves the head, then checks consistency with it", async () => {
    served = 30;
    alteredLeaf = undefined;
    const saved = join(dir, "head.json");
    const first = await run(["--token", token, "--position", "101", "--position", "159", "--save", saved]);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    const head = await ledger.head(30);
    expect(first.stdout.split("\n")).toEqual([
      `ok head 30 root ${head.rootHash} at ${head.timestamp} signed by key-2024`,
      "ok inclusion position 101 leaf 0 of 30",
      "ok inclusion position 159 leaf 29 of 30",
      "",
    ]);
    expect(JSON.parse(readFileSync(saved, "utf8"))).toEqual(head);

    served = 50;
    const second = await run(["--head", saved, "--position", "117"], { EVENTFOLD_TOKEN: token });
    expect(second.stderr).toBe("");
    expect(second.code).toBe(0);
    expect(second.stdout.split("\n").slice(1)).toEqual([
      "ok inclusion position 117 leaf 8 of 50",
      "ok consistency 30 → 50",
      "",
    ]);
  });

  test("exits 1 when the served leaf is altered", async () => {
    served = 40;
    alteredLeaf = 17;
    const result = await run(["--token", token, "--position", "105", "--position", "135"]);
    alteredLeaf = undefined;
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("ok inclusion position 105 leaf 2 of 40");
    expect(result.stderr).toBe("FAIL position 135: leaf bytes do not hash to leafHash\n");
  });

  test("exits 1 when a saved head is not a prefix of the latest", async () => {
    served = 50;
    // Signed by the ledger's own key, over a history where event 11 differs: a split view.
    const split = join(dir, "split.json");
    writeFileSync(split, JSON.stringify(await ledger.fork(11).head(20)));
    const result = await run(["--token", token, "--head", split]);
    expect(result.stdout).toContain("ok head 50");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^FAIL consistency 20 → 50: the old root [0-9a-f]{64} is not proven a prefix/,
    );
  });

  test("exits 1 when a saved head was altered, or the token is refused", async () => {
    served = 50;
    const old = await ledger.head(20);
    const forged = join(dir, "forged.json");
    writeFileSync(forged, JSON.stringify({ ...old, treeSize: 21 }));
    const result = await run(["--token", token, "--head", forged]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("bad signature on head 21");

    const refused = await run(["--token", "wrong"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("HTTP 401");
  });

  // The checker promises to run under Node too: strip its types as a Node TypeScript loader would.
  const node = Bun.which("node");
  test.skipIf(!node)("runs under Node", async () => {
    served = 50;
    alteredLeaf = undefined;
    const js = join(dir, "ledger-check.mjs");
    writeFileSync(js, new Bun.Transpiler({ loader: "ts" }).transformSync(readFileSync(script, "utf8")));
    const result = await run(["--token", token, "--position", "199"], {}, [node as string, js]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("ok inclusion position 199 leaf 49 of 50");
  });
});
