import { z } from "zod";
import { type AccountKind, accountKinds } from "./events.ts";

/** Shared by every aggregate id of the API: 1-64 chars of [A-Za-z0-9_-]. */
export const Id = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "1-64 characters of A-Z, a-z, 0-9, _ and -");
/** Integer minor units (cents), 1 to 10^12 per command. */
export const Amount = z.number().int().min(1).max(1_000_000_000_000);
export const Currency = z.string().regex(/^[A-Z]{3}$/, "an ISO 4217 code: three capital letters");
/**
 * Text a person reads back (an owner, a reference): no control characters (NUL, CR, LF…) and no
 * bidirectional overrides, which can make a name display as another.
 */
const printable = (min: number, max: number) =>
  z
    .string()
    .min(min)
    .max(max)
    .regex(
      // biome-ignore lint/suspicious/noControlCharactersInRegex: they are what this refuses
      /^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$/,
      "no control characters or bidirectional overrides",
    );
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
export const CloseAccountBody = z.strictObject({});
export const AccountParams = z.strictObject({ id: Id });

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
