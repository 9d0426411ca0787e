import { describeSubjectKeyStoreConformance } from "../store/conformance/subject-keys.ts";
import { MemorySubjectKeyData, MemorySubjectKeys } from "./memory-subject-keys.ts";

const data = new MemorySubjectKeyData();
describeSubjectKeyStoreConformance("memory", async () => new MemorySubjectKeys(data));
