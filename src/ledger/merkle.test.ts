import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import fc from "fast-check";
import {
  type Coord,
  consistencyProof,
  consistencyRanges,
  emptyRoot,
  Frontier,
  fromHex,
  frontierCoords,
  type Hash,
  hashOfRange,
  inclusionProof,
  inclusionRanges,
  leafHash,
  leafHashOfText,
  type NodeSource,
  nodeHash,
  rangeNodes,
  rootOf,
  toHex,
  verifyConsistency,
  verifyInclusion,
} from "./merkle.ts";

// ---- The naive reference: RFC 9162 §2.1's recursive definitions, with their own hashing ----

function sha256(...parts: Uint8Array[]): Hash {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH, PATH and PROOF over D[lo:hi] exactly as the RFC recurses; MTH is memoised, as D[lo:hi] never changes. */
class Naive {
  readonly #memo = new Map<string, Hash>();
  constructor(readonly leaves: readonly Uint8Array[]) {}

  mth(lo: number, hi: number): Hash {
    const key = `${lo}:${hi}`;
    const known = this.#memo.get(key);
    if (known) return known;
    let h: Hash;
    const n = hi - lo;
    if (n === 0) h = sha256();
    else if (n === 1) h = sha256(Uint8Array.of(0), this.leaves[lo] as Uint8Array);
    else {
      const k = largestPowerOfTwoBelow(n);
      h = sha256(Uint8Array.of(1), this.mth(lo, lo + k), this.mth(lo + k, hi));
    }
    this.#memo.set(key, h);
    return h;
  }

  /** PATH(m, D[lo:hi]), m relative to lo. */
  path(m: number, lo: number, hi: number): Hash[] {
    const n = hi - lo;
    if (n <= 1) return [];
    const k = largestPowerOfTwoBelow(n);
    return m < k
      ? [...this.path(m, lo, lo + k), this.mth(lo + k, hi)]
      : [...this.path(m - k, lo + k, hi), this.mth(lo, lo + k)];
  }

  /** SUBPROOF(m, D[lo:hi], b), m relative to lo. */
  subproof(m: number, lo: number, hi: number, b: boolean): Hash[] {
    const n = hi - lo;
    if (m === n) return b ? [] : [this.mth(lo, hi)];
    const k = largestPowerOfTwoBelow(n);
    return m <= k
      ? [...this.subproof(m, lo, lo + k, b), this.mth(lo + k, hi)]
      : [...this.subproof(m - k, lo + k, hi, false), this.mth(lo, lo + k)];
  }

  proof(m: number, n: number): Hash[] {
    return this.subproof(m, 0, n, true);
  }
}

// ---- Helpers ----

const hex = (hs: readonly Hash[]) => hs.map(toHex);
const key = (c: Coord) => `${c.level}:${c.index}`;

/** A NodeSource over what a Frontier pushed; counts its calls and fails on repeated or unknown coordinates. */
class MapSource implements NodeSource {
  readonly stored = new Map<string, Hash>();
  calls = 0;
  nodes(coords: readonly Coord[]): readonly Hash[] {
    this.calls++;
    if (new Set(coords.map(key)).size !== coords.length) throw new Error("coordinates asked twice");
    return coords.map((c) => {
      const h = this.stored.get(key(c));
      if (!h) throw new Error(`no node ${key(c)}`);
      return h;
    });
  }
}

function build(leaves: readonly Uint8Array[]): { frontier: Frontier; source: MapSource; roots: Hash[] } {
  const frontier = new Frontier();
  const source = new MapSource();
  const roots: Hash[] = [emptyRoot()];
  for (const leaf of leaves) {
    for (const { coord, hash } of frontier.push(leafHash(leaf))) source.stored.set(key(coord), hash);
    roots.push(frontier.root());
  }
  return { frontier, source, roots };
}

function flipped(path: readonly Hash[], i: number, byte: number): Hash[] {
  return path.map((h, j) => {
    if (j !== i) return h;
    const copy = new Uint8Array(h);
    copy[byte % copy.length] = (copy[byte % copy.length] as number) ^ 0x01;
    return copy;
  });
}

const someHash = sha256(new TextEncoder().encode("not a root"));

// ---- Known vectors (transparency-dev/merkle testonly/constants.go and proof/verify_test.go) ----

const vectorLeaves = [
  "",
  "00",
  "10",
  "2021",
  "3031",
  "40414243",
  "5051525354555657",
  "606162636465666768696a6b6c6d6e6f",
].map((s) => new Uint8Array(Buffer.from(s, "hex")));

/** Roots of the trees of the first 0..8 leaves. */
const vectorRoots = [
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/** Every complete subtree's hash, by level then index. */
const vectorNodes = [
  [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
  ],
  [
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
  ],
  [
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
  ],
  ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
];

/** [leaf index, tree size, path]. */
const vectorInclusion: Array<[number, number, string[]]> = [
  [
    0,
    8,
    [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  ],
  [
    5,
    8,
    [
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  ],
  [2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]],
  [
    1,
    5,
    [
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
  ],
];

/** [from, to, path]. */
const vectorConsistency: Array<[number, number, string[]]> = [
  [
    1,
    8,
    [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  ],
  [
    6,
    8,
    [
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  ],
  [
    2,
    5,
    [
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
  ],
  [
    6,
    7,
    [
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  ],
];

describe("known vectors", () => {
  const { source, roots } = build(vectorLeaves);

  test("hashing: the empty tree, leaves, every complete subtree and every prefix's root", async () => {
    expect(toHex(emptyRoot())).toBe(vectorRoots[0] as string);
    expect(hex(vectorLeaves.map(leafHash))).toEqual(vectorNodes[0] as string[]);
    vectorNodes.forEach((level, l) => {
      level.forEach((h, index) => {
        expect(toHex(source.stored.get(`${l}:${index}`) as Hash)).toBe(h);
      });
    });
    expect(source.stored.size).toBe(8 + 4 + 2 + 1);
    expect(hex(roots)).toEqual(vectorRoots);
    for (let size = 0; size <= 8; size++)
      expect(toHex(await rootOf(size, source))).toBe(vectorRoots[size] as string);
  });

  test("inclusion proofs", async () => {
    for (const [index, size, path] of vectorInclusion) {
      const proof = await inclusionProof(index, size, source);
      expect(hex(proof)).toEqual(path);
      const root = fromHex(vectorRoots[size] as string);
      expect(verifyInclusion(leafHash(vectorLeaves[index] as Uint8Array), index, size, proof, root)).toBe(
        true,
      );
    }
  });

  test("consistency proofs", async () => {
    for (const [from, to, path] of vectorConsistency) {
      const proof = await consistencyProof(from, to, source);
      expect(hex(proof)).toEqual(path);
      const [fromRoot, toRoot] = [fromHex(vectorRoots[from] as string), fromHex(vectorRoots[to] as string)];
      expect(verifyConsistency(from, to, fromRoot, toRoot, proof)).toBe(true);
      expect(verifyConsistency(from, to, toRoot, fromRoot, proof)).toBe(false);
    }
  });
});

describe("hex", () => {
  test("round-trips, lowercase out, exactly 64 hex digits in", () => {
    const h = leafHash(new Uint8Array([1, 2, 3]));
    expect(toHex(h)).toMatch(/^[0-9a-f]{64}$/);
    expect(fromHex(toHex(h))).toEqual(h);
    expect(fromHex(toHex(h).toUpperCase())).toEqual(h);
    for (const bad of [
      "",
      "00",
      "0".repeat(63),
      "0".repeat(65),
      `${"0".repeat(63)}g`,
      `0x${"0".repeat(62)}`,
    ]) {
      expect(() => fromHex(bad)).toThrow();
    }
  });
});

describe("ranges", () => {
  test("rangeNodes covers the range with aligned subtrees; misaligned ranges throw", () => {
    expect(rangeNodes({ start: 0, end: 7 })).toEqual([
      { level: 2, index: 0 },
      { level: 1, index: 2 },
      { level: 0, index: 6 },
    ]);
    expect(rangeNodes({ start: 8, end: 16 })).toEqual([{ level: 3, index: 1 }]);
    expect(() => rangeNodes({ start: 1, end: 3 })).toThrow(RangeError);
    expect(() => rangeNodes({ start: 3, end: 3 })).toThrow(RangeError);
  });

  test("bad arguments throw RangeError", () => {
    expect(() => inclusionRanges(3, 3)).toThrow(RangeError);
    expect(() => inclusionRanges(-1, 3)).toThrow(RangeError);
    expect(() => inclusionRanges(0.5, 3)).toThrow(RangeError);
    expect(() => consistencyRanges(0, 3)).toThrow(RangeError);
    expect(() => consistencyRanges(4, 3)).toThrow(RangeError);
    expect(consistencyRanges(3, 3)).toEqual([]);
    expect(inclusionRanges(0, 1)).toEqual([]);
  });

  test("frontierCoords is the root's decomposition, and safe beyond 2^32", () => {
    expect(frontierCoords(0)).toEqual([]);
    expect(frontierCoords(13)).toEqual([
      { level: 3, index: 0 },
      { level: 2, index: 2 },
      { level: 0, index: 12 },
    ]);
    for (const size of [1, 2, 3, 100, 2 ** 31 + 1, 2 ** 32 + 2 ** 31 + 3, Number.MAX_SAFE_INTEGER]) {
      const coords = frontierCoords(size);
      expect(coords).toEqual(rangeNodes({ start: 0, end: size }));
      let end = 0;
      for (const c of coords) {
        expect(c.index * 2 ** c.level).toBe(end);
        end += 2 ** c.level;
      }
      expect(end).toBe(size);
    }
  });
});

describe("random trees against the naive reference", () => {
  // Distinct leaves: with two equal leaves, either index is rightly proven by the other's path.
  const leavesArb = fc.uniqueArray(fc.uint8Array({ maxLength: 12 }), {
    minLength: 1,
    maxLength: 300,
    size: "max", // fast-check's default "small" would stop near a dozen leaves
    selector: (leaf) => toHex(leaf),
  });

  test("frontier roots, pushed nodes, rootOf and restore", async () => {
    await fc.assert(
      fc.asyncProperty(leavesArb, fc.nat(), async (leaves, cut) => {
        const naive = new Naive(leaves);
        const frontier = new Frontier();
        const source = new MapSource();
        for (let i = 0; i < leaves.length; i++) {
          const pushed = frontier.push(leafHash(leaves[i] as Uint8Array));
          expect(pushed[0]?.coord).toEqual({ level: 0, index: i });
          for (const [j, { coord, hash }] of pushed.entries()) {
            expect(coord.level).toBe(j);
            const width = 2 ** coord.level;
            expect((coord.index + 1) * width).toBe(i + 1);
            expect(toHex(hash)).toBe(toHex(naive.mth(coord.index * width, (coord.index + 1) * width)));
            source.stored.set(key(coord), hash);
          }
          expect(frontier.size).toBe(i + 1);
          expect(toHex(frontier.root())).toBe(toHex(naive.mth(0, i + 1)));
        }
        for (let size = 0; size <= leaves.length; size++) {
          expect(toHex(await rootOf(size, source))).toBe(toHex(naive.mth(0, size)));
        }
        const at = cut % (leaves.length + 1);
        const hashes = frontierCoords(at).map((c) => source.stored.get(key(c)) as Hash);
        expect(hex(Frontier.restore(at, hashes).hashes())).toEqual(hex(hashes));
        const restored = Frontier.restore(at, hashes);
        expect(toHex(restored.root())).toBe(toHex(naive.mth(0, at)));
        for (let i = at; i < leaves.length; i++) {
          restored.push(leafHash(leaves[i] as Uint8Array));
          expect(toHex(restored.root())).toBe(toHex(naive.mth(0, i + 1)));
        }
      }),
      { numRuns: 60 },
    );
  });

  test("inclusion proofs equal PATH, verify, and fail when anything is altered", async () => {
    await fc.assert(
      fc.asyncProperty(leavesArb, fc.nat(), fc.nat(), fc.nat(), async (leaves, a, b, byte) => {
        const naive = new Naive(leaves);
        const { source } = build(leaves);
        const size = 1 + (a % leaves.length);
        const index = b % size;
        const root = naive.mth(0, size);
        const hash = leafHash(leaves[index] as Uint8Array);
        source.calls = 0;
        const path = await inclusionProof(index, size, source);
        expect(source.calls).toBe(size > 1 ? 1 : 0);
        expect(hex(path)).toEqual(hex(naive.path(index, 0, size)));
        expect(hex(inclusionRanges(index, size).map((r) => naive.mth(r.start, r.end)))).toEqual(hex(path));
        expect(verifyInclusion(hash, index, size, path, root)).toBe(true);

        for (let i = 0; i < path.length; i++) {
          expect(verifyInclusion(hash, index, size, flipped(path, i, byte), root)).toBe(false);
        }
        for (const other of [index - 1, index + 1, index ^ 2, size, -1]) {
          if (other !== index) expect(verifyInclusion(hash, other, size, path, root)).toBe(false);
        }
        expect(verifyInclusion(hash, index, size, path, someHash)).toBe(false);
        expect(verifyInclusion(hash, index, size * 2, path, root)).toBe(false);
        expect(verifyInclusion(sha256(), index, size, path, root)).toBe(false);
        expect(verifyInclusion(hash, index, size, [...path, root], root)).toBe(false);
        if (path.length > 0) expect(verifyInclusion(hash, index, size, path.slice(1), root)).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  test("consistency proofs equal PROOF, verify, and fail when anything is altered", async () => {
    await fc.assert(
      fc.asyncProperty(leavesArb, fc.nat(), fc.nat(), fc.nat(), async (leaves, a, b, byte) => {
        const naive = new Naive(leaves);
        const { source } = build(leaves);
        const to = 1 + (a % leaves.length);
        const from = 1 + (b % to);
        const [fromRoot, toRoot] = [naive.mth(0, from), naive.mth(0, to)];
        source.calls = 0;
        const path = await consistencyProof(from, to, source);
        expect(source.calls).toBe(from === to ? 0 : 1);
        expect(hex(path)).toEqual(hex(naive.proof(from, to)));
        expect(verifyConsistency(from, to, fromRoot, toRoot, path)).toBe(true);

        for (let i = 0; i < path.length; i++) {
          expect(verifyConsistency(from, to, fromRoot, toRoot, flipped(path, i, byte))).toBe(false);
        }
        expect(verifyConsistency(from, to, someHash, toRoot, path)).toBe(false);
        expect(verifyConsistency(from, to, fromRoot, someHash, path)).toBe(false);
        expect(verifyConsistency(from, to, fromRoot, toRoot, [...path, toRoot])).toBe(false);
        expect(verifyConsistency(0, to, fromRoot, toRoot, path)).toBe(false);
        expect(verifyConsistency(to + 1, to, fromRoot, toRoot, path)).toBe(false);
        expect(verifyConsistency(from, to * 2, fromRoot, toRoot, path)).toBe(false);
        if (from !== to) {
          expect(verifyConsistency(from, to, toRoot, fromRoot, path)).toBe(false);
          expect(verifyConsistency(from, to, fromRoot, toRoot, path.slice(0, -1))).toBe(false);
          expect(verifyConsistency(from, to, fromRoot, toRoot, [])).toBe(false);
          if (from > 1)
            expect(verifyConsistency(from - 1, to, naive.mth(0, from - 1), toRoot, path)).toBe(false);
          expect(verifyConsistency(from + 1, to, naive.mth(0, from + 1), toRoot, path)).toBe(false);
        } else {
          expect(verifyConsistency(from, to, fromRoot, toRoot, [someHash])).toBe(false);
        }
      }),
      { numRuns: 200 },
    );
  });

  test("every inclusion and consistency proof of a 70-leaf tree", async () => {
    const leaves = Array.from({ length: 70 }, (_, i) => new TextEncoder().encode(`leaf ${i}`));
    const naive = new Naive(leaves);
    const { source } = build(leaves);
    for (let to = 1; to <= leaves.length; to++) {
      for (let i = 0; i < to; i++) {
        const path = await inclusionProof(i, to, source);
        expect(hex(path)).toEqual(hex(naive.path(i, 0, to)));
        expect(verifyInclusion(leafHash(leaves[i] as Uint8Array), i, to, path, naive.mth(0, to))).toBe(true);
      }
      for (let from = 1; from <= to; from++) {
        const path = await consistencyProof(from, to, source);
        expect(hex(path)).toEqual(hex(naive.proof(from, to)));
        expect(verifyConsistency(from, to, naive.mth(0, from), naive.mth(0, to), path)).toBe(true);
      }
    }
  });
});

describe("trees beyond 32 bits", () => {
  /**
   * A virtual tree whose leaf i is the text `i mod 3`: a complete subtree's hash then depends only on its
   * level and where it starts mod 3, so a source can answer any node of a tree of 2^52 leaves.
   */
  const memo = new Map<string, Hash>();
  function virtualNode(level: number, startMod3: number): Hash {
    const k = `${level}:${startMod3}`;
    const known = memo.get(k);
    if (known) return known;
    const h =
      level === 0
        ? leafHash(new TextEncoder().encode(String(startMod3)))
        : nodeHash(
            virtualNode(level - 1, startMod3),
            virtualNode(level - 1, (startMod3 + (2 ** (level - 1) % 3)) % 3),
          );
    memo.set(k, h);
    return h;
  }
  /** Where a coord's subtree starts, mod 3, without forming index·2^level (which may pass 2^53). */
  const startMod3 = (c: Coord) => ((c.index % 3) * (2 ** c.level % 3)) % 3;
  const virtual: NodeSource = {
    nodes: async (coords) => coords.map((c) => virtualNode(c.level, startMod3(c))),
  };
  const mod3 = (n: number) => n % 3;

  test("the virtual source agrees with a real tree where both exist", async () => {
    const leaves = Array.from({ length: 40 }, (_, i) => new TextEncoder().encode(String(i % 3)));
    const naive = new Naive(leaves);
    for (let size = 1; size <= 40; size++)
      expect(toHex(await rootOf(size, virtual))).toBe(toHex(naive.mth(0, size)));
  });

  test("proofs verify at sizes near 2^52, and a neighbouring index does not", async () => {
    const sizes = [2 ** 32 + 1, 2 ** 33 + 2 ** 31 + 7, 2 ** 52 - 3, 2 ** 52 + 12345];
    for (const size of sizes) {
      const root = await rootOf(size, virtual);
      for (const index of [0, 2 ** 31, 2 ** 32 - 1, size - 2, size - 1]) {
        const hash = leafHash(new TextEncoder().encode(String(mod3(index))));
        const path = await inclusionProof(index, size, virtual);
        expect(verifyInclusion(hash, index, size, path, root)).toBe(true);
        expect(verifyInclusion(hash, index + 1, size, path, root)).toBe(false);
      }
      for (const from of [1, 3, 2 ** 31 + 1, 2 ** 32, size - 1]) {
        const path = await consistencyProof(from, size, virtual);
        expect(verifyConsistency(from, size, await rootOf(from, virtual), root, path)).toBe(true);
        expect(verifyConsistency(from, size, await rootOf(from + 1, virtual), root, path)).toBe(false);
      }
    }
  });

  test("a restored frontier completes nodes above level 31", () => {
    const size = 2 ** 33 - 1;
    const hashes = frontierCoords(size).map((c) => virtualNode(c.level, startMod3(c)));
    const frontier = Frontier.restore(size, hashes);
    const pushed = frontier.push(virtualNode(0, mod3(size)));
    expect(pushed.map((p) => p.coord)).toEqual([
      { level: 0, index: size },
      ...Array.from({ length: 33 }, (_, i) => ({ level: i + 1, index: Math.floor(size / 2 ** (i + 1)) })),
    ]);
    expect(pushed[33]?.coord).toEqual({ level: 33, index: 0 });
    expect(toHex(frontier.root())).toBe(toHex(virtualNode(33, 0)));
    expect(frontier.size).toBe(2 ** 33);
  });
});

test("hashOfRange folds from the right", () => {
  const [a, b, c] = [sha256(Uint8Array.of(1)), sha256(Uint8Array.of(2)), sha256(Uint8Array.of(3))];
  expect(toHex(hashOfRange([a, b, c]))).toBe(toHex(nodeHash(a, nodeHash(b, c))));
  expect(toHex(hashOfRange([a]))).toBe(toHex(a));
  expect(() => hashOfRange([])).toThrow();
});

describe("leafHashOfText", () => {
  test("is leafHash of the text's UTF-8 bytes, for any text JSON.stringify can write", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string({ unit: "grapheme" }), (value, text) => {
        for (const t of [JSON.stringify(value), text, JSON.stringify(text)])
          expect(toHex(leafHashOfText(t))).toBe(toHex(leafHash(new TextEncoder().encode(t))));
      }),
    );
  });
});
