/**
 * What the embedded store takes on disk: bytes per event and per stored outcome after the load
 * scenarios, then what refused commands under keys of their own add (each refusal is kept under its
 * key, so that a retry gets the same answer).
 */
import { progressBar } from "../../src/cli/progress.ts";
import type { Bench } from "../lib/context.ts";
import type { StoreFootprint } from "../lib/results.ts";
import { eachAccountOnce } from "../lib/seed.ts";
import type { RunningServer } from "../lib/servers.ts";
import { directoryBytes, measureStoreSize } from "../lib/store-size.ts";

export const measureStoreFootprint = async (
  bench: Bench,
  server: RunningServer,
): Promise<StoreFootprint | undefined> => {
  const { dataDir } = server;
  const before = dataDir && measureStoreSize(dataDir);
  if (!dataDir || !before) return undefined;
  const dirBefore = directoryBytes(dataDir);
  const refusals = bench.plan.refusals;
  await eachAccountOnce(
    server.url,
    "refusals",
    "/v1/accounts/:id/deposits",
    "missing-",
    refusals,
    progressBar(`embedded: ${refusals} refused deposits under keys of their own`),
  );
  const after = measureStoreSize(dataDir);
  const footprint: StoreFootprint = {
    afterLoad: before,
    afterRefusals: after ?? before,
    refusals,
    dataDirGrowthPerRefusal: Math.round((directoryBytes(dataDir) - dirBefore) / refusals),
  };
  bench.log(
    `  store: ${footprint.afterLoad.bytesPerEvent} B per event; ${footprint.afterRefusals.bytesPerOutcome} B per stored outcome; ` +
      `the data directory grew by ${footprint.dataDirGrowthPerRefusal} B per refusal`,
  );
  return footprint;
};
