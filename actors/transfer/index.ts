import { defineAggregate } from "../../src/aggregate.ts";
import type { TransferCommand } from "./commands.ts";
import { decide } from "./decide.ts";
import type { TransferEvent } from "./events.ts";
import { evolve } from "./evolve.ts";
import { initialTransfer, isFinal, type TransferState } from "./state.ts";

export const transfer = defineAggregate<TransferState, TransferCommand, TransferEvent>({
  type: "transfer",
  initialState: initialTransfer,
  decide,
  evolve,
  isFinal: isFinal,
  snapshotVersion: 1,
  eventSchemaVersion: 1,
});

export type { TransferCommand, TransferEvent, TransferState };
