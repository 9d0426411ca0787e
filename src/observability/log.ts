import pino from "pino";

/**
 * Structured JSON logs; secrets are redacted wherever they could appear. Lines go to stdout, or to
 * `destination` (a test reading what was logged).
 */
export const createLogger = (level: string, destination?: pino.DestinationStream) =>
  pino(
    {
      level,
      base: { service: "eventfold" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: ["token", "authorization", "headers.authorization", "*.token"],
    },
    destination,
  );

export type Logger = ReturnType<typeof createLogger>;
