import { z } from "zod";
import { Amount, Id, printable } from "../../src/http/values.ts";
import { type AccountKind, accountKinds } from "./events.ts";

export const Currency = z.string().regex(/^[A-Z]{3}$/, "an ISO 4217 code: three capital letters");
const Reference = printable(0, 200);

export const OpenAccountBody = z.strictObject({
  accountId: Id.optional(),
  owner: printable(1, 200),
  currency: Currency,
  kind: z
    .enum(accountKinds)
    .default("current")
    .describe("A current account (the default) or a savings account"),
});
export const MoneyMovementBody = z.strictObject({ amount: Amount, reference: Reference.optional() });

/** Commands the account aggregate decides on. The transfer ones are sent by the transfer process. */
export type AccountCommand =
  | {
      readonly type: "OpenAccount";
      readonly owner: string;
      readonly currency: string;
      readonly kind: AccountKind;
    }
  | { readonly type: "Deposit"; readonly amount: number; readonly reference?: string }
  | { readonly type: "Withdraw"; readonly amount: number; readonly reference?: string }
  | { readonly type: "CloseAccount" }
  | {
      readonly type: "DebitForTransfer";
      readonly transferId: string;
      readonly to: string;
      readonly amount: number;
    }
  | {
      readonly type: "CreditFromTransfer";
      readonly transferId: string;
      readonly from: string;
      readonly amount: number;
      readonly currency: string;
    }
  | { readonly type: "ReverseTransferDebit"; readonly transferId: string; readonly amount: number };
