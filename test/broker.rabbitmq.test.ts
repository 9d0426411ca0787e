import { expect, test } from "bun:test";
import { Connection } from "rabbitmq-client";
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

  test("one dead letter replayed or discarded out of a message that holds several; a list beside it hides nothing", async () => {
    const projection = "ledger";
    const namespace = uniqueName("broker");
    const broker = new RabbitMqBroker({
      url: fullStack.amqpUrl,
      namespace,
      shards: 1,
      batchSize: 100,
      batchWaitMs: 5,
      retry: { maxAttempts: 1, backoffMs: () => 20 },
    });
    const connection = new Connection(fullStack.amqpUrl);
    const publisher = connection.createPublisher({ confirm: true });
    try {
      await broker.declare([{ name: projection, aggregateTypes: ["account"] }]);
      // As RabbitMQ dead-letters a message of the relay itself (its delivery limit): several events.
      const events = [deposit("account-m", 1, 1), deposit("account-m", 2, 2), deposit("account-m", 3, 3)];
      await publisher.send(
        { exchange: `${namespace}.dead-letters`, routingKey: projection, durable: true },
        Buffer.from(JSON.stringify(events)),
      );
      const ids = async () => (await broker.deadLetters.list(projection)).map((l) => l.event.eventId).sort();
      expect(await ids()).toEqual(events.map((e) => e.eventId).sort());
      const [first, second, third] = events as [EventEnvelope, EventEnvelope, EventEnvelope];

      // Listed while it is discarded: the list does not hide the letter from the discard.
      const [listed, discarded] = await Promise.all([
        broker.deadLetters.list(projection),
        broker.deadLetters.discard(projection, second.eventId),
      ]);
      expect([listed.length, discarded]).toEqual([3, true]);
      expect(await ids()).toEqual([first.eventId, third.eventId].sort());
      expect(await broker.deadLetters.discard(projection, second.eventId)).toBe(false);

      const applied: Delivery[] = [];
      const subscription = await broker.subscribe(projection, async (batch) => {
        applied.push(...batch);
        return batch.map(() => ({ ok: true }));
      });
      expect(await broker.deadLetters.replayOne(projection, third.eventId)).toBe(true);
      await eventually(
        async () => applied.length,
        (n) => n > 0,
        10_000,
      );
      expect(applied.map((d) => [d.event.eventId, d.attempt])).toEqual([[third.eventId, 1]]);
      expect(await ids()).toEqual([first.eventId]);
      // A list reads with gets it then hands back by closing its channel: RabbitMQ puts them back in
      // the queue after the close is answered, so the queue's count may lag the list for a moment.
      expect(
        await eventually(
          () => broker.deadLetters.count(projection),
          (n) => n === 1,
          5_000,
        ),
      ).toBe(1);
      await subscription.close();
    } finally {
      await publisher.close();
      await connection.close();
      await broker.deleteTopology([projection]);
      await broker.close();
    }
  }, 30_000);
});
