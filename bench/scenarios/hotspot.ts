import type { LoadScenario } from "../lib/load.ts";

/** Scenario 2: 80% of the deposits on 100 accounts, so commands queue behind the same few actors. */
export const hotspot: LoadScenario = { name: "hotspot" };
