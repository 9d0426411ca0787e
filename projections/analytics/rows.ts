import { idOfStream } from "../../src/aggregate.ts";
import type { EventEnvelope } from "../../src/store/envelope.ts";

/** A row of `events` (see schema.ts), as `JSONEachRow` sends it. */
interface Row {
  stream_id: string;
  version: number;
  position: number;
  event_id: string;
  aggregate_type: string;
  aggregate_id: string;
  type: string;
  time: number;
  currency: string;
  amount: number;
  balance: number;
  data: string;
}

/** A row as a line of `JSONEachRow`: encoded while the apply runs in slices, not all at insert time. */
export const toLine = (event: EventEnvelope): string => {
  const data = event.data as { currency?: unknown; amount?: unknown; balance?: unknown };
  const row: Row = {
    stream_id: event.streamId,
    version: event.version,
    position: event.position,
    event_id: event.eventId,
    aggregate_type: event.aggregateType,
    aggregate_id: idOfStream(event.aggregateType, event.streamId),
    type: event.type,
    time: Math.floor(Date.parse(event.time) / 1000),
    currency: typeof data.currency === "string" ? data.currency : "",
    amount: typeof data.amount === "number" ? data.amount : 0,
    balance: typeof data.balance === "number" ? data.balance : 0,
    data: JSON.stringify(event.data),
  };
  return `${JSON.stringify(row)}\n`;
};
