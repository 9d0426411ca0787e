/** What to say of anything thrown: its message if it is an Error, else its text. */
export const errorMessage = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

/** Anything thrown, as an Error. */
export const toError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));

/**
 * A start that cannot go on, for a reason the operator can mend (a setting, a port, a data directory):
 * said in one line, and the process exits 2, with no stack trace.
 */
export class StartupError extends Error {
  override readonly name: string = "StartupError";
}
