import { describe, expect, test } from "bun:test";
import type { SyncMessage } from "rabbitmq-client";
import type { EventEnvelope } from "../../store/envelope.ts";
import { decodeDeadLetters, encode } from "./codec.ts";

const event: EventEnvelope = {
  eventId: "e1",
  streamId: "account-a",
  aggregateType: "account",
  type: "MoneyDeposited",
  version: 2,
  schemaVersion: 1,
  time: "2026-12-02T10:00:00.000Z",
  data: { amount: 5 },
  metadata: { commandId: "c", correlationId: "c", causationId: "c" },
  position: 7,
};
const message = (headers: Record<string, unknown>) =>
  ({ body: encode([event]).body, headers }) as unknown as SyncMessage;

describe("a dead letter, as read back from its queue", () => {
  test("dead-lettered by the consumer: its error, tries and time", () => {
    const { headers } = encode([event], {
      attempt: 4,
      error: "cursed",
      deadLetteredAt: "2026-12-02T10:00:01.000Z",
    });
    expect(decodeDeadLetters(message(headers))).toEqual([
      { event, error: "cursed", attempts: 4, deadLetteredAt: "2026-12-02T10:00:01.000Z" },
    ]);
  });

  test("dead-lettered by RabbitMQ's delivery limit: tries and time from x-death, never an empty time", () => {
    const time = new Date("2026-12-02T10:00:02.000Z");
    const [byDate] = decodeDeadLetters(message({ "x-death": [{ count: 5, time }] }));
    expect(byDate).toMatchObject({ attempts: 5, deadLetteredAt: time.toISOString() });
    expect(byDate?.error).toStartWith("delivery limit reached");
    const [bySeconds] = decodeDeadLetters(
      message({ "x-death": [{ count: 5, time: time.getTime() / 1000 }] }),
    );
    expect(bySeconds?.deadLetteredAt).toBe(time.toISOString());
    const [unsaid] = decodeDeadLetters(message({ "x-death": [{ count: 5 }] }));
    expect(unsaid?.deadLetteredAt).toBeNull();
  });
});
