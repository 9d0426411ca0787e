import type { AccountKind } from "./events.ts";

export interface AccountState {
  readonly status: "none" | "open" | "closed";
  readonly owner: string;
  readonly currency: string;
  readonly kind: AccountKind;
  /** Integer minor units. */
  readonly balance: number;
}

export const initialAccount: AccountState = {
  status: "none",
  owner: "",
  currency: "",
  kind: "current",
  balance: 0,
};
