import { describe, test } from "bun:test";
import { describeStoreConformance } from "../src/store/conformance/index.ts";
import { MongoStore } from "../src/store/mongo/mongo-store.ts";

const url = process.env.MONGO_URL;

if (url) {
  const database = `eventfold_conformance_${Date.now().toString(36)}`;
  describeStoreConformance(`MongoDB (${database})`, (onBatch?: (size: number) => void) =>
    MongoStore.connect({ url, database, onBatch }),
  );
} else {
  console.warn(
    "SKIPPED: MongoDB event store conformance suite: MONGO_URL is not set (no MongoDB server here).",
  );
  describe("event store conformance: MongoDB", () => {
    test.skip("SKIPPED because MONGO_URL is not set", () => {});
  });
}
