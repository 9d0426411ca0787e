import { defineAggregate } from "../../src/aggregate.ts";
import type { AccountCommand } from "./commands.ts";
import { decide } from "./decide.ts";
import type { AccountEvent } from "./events.ts";
import { evolve } from "./evolve.ts";
import { type AccountState, initialAccount } from "./state.ts";

export const account = defineAggregate<AccountState, AccountCommand, AccountEvent>({
  type: "account",
  initialState: initialAccount,
  decide,
  evolve,
  snapshotVersion: 1,
  eventSchemaVersion: 1,
});

export type { AccountCommand, AccountEvent, AccountState };
