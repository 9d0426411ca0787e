import { describeStoreConformance } from "../conformance/index.ts";
import { MemoryStore, MemoryStoreData } from "./memory-store.ts";

const data = new MemoryStoreData();
describeStoreConformance("memory", async (onBatch) => new MemoryStore({ data, onBatch }));
