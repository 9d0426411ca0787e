import type { ProblemType } from "../../src/http/problem-types.ts";

export const transferProblemTypes: readonly ProblemType[] = [
  {
    code: "transfer_exists",
    statuses: [409],
    description:
      "A transfer with this `transferId` exists and is not this one (other accounts or amount). Sending the same transfer again is not refused: it gets its answer.",
  },
];
