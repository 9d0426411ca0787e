import type { LoadScenario } from "../lib/load.ts";
import { measureProjectionLag } from "./projection-lag.ts";

/**
 * Scenario 1: deposits spread uniformly over the accounts. Scenario 5 (projection lag) is measured
 * during its 50% run.
 */
export const deposits: LoadScenario = { name: "deposits", during: measureProjectionLag };
