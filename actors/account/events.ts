/**
 * Movement events carry the balance after them and the account's currency, so read models and
 * analytics can take each event on its own, without re-adding history or looking anything up.
 */
interface Movement {
  readonly amount: number;
  readonly balance: number;
  readonly currency: string;
}

/** What an account is for: a current account (payments) or a savings account. */
export type AccountKind = "current" | "savings";
export const accountKinds: readonly AccountKind[] = ["current", "savings"];

export type AccountEvent =
  | {
      readonly type: "AccountOpened";
      readonly owner: string;
      readonly currency: string;
      /** Since schema version 2; the accounts opened before were all current accounts. */
      readonly kind: AccountKind;
    }
  | ({ readonly type: "MoneyDeposited"; readonly reference?: string } & Movement)
  | ({ readonly type: "MoneyWithdrawn"; readonly reference?: string } & Movement)
  | ({ readonly type: "TransferDebited"; readonly transferId: string; readonly to: string } & Movement)
  | ({ readonly type: "TransferCredited"; readonly transferId: string; readonly from: string } & Movement)
  | ({ readonly type: "TransferDebitReversed"; readonly transferId: string } & Movement)
  | { readonly type: "AccountClosed" };
