import type { HeadsFlush, WriteOp, WriteResult } from "./writer.ts";

/** Messages to the writer thread; each is answered by a `WriterReply` with the same id. */
export type WriterRequest =
  | {
      readonly id: number;
      readonly kind: "open";
      readonly path: string;
      readonly headsFlush?: HeadsFlush;
      /** Whether appends extend the ledger's tree (default true). */
      readonly ledger?: boolean;
    }
  | { readonly id: number; readonly kind: "write"; readonly batch: readonly WriteOp[] }
  | { readonly id: number; readonly kind: "close" };

/** Each thread has its own `performance.now()` origin; origin plus now is a clock they share. */
export const epochMs = (): number => performance.timeOrigin + performance.now();

/**
 * When the thread took a write and let it go, in milliseconds since the epoch (the clock both threads
 * share), and how long its commit took.
 */
export interface WriteTiming {
  readonly startedAt: number;
  readonly commitMs: number;
  readonly endedAt: number;
}

export type WriterReply =
  | {
      readonly id: number;
      readonly ok: true;
      readonly results: WriteResult[];
      readonly timing?: WriteTiming;
      /** Set when the batch wrote the stream heads to their table: the position it is complete through. */
      readonly headsThrough?: number;
    }
  | {
      readonly id: number;
      readonly ok: false;
      readonly error: { readonly message: string; readonly name: string; readonly code?: string };
    };
