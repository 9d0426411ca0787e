export interface AccountState {
  readonly status: "none" | "open" | "closed";
  readonly owner: string;
  readonly currency: string;
  /** Integer minor units. */
  readonly balance: number;
}

export const initialAccount: AccountState = { status: "none", owner: "", currency: "", balance: 0 };
