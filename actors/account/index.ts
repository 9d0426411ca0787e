import { type Aggregate, type Dependency, defineAggregate } from "../../src/aggregate.ts";
import type { AccountCommand } from "./commands.ts";
import { accountType, decide } from "./decide.ts";
import type { AccountEvent } from "./events.ts";
import { evolve } from "./evolve.ts";
import { type AccountState, initialAccount } from "./state.ts";
import { accountUpcasters } from "./upcasters.ts";

export const account: Aggregate<AccountState, AccountCommand, AccountEvent> = defineAggregate<
  AccountState,
  AccountCommand,
  AccountEvent
>({
  type: accountType.type,
  initialState: initialAccount,
  decide,
  evolve,
  dependsOn: (command): Dependency[] =>
    // The debit reads the currency `to` was opened with, which never changes after.
    command.type === "DebitForTransfer" ? [{ aggregate: account, id: command.to, reads: "creation" }] : [],
  snapshotVersion: 1,
  eventSchemaVersion: 2,
  upcasters: accountUpcasters,
  // The account is its owner's data subject: the name, and the free text of each movement.
  personalData: {
    events: { AccountOpened: ["owner"], MoneyDeposited: ["reference"], MoneyWithdrawn: ["reference"] },
    state: ["owner"],
  },
});

export type { AccountCommand, AccountEvent, AccountState };
