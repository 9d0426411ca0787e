/**
 * `requested` → `debited` → `completed` | `refunded`; or `requested` → `rejected`.
 * The API shows `requested` and `debited` as `pending`; a rejected transfer never happened (404).
 */
export type TransferStatus = "none" | "requested" | "rejected" | "debited" | "completed" | "refunded";

export interface TransferState {
  readonly status: TransferStatus;
  readonly from: string;
  readonly to: string;
  readonly amount: number;
  readonly currency: string;
  /** Why it was rejected or refunded. */
  readonly reason?: {
    readonly kind?: "not_found" | "conflict";
    readonly code: string;
    readonly detail: string;
  };
}

export const initialTransfer: TransferState = { status: "none", from: "", to: "", amount: 0, currency: "" };

export const isFinal = (state: TransferState): boolean =>
  state.status === "completed" || state.status === "refunded" || state.status === "rejected";
