/**
 * Movement events carry the balance after them and the account's currency, so read models and
 * analytics can take each event on its own, without re-adding history or looking anything up.
 */
interface Movement {
  readonly amount: number;
  readonly balance: number;
  readonly currency: string;
}

export type AccountEvent =
  | { readonly type: "AccountOpened"; readonly owner: string; readonly currency: string }
  | ({ readonly type: "MoneyDeposited"; readonly reference?: string } & Movement)
  | ({ readonly type: "MoneyWithdrawn"; readonly reference?: string } & Movement)
  | ({ readonly type: "TransferDebited"; readonly transferId: string; readonly to: string } & Movement)
  | ({ readonly type: "TransferCredited"; readonly transferId: string; readonly from: string } & Movement)
  | ({ readonly type: "TransferDebitReversed"; readonly transferId: string } & Movement)
  | { readonly type: "AccountClosed" };
