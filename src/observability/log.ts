import { AsyncLocalStorage } from "node:async_hooks";
import pino from "pino";

/**
 * The correlation id of the request being served, for the lines logged on its behalf wherever they
 * are written: one store for the whole process (each thread has its own module, so its own store).
 */
const request = new AsyncLocalStorage<string>();

/**
 * Runs `work` as part of the request `correlationId`: every line logged from it, and from what it
 * awaits or schedules, carries that id.
 */
export const inRequest = <T>(correlationId: string, work: () => T): T => request.run(correlationId, work);

/**
 * Runs `work` outside any request: for work a request only sets off (waking the relay) and that then
 * goes on for everyone, whose lines would otherwise carry that one request's id.
 */
export const outsideRequests = <T>(work: () => T): T => request.exit(work);

/**
 * Structured JSON logs; secrets are redacted wherever they could appear. Lines go to stdout, or to
 * `destination` (a test reading what was logged). A line written while a request is served carries
 * its `correlationId`: the mixin is called only for lines that are written, so a request that logs
 * nothing pays nothing for it.
 */
export const createLogger = (level: string, destination?: pino.DestinationStream) =>
  pino(
    {
      level,
      base: { service: "eventfold" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: ["token", "authorization", "headers.authorization", "*.token"],
      // A new object each time: pino merges the line's own fields into it.
      mixin: () => {
        const correlationId = request.getStore();
        return correlationId === undefined ? {} : { correlationId };
      },
    },
    destination,
  );

export type Logger = ReturnType<typeof createLogger>;
