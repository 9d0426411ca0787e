import { describe, test } from "bun:test";
import { MongoEventStore } from "../src/store/mongo/mongo-event-store.ts";
import { describeEventStoreConformance } from "./support/event-store-conformance.ts";

const url = process.env.MONGO_URL;

if (url) {
  const database = `eventfold_conformance_${Date.now().toString(36)}`;
  describeEventStoreConformance(`MongoDB (${database})`, (onBatch) =>
    MongoEventStore.connect({ url, database, onBatch }),
  );
} else {
  console.warn(
    "SKIPPED: MongoDB event store conformance suite: MONGO_URL is not set (no MongoDB server here).",
  );
  describe("event store conformance: MongoDB", () => {
    test.skip("SKIPPED because MONGO_URL is not set", () => {});
  });
}
