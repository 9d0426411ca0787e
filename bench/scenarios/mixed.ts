import type { LoadScenario } from "../lib/load.ts";

/** Scenario 4: 75% `GET /v1/accounts/:id`, 25% deposits: reads from the hot lookup beside writes. */
export const mixed: LoadScenario = { name: "mixed" };
