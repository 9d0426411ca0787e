/**
 * Merkle tree primitives of RFC 9162 (Certificate Transparency v2), §2.1: tree hashing, the ranges and
 * stored nodes that audit paths and consistency proofs are made of, their verification, and the
 * in-memory right edge of a growing tree.
 *
 * Sizes and indices are plain numbers and stay exact up to Number.MAX_SAFE_INTEGER: nothing here uses
 * the 32-bit bitwise operators on them.
 */
import { createHash } from "node:crypto";

/** A SHA-256 digest: 32 bytes. */
export type Hash = Uint8Array;

export const HASH_SIZE = 32;

function digest(buffer: Buffer): Hash {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/*
 * Bun's one-shot SHA-256 over one buffer is about twice as fast as a node:crypto Hash object per call,
 * which is what a tree of millions of leaves (`ledger verify`, the writer's appends) spends its time in.
 */

/** HASH(0x00 ‖ leaf): the prefix keeps a leaf from ever being taken for an inner node (RFC 9162 §2.1.1). */
export function leafHash(leaf: Uint8Array): Hash {
  const input = new Uint8Array(leaf.length + 1);
  input.set(leaf, 1);
  return Bun.SHA256.hash(input) as Uint8Array as Hash;
}

/**
 * HASH(0x00 ‖ UTF-8 of `text`), as `leafHash` of the text's bytes: a NUL character is the byte 0x00, so
 * the string is hashed as it is, without encoding it first.
 */
export function leafHashOfText(text: string): Hash {
  return Bun.SHA256.hash(`\u0000${text}`) as Uint8Array as Hash;
}

/** HASH(0x01 ‖ left ‖ right). */
export function nodeHash(left: Hash, right: Hash): Hash {
  const input = new Uint8Array(1 + left.length + right.length);
  input[0] = 0x01;
  input.set(left, 1);
  input.set(right, 1 + left.length);
  return Bun.SHA256.hash(input) as Uint8Array as Hash;
}

/** MTH({}) = HASH(""): the root of the empty tree. */
export function emptyRoot(): Hash {
  return digest(createHash("sha256").digest());
}

export function toHex(h: Uint8Array): string {
  return Buffer.from(h.buffer, h.byteOffset, h.byteLength).toString("hex");
}

/** Parses exactly 64 hex digits (either case) into a hash; anything else throws. */
export function fromHex(s: string): Hash {
  if (typeof s !== "string" || !/^[0-9a-fA-F]{64}$/.test(s)) {
    throw new TypeError(`not a hash: expected 64 hex digits, got ${JSON.stringify(s)}`);
  }
  return digest(Buffer.from(s, "hex"));
}

export function equalHashes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The complete, aligned subtree at `level` with `index`: it covers leaves [index·2^level, (index+1)·2^level).
 * Level 0 holds the leaf hashes. These are the only nodes worth storing: every other node of any tree
 * size is a combination of them.
 */
export interface Coord {
  readonly level: number;
  readonly index: number;
}

/** Leaves [start, end). */
export interface Range {
  readonly start: number;
  readonly end: number;
}

function checkSize(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RangeError(`${name} must be a non-negative safe integer, got ${n}`);
}

/** The largest power of two strictly smaller than n (n ≥ 2): where MTH splits a tree of n leaves. */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** log2 of a power of two, without floating-point rounding. */
function levelOf(powerOfTwo: number): number {
  let level = 0;
  for (let p = 1; p < powerOfTwo; p *= 2) level++;
  return level;
}

function isPowerOfTwo(n: number): boolean {
  if (n < 1) return false;
  let p = 1;
  while (p < n) p *= 2;
  return p === n;
}

/**
 * The complete aligned subtrees, left to right, that MTH(D[start:end]) is made of: MTH splits at the
 * largest power of two k below the size, so the left part is one subtree of k leaves and the right part
 * is split again. That left part is a stored node only when start is a multiple of k, which holds for
 * every range the PATH and PROOF recursions produce; any other range throws.
 */
export function rangeNodes(range: Range): Coord[] {
  const { start, end } = range;
  checkSize("range start", start);
  checkSize("range end", end);
  if (end <= start) throw new RangeError(`empty or reversed range [${start}, ${end})`);
  const coords: Coord[] = [];
  let s = start;
  while (s < end) {
    const n = end - s;
    const width = isPowerOfTwo(n) ? n : split(n);
    if (s % width !== 0) throw new RangeError(`range [${start}, ${end}) is not made of aligned subtrees`);
    coords.push({ level: levelOf(width), index: s / width });
    s += width;
  }
  return coords;
}

/** Combines the hashes of rangeNodes(range) into MTH of the range, folding from the right as MTH nests. */
export function hashOfRange(nodes: readonly Hash[]): Hash {
  let h = nodes[nodes.length - 1];
  if (h === undefined) throw new RangeError("no nodes to combine");
  for (let i = nodes.length - 2; i >= 0; i--) h = nodeHash(nodes[i] as Hash, h);
  return h;
}

/**
 * The ranges whose MTH make up the audit path PATH(index, D[size]) of RFC 9162 §2.1.3.1, in the RFC's
 * order: the leaf's sibling first, the subtree under the root last.
 */
export function inclusionRanges(index: number, size: number): Range[] {
  checkSize("index", index);
  checkSize("size", size);
  if (index >= size) throw new RangeError(`leaf index ${index} is not in a tree of size ${size}`);
  const topDown: Range[] = [];
  let lo = 0;
  let hi = size;
  while (hi - lo > 1) {
    const k = split(hi - lo);
    if (index < lo + k) {
      topDown.push({ start: lo + k, end: hi });
      hi = lo + k;
    } else {
      topDown.push({ start: lo, end: lo + k });
      lo += k;
    }
  }
  return topDown.reverse();
}

/**
 * The ranges whose MTH make up PROOF(from, D[to]) of RFC 9162 §2.1.4.1 (SUBPROOF with b = true), in the
 * RFC's order. Empty when from == to; from == 0 has no proof in the RFC and throws.
 */
export function consistencyRanges(from: number, to: number): Range[] {
  checkSize("from", from);
  checkSize("to", to);
  if (from === 0 || from > to) throw new RangeError(`no consistency proof from size ${from} to size ${to}`);
  const topDown: Range[] = [];
  let lo = 0;
  let hi = to;
  let m = from;
  let complete = true; // SUBPROOF's b: whether the subtree reached so far is the whole old tree's
  while (m !== hi - lo) {
    const k = split(hi - lo);
    if (m <= k) {
      topDown.push({ start: lo + k, end: hi });
      hi = lo + k;
    } else {
      topDown.push({ start: lo, end: lo + k });
      lo += k;
      m -= k;
      complete = false;
    }
  }
  // SUBPROOF(m, D[m], false) = {MTH(D[m])}: the old tree's last subtree, which the verifier cannot compute.
  if (!complete) topDown.push({ start: lo, end: hi });
  return topDown.reverse();
}

/**
 * Where stored node hashes come from. One call per proof, with every coordinate it needs, so that a
 * database-backed source answers in one query. The answer is in the order asked.
 */
export interface NodeSource {
  nodes(coords: readonly Coord[]): Promise<readonly Hash[]> | readonly Hash[];
}

/** Looks up the nodes of all the ranges at once and combines each range's into its MTH. */
async function hashesOfRanges(ranges: readonly Range[], source: NodeSource): Promise<Hash[]> {
  const perRange = ranges.map(rangeNodes);
  const wanted: Coord[] = [];
  const slot = new Map<string, number>();
  for (const coords of perRange) {
    for (const c of coords) {
      const key = `${c.level}:${c.index}`;
      if (!slot.has(key)) {
        slot.set(key, wanted.length);
        wanted.push(c);
      }
    }
  }
  if (wanted.length === 0) return [];
  const found = await source.nodes(wanted);
  if (found.length !== wanted.length) {
    throw new Error(`node source answered ${found.length} hashes for ${wanted.length} nodes`);
  }
  for (const h of found) {
    if (!(h instanceof Uint8Array) || h.byteLength !== HASH_SIZE)
      throw new Error("node source answered a non-hash");
  }
  return perRange.map((coords) =>
    hashOfRange(coords.map((c) => found[slot.get(`${c.level}:${c.index}`) as number] as Hash)),
  );
}

export function inclusionProof(index: number, size: number, source: NodeSource): Promise<Hash[]> {
  return hashesOfRanges(inclusionRanges(index, size), source);
}

export function consistencyProof(from: number, to: number, source: NodeSource): Promise<Hash[]> {
  return hashesOfRanges(consistencyRanges(from, to), source);
}

export async function rootOf(size: number, source: NodeSource): Promise<Hash> {
  checkSize("size", size);
  if (size === 0) return emptyRoot();
  const [root] = await hashesOfRanges([{ start: 0, end: size }], source);
  return root as Hash;
}

function isHash(h: unknown): h is Hash {
  return h instanceof Uint8Array && h.byteLength === HASH_SIZE;
}

function isOdd(n: number): boolean {
  return n % 2 === 1;
}

function half(n: number): number {
  return Math.floor(n / 2);
}

/**
 * RFC 9162 §2.1.3.2, step by step: whether `path` proves that the leaf whose leaf hash is `hash` is at
 * `index` in the tree of `size` leaves with `root`.
 */
export function verifyInclusion(
  hash: Hash,
  index: number,
  size: number,
  path: readonly Hash[],
  root: Hash,
): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0) return false;
  if (!isHash(hash) || !isHash(root) || !path.every(isHash)) return false;
  // 1. The leaf must be in the tree.
  if (index >= size) return false;
  // 2.
  let fn = index;
  let sn = size - 1;
  // 3.
  let r = hash;
  // 4.
  for (const p of path) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // 5.
  return sn === 0 && equalHashes(r, root);
}

/**
 * RFC 9162 §2.1.4.2, step by step: whether `path` proves the tree of size `from` with `fromRoot` is a
 * prefix of the tree of size `to` with `toRoot`. from == to holds only with an empty path and equal
 * roots; from == 0 is not a proof in the RFC and fails.
 */
export function verifyConsistency(
  from: number,
  to: number,
  fromRoot: Hash,
  toRoot: Hash,
  path: readonly Hash[],
): boolean {
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 1 || from > to) return false;
  if (!isHash(fromRoot) || !isHash(toRoot) || !path.every(isHash)) return false;
  if (from === to) return path.length === 0 && equalHashes(fromRoot, toRoot);
  // 1.
  if (path.length === 0) return false;
  // 2. A power-of-two old tree is itself a node of the new one: the RFC leaves it out of the path.
  const proof = isPowerOfTwo(from) ? [fromRoot, ...path] : path;
  // 3.
  let fn = from - 1;
  let sn = to - 1;
  // 4.
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  // 5.
  let fr = proof[0] as Hash;
  let sr = fr;
  // 6.
  for (let i = 1; i < proof.length; i++) {
    const c = proof[i] as Hash;
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // 7.
  return equalHashes(fr, fromRoot) && equalHashes(sr, toRoot) && sn === 0;
}

/**
 * The stored nodes whose combination is the root of a tree of `size` leaves: for each set bit l of size,
 * high to low, the last complete subtree of 2^l leaves. They are what a Frontier holds.
 */
export function frontierCoords(size: number): Coord[] {
  checkSize("size", size);
  const coords: Coord[] = [];
  let width = 1;
  let level = 0;
  while (width * 2 <= size) {
    width *= 2;
    level++;
  }
  while (level >= 0) {
    const blocks = Math.floor(size / width);
    if (isOdd(blocks)) coords.push({ level, index: blocks - 1 });
    level--;
    width /= 2;
  }
  return coords;
}

/**
 * The right edge of a growing tree, kept in memory: the root of each complete subtree of frontierCoords.
 * Appending a leaf merges at most as many nodes as trailing ones in the size, so O(1) hashing amortized,
 * and the root never needs the rest of the tree.
 */
export class Frontier {
  #size = 0;
  /** Highest level first, as frontierCoords. */
  #levels: number[] = [];
  #hashes: Hash[] = [];

  /** Picks up a tree of `size` leaves from the stored hashes of frontierCoords(size), in that order. */
  static restore(size: number, hashes: readonly Hash[]): Frontier {
    const coords = frontierCoords(size);
    if (hashes.length !== coords.length) {
      throw new RangeError(
        `a tree of size ${size} has ${coords.length} frontier nodes, got ${hashes.length}`,
      );
    }
    if (!hashes.every(isHash)) throw new TypeError("frontier hashes must be 32 bytes each");
    const frontier = new Frontier();
    frontier.#size = size;
    frontier.#levels = coords.map((c) => c.level);
    frontier.#hashes = [...hashes];
    return frontier;
  }

  get size(): number {
    return this.#size;
  }

  /** Appends a leaf; answers every node this completes: the leaf first, then each new parent upwards. */
  push(leaf: Hash): Array<{ coord: Coord; hash: Hash }> {
    if (!isHash(leaf)) throw new TypeError("a leaf hash must be 32 bytes");
    if (this.#size >= Number.MAX_SAFE_INTEGER)
      throw new RangeError("tree size would exceed MAX_SAFE_INTEGER");
    const size = this.#size + 1;
    const completed = [{ coord: { level: 0, index: size - 1 }, hash: leaf }];
    let level = 0;
    let hash = leaf;
    let width = 1;
    while (this.#levels.length > 0 && this.#levels[this.#levels.length - 1] === level) {
      this.#levels.pop();
      hash = nodeHash(this.#hashes.pop() as Hash, hash);
      level++;
      width *= 2;
      completed.push({ coord: { level, index: size / width - 1 }, hash });
    }
    this.#levels.push(level);
    this.#hashes.push(hash);
    this.#size = size;
    return completed;
  }

  /** MTH of the whole tree so far. */
  root(): Hash {
    return this.#hashes.length === 0 ? emptyRoot() : hashOfRange(this.#hashes);
  }

  /** The hashes of frontierCoords(size), for storing alongside the size and restoring later. */
  hashes(): Hash[] {
    return [...this.#hashes];
  }
}
