import { z } from "zod";

/** Every aggregate id of the API: 1-64 chars of [A-Za-z0-9_-]. A client may choose it; else a UUIDv7. */
export const Id = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "1-64 characters of A-Z, a-z, 0-9, _ and -");

/** The path of one aggregate: `/v1/<things>/:id`. */
export const IdParams = z.strictObject({ id: Id });

/** Money in integer minor units (cents), 1 to 10^12 per command: exact, and far from 2^53. */
export const Amount = z.number().int().min(1).max(1_000_000_000_000);

/**
 * Text a person reads back (a name, a reference): no control characters (NUL, CR, LF…) and no
 * bidirectional overrides, which can make a name display as another.
 */
export const printable = (min: number, max: number) =>
  z
    .string()
    .min(min)
    .max(max)
    .regex(
      // biome-ignore lint/suspicious/noControlCharactersInRegex: they are what this refuses
      /^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$/,
      "no control characters or bidirectional overrides",
    );

/** An aggregate's version in answers: its stream's last event number (1-based). */
export const Version = z.int().min(1).describe("The stream's last event number (1-based)");
