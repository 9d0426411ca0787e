import { expect, test } from "bun:test";
import type { Delivery } from "../src/broker/broker.ts";
import { RabbitMqBroker } from "../src/broker/rabbitmq/rabbitmq-broker.ts";
import type { EventEnvelope } from "../src/store/envelope.ts";
import { eventually } from "./support/http.ts";
import { fullStack } from "./support/read-side.ts";
import { describeWith } from "./support/servers.ts";
import { uniqueName } from "./support/service.ts";

let position = 0;
const deposit = (streamId: string, version: number, amount: number): EventEnvelope => ({
  eventId: Bun.randomUUIDv7(),
  streamId,
  aggregateType: "account",
  type: "Deposited",
  version,
  schemaVersion: 1,
  time: new Date().toISOString(),
  data: { amount },
  metadata: { commandId: "c", correlationId: "c", causationId: "c" },
  position: ++position,
});

const amountOf = (d: Delivery) => (d.event.data as { amount: number }).amount;

describeWith(["RabbitMQ"], "RabbitMQ broker", () => {
  test("events published together travel as one message; a poison among them is retried and dead-lettered alone", async () => {
    const projection = "ledger";
    const broker = new RabbitMqBroker({
      url: fullStack.amqpUrl,
      namespace: uniqueName("broker"),
      shards: 1,
      batchSize: 100,
      batchWaitMs: 5,
      retry: { maxAttempts: 3, backoffMs: () => 20 },
    });
    const depth = async () => ({
      queued: await broker.queued(projection),
      deadLettered: await broker.deadLetters.count(projection),
    });
    const applied: Delivery[] = [];
    let poisoned = true;
    try {
      await broker.declare([{ name: projection, aggregateTypes: ["account"] }]);
      // Twenty events of three streams in one publish: one message, since there is one shard.
      const events = Array.from({ length: 20 }, (_, i) =>
        deposit(`account-${i % 3}`, Math.floor(i / 3) + 1, i),
      );
      await broker.publish(events);
      expect(await depth()).toEqual({ queued: 1, deadLettered: 0 });

      const subscription = await broker.subscribe(projection, async (batch) => {
        applied.push(...batch);
        return batch.map((d) =>
          poisoned && amountOf(d) === 13 ? { ok: false, error: "unlucky" } : { ok: true },
        );
      });

      const letters = await eventually(
        () => broker.deadLetters.list(projection),
        (l) => l.length > 0,
        10_000,
      );
      expect(letters).toEqual([
        {
          event: events[13] as EventEnvelope,
          error: "unlucky",
          attempts: 3,
          deadLetteredAt: expect.any(String),
        },
      ]);
      // Every other event was applied once, in publishing order; the poison was tried three times.
      const good = applied.filter((d) => amountOf(d) !== 13);
      expect(good.map((d) => d.event.eventId)).toEqual(
        events.filter((_, i) => i !== 13).map((e) => e.eventId),
      );
      expect(good.every((d) => d.attempt === 1)).toBe(true);
      expect(applied.filter((d) => amountOf(d) === 13).map((d) => d.attempt)).toEqual([1, 2, 3]);
      expect(await depth()).toEqual({ queued: 0, deadLettered: 1 });

      poisoned = false;
      expect(await broker.deadLetters.replay(projection)).toBe(1);
      await eventually(
        async () => applied.filter((d) => amountOf(d) === 13).length,
        (tries) => tries === 4,
        10_000,
      );
      expect(await broker.deadLetters.count(projection)).toBe(0);
      await subscription.close();
    } finally {
      await broker.deleteTopology([projection]);
      await broker.close();
    }
  }, 30_000);
});
