import type { LoadScenario } from "../lib/load.ts";

/**
 * Scenario 3: transfers of 1 between two different random accounts. Each is a process manager's work
 * (request, debit, credit), so its rate is not comparable with the other scenarios'.
 */
export const transfers: LoadScenario = { name: "transfers" };
