import { z } from "zod";
import { Amount, Id } from "../../src/http/values.ts";

export const TransferBody = z
  .strictObject({
    transferId: Id.optional(),
    from: Id.describe("The account debited"),
    // What a JSON Schema cannot say, the description does, in the words of the refusal.
    to: Id.describe("The account credited: from and to must differ"),
    amount: Amount,
  })
  .refine((body) => body.from !== body.to, { message: "from and to must differ", path: ["to"] });

export type TransferCommand =
  | { readonly type: "RequestTransfer"; readonly from: string; readonly to: string; readonly amount: number }
  | { readonly type: "RecordDebit"; readonly currency: string }
  | {
      readonly type: "RejectTransfer";
      readonly kind: "not_found" | "conflict";
      readonly code: string;
      readonly detail: string;
    }
  | { readonly type: "CompleteTransfer" }
  | { readonly type: "RecordRefund"; readonly code: string; readonly detail: string };
