import type { AccountEvent } from "../../actors/account/events.ts";
import type { HotLookup } from "../../src/hot-lookup/hot-lookup.ts";
import { ERASED } from "../../src/privacy/personal-data.ts";
import { type DocumentKeys, documentProjection } from "../../src/projector/document-projection.ts";
import type { EventEnvelope } from "../../src/store/envelope.ts";

/** What one account event sets in the account's hot document (the read model of API.md). */
export const accountFields = (envelope: EventEnvelope): Record<string, string> => {
  const event = { type: envelope.type, ...(envelope.data as object) } as AccountEvent;
  const updatedAt = envelope.time;
  switch (event.type) {
    case "AccountOpened":
      return {
        owner: event.owner,
        currency: event.currency,
        kind: event.kind,
        balance: "0",
        status: "open",
        updatedAt,
      };
    case "AccountClosed":
      return { status: "closed", updatedAt };
    default:
      return { balance: String(event.balance), updatedAt };
  }
};

export const accountsProjection = (hot: HotLookup, keys: DocumentKeys) =>
  documentProjection({
    name: "accounts",
    aggregateType: "account",
    hot,
    keys,
    fieldsOf: accountFields,
    erasedFields: { owner: ERASED },
  });
