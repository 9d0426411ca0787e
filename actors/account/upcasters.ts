import type { Upcaster } from "../../src/aggregate.ts";
import type { AccountKind } from "./events.ts";

/**
 * Every account opened before accounts had kinds was a current account: what the hot documents written
 * then lack reads as this too.
 */
export const kindBeforeKinds: AccountKind = "current";

/**
 * How the account's events stored in older shapes read now (beside `evolve`, as pure). Version 2:
 * `AccountOpened` names the account's kind.
 */
export const accountUpcasters: readonly Upcaster[] = [
  {
    type: "AccountOpened",
    from: 1,
    upcast: (data) => ({ type: "AccountOpened", data: { ...data, kind: kindBeforeKinds } }),
  },
];
