export type TransferEvent =
  | {
      readonly type: "TransferRequested";
      readonly from: string;
      readonly to: string;
      readonly amount: number;
    }
  /** The source account refused the debit: nothing moved, the process is over. */
  | {
      readonly type: "TransferRejected";
      /** The refusal's kind (`not_found`, `conflict`); absent in events written before it was kept. */
      readonly kind?: "not_found" | "conflict";
      readonly code: string;
      readonly detail: string;
    }
  | { readonly type: "TransferDebitRecorded"; readonly currency: string }
  | { readonly type: "TransferCompleted" }
  /** The destination refused the credit and the debit was reversed. */
  | { readonly type: "TransferRefunded"; readonly code: string; readonly detail: string };
