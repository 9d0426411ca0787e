import type { ProblemType } from "../../src/http/problem-types.ts";

/** The account's refusals, as clients read them (the codes of its `decide`). */
export const accountProblemTypes: readonly ProblemType[] = [
  {
    code: "account_exists",
    statuses: [409],
    description: "Opening an account with an id that is already taken (open or closed).",
  },
  {
    code: "account_closed",
    statuses: [409],
    description:
      "A command other than a read on a closed account; a transfer from or to one (to one: its debit is refunded).",
  },
  {
    code: "insufficient_funds",
    statuses: [409],
    description:
      "A withdrawal or a transfer larger than the balance of the account it takes from. Nothing moved.",
  },
  {
    code: "currency_mismatch",
    statuses: [409],
    description: "A transfer between accounts of different currencies. Nothing moved.",
  },
  {
    code: "balance_not_zero",
    statuses: [409],
    description: "Closing an account whose balance is not 0: withdraw or transfer it first.",
  },
  {
    code: "balance_limit_exceeded",
    statuses: [409],
    description:
      "A deposit or credit that would take a balance past 9 007 199 254 740 991 minor units (2^53 - 1), beyond which numbers in JSON stop being exact.",
  },
];
