import { z } from "zod";
import { type Ledger, LedgerLeafNotFoundError, LedgerRangeError } from "../ledger/ledger.ts";
import { fail } from "./problem.ts";
import type { ProblemType } from "./problem-types.ts";
import { queryInteger } from "./query.ts";
import { defineRoute, type HttpRoute, type Tag } from "./route.ts";

const tag: Tag = {
  name: "ledger",
  description:
    "The event log as an RFC 9162 Merkle tree with Ed25519-signed heads: prove that an event is in the log, and that today's log extends an earlier one, without trusting eventfold (scripts/ledger-check.ts checks both)",
};

const Hex = z
  .string()
  .regex(/^[0-9a-f]{64}$/)
  .describe("A SHA-256 hash, lowercase hex");
const Base64url = z.string().regex(/^[A-Za-z0-9_-]*$/);
const TreeSize = z.int().min(0);

const Head = z
  .strictObject({
    treeSize: TreeSize.describe("How many events are the tree's leaves"),
    position: z.int().min(0).describe("The position of the tree's last event (0: none)"),
    rootHash: Hex.describe("The tree's root: RFC 9162's MTH of its leaves"),
    timestamp: z.iso.datetime().describe("When it was signed (ISO 8601 UTC, exactly as signed)"),
    keyId: z.string().describe("Which key of `GET /v1/ledger/keys` signed it"),
    signature: Base64url.describe(
      "Ed25519 over the UTF-8 text `eventfold.head.v1 <treeSize> <rootHash> <timestamp> <keyId>`, base64url",
    ),
  })
  .meta({ id: "SignedTreeHead" });

const Keys = z
  .strictObject({
    keys: z.array(
      z.strictObject({
        keyId: z.string(),
        algorithm: z.literal("Ed25519"),
        publicKey: Base64url.describe("The raw 32-byte public key, base64url"),
        since: z.iso.datetime().describe("When it was first used"),
      }),
    ),
  })
  .meta({ id: "LedgerKeys" });

const Inclusion = z
  .strictObject({
    position: z.int().min(1),
    leafIndex: z.int().min(0).describe("The event's index among the leaves"),
    treeSize: TreeSize,
    leaf: Base64url.describe("The event's canonical bytes as stored (one line of JSON), base64url"),
    leafHash: Hex.describe("SHA-256(0x00 ‖ leaf), of the event as stored now"),
    path: z.array(Hex).describe("RFC 9162's audit path, from the leaf's sibling up"),
  })
  .meta({ id: "InclusionProof" });

const Consistency = z
  .strictObject({
    from: TreeSize,
    to: TreeSize,
    path: z.array(Hex).describe("RFC 9162's consistency proof"),
  })
  .meta({ id: "ConsistencyProof" });

/** The ledger's own problem: a proof asked of a tree it does not have. */
export const ledgerProblemTypes: readonly ProblemType[] = [
  {
    code: "proof_out_of_range",
    statuses: [400],
    description:
      "A proof was asked of a tree the ledger does not have: a `treeSize` or `to` larger than the tree, or a `from` of 0 or larger than `to`. `detail` gives the tree's size now. Ask for the latest head first, and a proof within it.",
  },
];

const guard = async <T>(work: () => Promise<T>): Promise<T> => {
  try {
    return await work();
  } catch (error) {
    if (error instanceof LedgerRangeError) fail(400, "proof_out_of_range", error.message);
    if (error instanceof LedgerLeafNotFoundError) fail(404, "not_found", error.message);
    throw error;
  }
};

/** `GET /v1/ledger/…`: the signed head, the keys, and the two proofs. */
export const ledgerRoutes = (ledger: Ledger): HttpRoute[] => [
  defineRoute({
    method: "get",
    path: "/v1/ledger/head",
    operationId: "getLedgerHead",
    summary: "The latest signed tree head (signed now if the log has grown since the last)",
    tag,
    role: "reader",
    success: { status: 200, description: "the head", body: Head },
    handle: async () => ({ status: 200, body: await ledger.head() }),
  }),
  defineRoute({
    method: "get",
    path: "/v1/ledger/keys",
    operationId: "getLedgerKeys",
    summary: "The public keys that sign tree heads, every one ever used",
    tag,
    role: "reader",
    success: { status: 200, description: "the keys", body: Keys },
    handle: async () => ({ status: 200, body: { keys: await ledger.keys() } }),
  }),
  defineRoute({
    method: "get",
    path: "/v1/ledger/proof/inclusion",
    operationId: "getInclusionProof",
    summary: "Proof that the event at a position is in the tree of a size (default: the latest head's)",
    tag,
    role: "reader",
    query: z.strictObject({
      position: queryInteger(1).describe("The event's position"),
      treeSize: queryInteger(1).optional().describe("The tree's size; absent: the latest signed head's"),
    }),
    problems: { 400: ["proof_out_of_range"], 404: ["not_found"] },
    success: { status: 200, description: "the proof", body: Inclusion },
    handle: async (ctx) => ({
      status: 200,
      body: await guard(() => ledger.inclusion(ctx.query.position, ctx.query.treeSize)),
    }),
  }),
  defineRoute({
    method: "get",
    path: "/v1/ledger/proof/consistency",
    operationId: "getConsistencyProof",
    summary: "Proof that the tree of size `to` extends the tree of size `from`",
    tag,
    role: "reader",
    query: z.strictObject({
      from: queryInteger(1).describe("The earlier tree's size"),
      to: queryInteger(1).describe("The later tree's size"),
    }),
    problems: { 400: ["proof_out_of_range"] },
    success: { status: 200, description: "the proof", body: Consistency },
    handle: async (ctx) => ({
      status: 200,
      body: await guard(() => ledger.consistency(ctx.query.from, ctx.query.to)),
    }),
  }),
];
