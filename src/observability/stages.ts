import type { Registry } from "prom-client";
import { FastHistogram } from "./histogram.ts";

/**
 * The stages of the durable write path, in the order a command passes them. Each command is timed
 * in each stage it passes (a command decided again after a clash passes some twice); the store's
 * stages, from `queue` to `hop`, count writes (the commands an actor decides together are one write,
 * and the relay's checkpoints are writes too):
 * - `edge`: from the request's arrival at its route to its dispatch (auth, parsing, validation);
 * - `mailbox`: waiting in its actor's mailbox behind the batch being written;
 * - `decide`: its actor deciding the batch it is in, and folding the events into a new state;
 * - `queue`: waiting in the store's group-commit queue for a batch to leave;
 * - `send`: the batch on its way to the writer (SQLite: serialized, posted, and waiting behind the
 *   batch the writer thread is still committing);
 * - `write`: the writer running the batch's statements, up to its commit (MongoDB: the whole round trip);
 * - `fsync`: the commit (SQLite: `COMMIT`, which is where `synchronous=FULL` syncs the WAL);
 * - `hop`: from the writer's end to the event loop taking its answer (a loop busy elsewhere shows here);
 * - `respond`: from the route's handler returning its reply to the response being made (JSON, headers,
 *   counting). The handler's own mapping of the outcome, between `hop` and `respond`, is not timed.
 */
export const writeStages = [
  "edge",
  "mailbox",
  "decide",
  "queue",
  "send",
  "write",
  "fsync",
  "hop",
  "respond",
] as const;
export type WriteStage = (typeof writeStages)[number];

/** Told how long commands spent in a stage: `count` commands, `ms` milliseconds each. */
export type StageObserver = (stage: WriteStage, ms: number, count?: number) => void;

/** Upper bounds in milliseconds: a stage may be a few microseconds (decide) or seconds (a stalled disk). */
const boundsMs = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500];

/** `eventfold_write_stage_seconds{stage}`, and the observer the write path reports each stage to. */
export const stageHistogram = (registry: Registry) => {
  const histogram = new FastHistogram<WriteStage>(
    registry,
    "eventfold_write_stage_seconds",
    "Time commands spend in each stage of the durable write path (edge, mailbox, decide, queue, send, write, fsync, hop, respond)",
    "stage",
    boundsMs,
  );
  // Every stage from the start, so a scrape shows each (at zero) before the first command.
  const byStage = new Map(writeStages.map((stage) => [stage, histogram.child(stage)]));
  const observe: StageObserver = (stage, ms, count) => byStage.get(stage)?.(ms, count);
  return { histogram, observe };
};
