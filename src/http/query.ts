import { z } from "zod";

/**
 * A whole number in a query string, from `min` to `max`. A missing one is named as missing (not as
 * "NaN"), and one that is not a whole number says what is allowed.
 */
export const queryInteger = (min: number, max = Number.MAX_SAFE_INTEGER) => {
  const allowed = `a whole number from ${min} to ${max}`;
  return z
    .string({ error: (issue) => (issue.input === undefined ? `required: ${allowed}` : allowed) })
    .regex(/^\d{1,16}$/, allowed)
    .transform(Number)
    .pipe(z.int().min(min, allowed).max(max, allowed));
};

/** The earliest and latest instants ClickHouse's `DateTime` holds (seconds in a UInt32). */
export const EARLIEST_INSTANT = "1970-01-01T00:00:00Z";
export const LATEST_INSTANT = "2106-02-07T06:28:15Z";
/** What an instant out of that range is told, and what the document says of every instant. */
export const INSTANT_RANGE = `between ${EARLIEST_INSTANT} and ${LATEST_INSTANT}`;

/**
 * An ISO 8601 instant with its offset, that exists on the calendar (zod's format knows the days of
 * each month) and that analytics can hold: from 1970-01-01 to 2106-02-07T06:28:15Z. Anything else is
 * a 400 naming the field, never a 500 nor a silently empty answer.
 */
export const instant = z.iso
  .datetime({ offset: true, error: "an ISO 8601 instant with its offset, e.g. 2026-12-01T00:00:00Z" })
  .transform((s) => new Date(s))
  .refine(
    (d) => d.getTime() >= Date.parse(EARLIEST_INSTANT) && d.getTime() <= Date.parse(LATEST_INSTANT),
    INSTANT_RANGE,
  )
  // What the OpenAPI document says of it: zod cannot describe a string turned into a Date.
  .meta({ type: "string", format: "date-time" });
