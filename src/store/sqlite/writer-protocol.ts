import type { WriteOp, WriteResult } from "./writer.ts";

/** Messages to the writer thread; each is answered by a `WriterReply` with the same id. */
export type WriterRequest =
  | { readonly id: number; readonly kind: "open"; readonly path: string }
  | { readonly id: number; readonly kind: "write"; readonly batch: readonly WriteOp[] }
  | { readonly id: number; readonly kind: "close" };

export type WriterReply =
  | { readonly id: number; readonly ok: true; readonly results: WriteResult[] }
  | {
      readonly id: number;
      readonly ok: false;
      readonly error: { readonly message: string; readonly name: string; readonly code?: string };
    };
