import { z } from "zod";
import type { Tag } from "../../src/http/route.ts";
import { accountKinds } from "./events.ts";

/** The accounts' routes, the write side's and the hot lookup's, in one group of the API. */
export const accountsTag: Tag = {
  name: "accounts",
  description: "Open, deposit, withdraw, close; an account, its events and its state at any version",
};

const AccountId = z.string().describe("1-64 characters of A-Z, a-z, 0-9, _ and -");
const Version = z.int().min(1).describe("The account's stream's last event number (1-based)");
const Balance = z.int().min(0).describe("Integer minor units (cents)");

/** An account as clients read it: from the hot lookup, or replayed from the store at a version. */
export const AccountView = z
  .strictObject({
    accountId: AccountId,
    owner: z.string(),
    currency: z.string().describe("ISO 4217"),
    kind: z.enum(accountKinds).describe("A current or a savings account"),
    balance: Balance,
    status: z.enum(["open", "closed"]),
    version: Version,
    updatedAt: z.iso
      .datetime()
      .nullable()
      .describe("When its last event was stored; null where the store did not say"),
  })
  .meta({ id: "Account" });

export const OpenedAccount = z
  .strictObject({ accountId: AccountId, version: Version, balance: Balance, status: z.literal("open") })
  .meta({ id: "OpenedAccount" });

/** The answer to a deposit or a withdrawal: the balance it leaves. */
export const AccountBalance = z
  .strictObject({ accountId: AccountId, version: Version, balance: Balance })
  .meta({ id: "AccountBalance" });

export const ClosedAccount = z
  .strictObject({ accountId: AccountId, version: Version, status: z.literal("closed") })
  .meta({ id: "ClosedAccount" });
