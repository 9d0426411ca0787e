/**
 * ledger-check: an auditor's check of an eventfold ledger, over its HTTP API.
 *
 *   bun scripts/ledger-check.ts --url http://127.0.0.1:3000 [--token T] [--position N ...]
 *                               [--head saved-head.json] [--save head.json]
 *
 * It fetches the signing keys and the latest signed tree head, and checks:
 * - the head's Ed25519 signature over "eventfold.head.v1 <treeSize> <rootHash> <timestamp> <keyId>";
 * - for each --position, that the event there is a leaf of that head's tree: the leaf hash is recomputed
 *   from the served bytes and its audit path verified against the signed root (RFC 9162 §2.1.3.2);
 * - with --head, an earlier head the auditor saved: its signature, and that the latest tree extends it,
 *   i.e. nothing the old head covered was altered or removed (consistency proof, RFC 9162 §2.1.4.2).
 * With --save it writes the latest head, once every check passed, for the next run's --head.
 * The token comes from --token or EVENTFOLD_TOKEN. It prints one line per check and exits 1 on a failure.
 *
 * It shares no code with eventfold: the hashing and both verification algorithms are written out again
 * below, from the RFC, so that an auditor need read this file only. It needs Bun or Node (with a
 * TypeScript loader): node:crypto, node:fs, node:util and fetch.
 */
import { createHash, createPublicKey, verify } from "node:crypto";
import { readFileSync, realpathSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

export interface Head {
  treeSize: number;
  position: number;
  rootHash: string;
  timestamp: string | number;
  keyId: string;
  signature: string;
}
export interface Key {
  keyId: string;
  algorithm: string;
  publicKey: string;
  since?: unknown;
}
export interface InclusionProof {
  position: number;
  leafIndex: number;
  treeSize: number;
  leaf: string;
  leafHash: string;
  path: string[];
}
export interface ConsistencyProof {
  from: number;
  to: number;
  path: string[];
}

// ---- RFC 9162 §2.1.1 hashing ----

function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("sha256");
  for (const part of parts) h.update(part);
  return new Uint8Array(h.digest());
}
const hashLeaf = (leaf: Uint8Array) => sha256(Uint8Array.of(0), leaf);
const hashChildren = (left: Uint8Array, right: Uint8Array) => sha256(Uint8Array.of(1), left, right);
const EMPTY_ROOT = Buffer.from(sha256()).toString("hex");

function fail(message: string): never {
  throw new Error(message);
}
function hash(hex: unknown, what: string): Uint8Array {
  if (typeof hex !== "string" || !/^[0-9a-f]{64}$/.test(hex)) fail(`${what} is not 64 lowercase hex digits`);
  return new Uint8Array(Buffer.from(hex, "hex"));
}
function base64url(text: unknown, what: string): Uint8Array {
  if (typeof text !== "string" || !/^[A-Za-z0-9_-]*$/.test(text)) fail(`${what} is not base64url`);
  return new Uint8Array(Buffer.from(text, "base64url"));
}
function size(n: unknown, what: string): number {
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) fail(`${what} is not a size: ${n}`);
  return n;
}
function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
const odd = (n: number) => n % 2 === 1;
const half = (n: number) => Math.floor(n / 2); // not >>: sizes may pass 2^31

// ---- RFC 9162 §2.1.3.2: verifying an inclusion proof ----

function inclusionHolds(
  index: number,
  treeSize: number,
  leafHash: Uint8Array,
  path: Uint8Array[],
  root: Uint8Array,
) {
  if (index >= treeSize) return false;
  let fn = index;
  let sn = treeSize - 1;
  let r = leafHash;
  for (const p of path) {
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      r = hashChildren(p, r);
      while (!odd(fn) && fn !== 0) [fn, sn] = [half(fn), half(sn)];
    } else {
      r = hashChildren(r, p);
    }
    [fn, sn] = [half(fn), half(sn)];
  }
  return sn === 0 && same(r, root);
}

// ---- RFC 9162 §2.1.4.2: verifying a consistency proof (0 < first < second) ----

function consistencyHolds(
  first: number,
  second: number,
  firstHash: Uint8Array,
  secondHash: Uint8Array,
  path: Uint8Array[],
) {
  if (path.length === 0) return false;
  let powerOfTwo = first;
  while (powerOfTwo > 1 && !odd(powerOfTwo)) powerOfTwo /= 2;
  const proof = powerOfTwo === 1 ? [firstHash, ...path] : path;
  let fn = first - 1;
  let sn = second - 1;
  while (odd(fn)) [fn, sn] = [half(fn), half(sn)];
  let fr = proof[0] as Uint8Array;
  let sr = fr;
  for (const c of proof.slice(1)) {
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      while (!odd(fn) && fn !== 0) [fn, sn] = [half(fn), half(sn)];
    } else {
      sr = hashChildren(sr, c);
    }
    [fn, sn] = [half(fn), half(sn)];
  }
  return same(fr, firstHash) && same(sr, secondHash) && sn === 0;
}

// ---- The checks ----

/** The head is signed by one of the ledger's keys, over exactly what it says. */
export async function checkHead(head: Head, keys: readonly Key[]): Promise<void> {
  const treeSize = size(head.treeSize, "head treeSize");
  hash(head.rootHash, "head rootHash");
  if (treeSize === 0 && head.rootHash !== EMPTY_ROOT) fail("head of an empty tree has not the empty root");
  const key = keys.find((k) => k.keyId === head.keyId);
  if (!key) fail(`head is signed by unknown keyId ${JSON.stringify(head.keyId)}`);
  if (key.algorithm !== "Ed25519") fail(`key ${key.keyId} is ${key.algorithm}, not Ed25519`);
  if (base64url(key.publicKey, `key ${key.keyId}`).length !== 32) fail(`key ${key.keyId} is not 32 bytes`);
  const publicKey = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: key.publicKey }, format: "jwk" });
  const signature = base64url(head.signature, "head signature");
  const message = `eventfold.head.v1 ${treeSize} ${head.rootHash} ${head.timestamp} ${head.keyId}`;
  if (signature.length !== 64 || !verify(null, Buffer.from(message, "utf8"), publicKey, signature)) {
    fail(`bad signature on head ${treeSize} by key ${key.keyId}`);
  }
}

/** The served event bytes hash to the leaf, and the leaf is at leafIndex in the head's tree. */
export function checkInclusion(proof: InclusionProof, head: Head): void {
  const at = `position ${proof.position}`;
  const treeSize = size(head.treeSize, "head treeSize");
  if (proof.treeSize !== treeSize) fail(`${at}: proof is for tree ${proof.treeSize}, head is ${treeSize}`);
  const leafIndex = size(proof.leafIndex, `${at}: leafIndex`);
  const leafHash = hashLeaf(base64url(proof.leaf, `${at}: leaf`));
  if (!same(leafHash, hash(proof.leafHash, `${at}: leafHash`)))
    fail(`${at}: leaf bytes do not hash to leafHash`);
  if (!Array.isArray(proof.path)) fail(`${at}: path is not a list`);
  const path = proof.path.map((h, i) => hash(h, `${at}: path[${i}]`));
  if (!inclusionHolds(leafIndex, treeSize, leafHash, path, hash(head.rootHash, "head rootHash"))) {
    fail(`${at}: leaf ${leafIndex} is not proven in tree ${treeSize} with root ${head.rootHash}`);
  }
}

/** The newer tree extends the older one: every leaf the old head covered is still there, unchanged. */
export function checkConsistency(proof: ConsistencyProof, oldHead: Head, newHead: Head): void {
  const [from, to] = [size(oldHead.treeSize, "old treeSize"), size(newHead.treeSize, "new treeSize")];
  const at = `consistency ${from} → ${to}`;
  if (proof.from !== from || proof.to !== to) fail(`${at}: proof is from ${proof.from} to ${proof.to}`);
  if (from > to) fail(`${at}: the tree shrank`);
  if (!Array.isArray(proof.path)) fail(`${at}: path is not a list`);
  const path = proof.path.map((h, i) => hash(h, `${at}: path[${i}]`));
  const [oldRoot, newRoot] = [hash(oldHead.rootHash, "old rootHash"), hash(newHead.rootHash, "new rootHash")];
  // Every tree extends the empty one; a tree extends itself alone when nothing was added.
  if (from === 0) {
    if (oldHead.rootHash !== EMPTY_ROOT || path.length > 0) fail(`${at}: not the empty tree`);
  } else if (from === to) {
    if (oldHead.rootHash !== newHead.rootHash || path.length > 0) fail(`${at}: same size, different roots`);
  } else if (!consistencyHolds(from, to, oldRoot, newRoot, path)) {
    fail(`${at}: the old root ${oldHead.rootHash} is not proven a prefix of ${newHead.rootHash}`);
  }
}

// ---- The command line ----

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: "string" },
      token: { type: "string" },
      position: { type: "string", multiple: true },
      head: { type: "string" },
      save: { type: "string" },
    },
  });
  const base = values.url ?? fail("--url is required");
  const token = values.token ?? process.env.EVENTFOLD_TOKEN;
  const get = async <T>(path: string): Promise<T> => {
    const url = `${base.replace(/\/+$/, "")}${path}`;
    const response = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    if (!response.ok) fail(`GET ${path}: HTTP ${response.status} ${(await response.text()).slice(0, 200)}`);
    return (await response.json()) as T;
  };

  const { keys } = await get<{ keys: Key[] }>("/v1/ledger/keys");
  if (!Array.isArray(keys)) fail("/v1/ledger/keys has no key list");
  const head = await get<Head>("/v1/ledger/head");
  await checkHead(head, keys);
  console.log(`ok head ${head.treeSize} root ${head.rootHash} at ${head.timestamp} signed by ${head.keyId}`);

  for (const text of values.position ?? []) {
    if (!/^\d+$/.test(text)) fail(`--position ${text} is not a position`);
    const proof = await get<InclusionProof>(
      `/v1/ledger/proof/inclusion?position=${text}&treeSize=${head.treeSize}`,
    );
    if (String(proof.position) !== text) fail(`asked for position ${text}, got ${proof.position}`);
    checkInclusion(proof, head);
    console.log(`ok inclusion position ${proof.position} leaf ${proof.leafIndex} of ${head.treeSize}`);
  }

  if (values.head) {
    const old = JSON.parse(readFileSync(values.head, "utf8")) as Head;
    await checkHead(old, keys);
    const proof =
      old.treeSize > 0 && old.treeSize < head.treeSize
        ? await get<ConsistencyProof>(`/v1/ledger/proof/consistency?from=${old.treeSize}&to=${head.treeSize}`)
        : { from: old.treeSize, to: head.treeSize, path: [] };
    checkConsistency(proof, old, head);
    console.log(`ok consistency ${old.treeSize} → ${head.treeSize}`);
  }

  if (values.save) writeFileSync(values.save, `${JSON.stringify(head, null, 2)}\n`);
}

/** Run as a program, not imported: Bun and Node both put the script's path in argv[1]. */
function isMain(): boolean {
  try {
    return realpathSync(process.argv[1] ?? "") === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}
if (isMain()) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(`FAIL ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
