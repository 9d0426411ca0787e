import { describe, expect, test } from "bun:test";
import { DeciderSpecification } from "../../src/testing/decider-specification.ts";
import type { TransferEvent } from "./events.ts";
import { transfer } from "./index.ts";

const spec = DeciderSpecification.for(transfer);
const requested: TransferEvent = { type: "TransferRequested", from: "a", to: "b", amount: 5 };
const debited: TransferEvent = { type: "TransferDebitRecorded", currency: "EUR" };
const completed: TransferEvent = { type: "TransferCompleted" };
const refunded: TransferEvent = { type: "TransferRefunded", code: "account_closed", detail: "b is closed" };
const rejectedEvent: TransferEvent = {
  type: "TransferRejected",
  kind: "conflict",
  code: "insufficient_funds",
  detail: "short",
};

describe("requesting", () => {
  test("a new id is requested; the same terms again change nothing; other terms are transfer_exists", () => {
    spec.given([]).when({ type: "RequestTransfer", from: "a", to: "b", amount: 5 }).thenEvents([requested]);
    spec
      .given([requested])
      .when({ type: "RequestTransfer", from: "a", to: "b", amount: 5 })
      .thenNothingHappened();
    spec
      .given([requested])
      .when({ type: "RequestTransfer", from: "a", to: "b", amount: 6 })
      .thenRejected({ kind: "conflict", code: "transfer_exists" });
  });
});

describe("each step only from the status before it; a step already taken is a no-op", () => {
  const steps = [
    { given: [requested], command: { type: "RecordDebit", currency: "EUR" }, events: [debited] },
    {
      given: [requested],
      command: { type: "RejectTransfer", kind: "conflict", code: "insufficient_funds", detail: "short" },
      events: [rejectedEvent],
    },
    { given: [requested, debited], command: { type: "CompleteTransfer" }, events: [completed] },
    {
      given: [requested, debited],
      command: { type: "RecordRefund", code: "account_closed", detail: "b is closed" },
      events: [refunded],
    },
  ] as const;
  test("from the status before it: its event", () => {
    for (const step of steps) spec.given(step.given).when(step.command).thenEvents(step.events);
  });
  test("taken already: nothing", () => {
    for (const step of steps)
      spec
        .given([...step.given, ...step.events])
        .when(step.command)
        .thenNothingHappened();
  });
  test("no transfer: not_found", () => {
    for (const step of steps) spec.given([]).when(step.command).thenRejected({ kind: "not_found" });
  });
  test("from elsewhere: invalid_transfer_step", () => {
    spec.given([requested, rejectedEvent]).when({ type: "RecordDebit", currency: "EUR" }).thenRejected({
      code: "invalid_transfer_step",
    });
    spec
      .given([requested])
      .when({ type: "CompleteTransfer" })
      .thenRejected({ code: "invalid_transfer_step" });
    spec
      .given([requested, debited, completed])
      .when({ type: "RecordRefund", code: "x", detail: "y" })
      .thenRejected({ code: "invalid_transfer_step" });
  });
});

test("a transfer is final once completed, refunded or rejected", () => {
  const final = (events: TransferEvent[]) =>
    transfer.isFinal?.(events.reduce(transfer.evolve, transfer.initialState));
  expect([[requested], [requested, debited]].map(final)).toEqual([false, false]);
  expect(
    [
      [requested, rejectedEvent],
      [requested, debited, completed],
      [requested, debited, refunded],
    ].map(final),
  ).toEqual([true, true, true]);
});
