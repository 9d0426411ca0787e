/** What to say of anything thrown: its message if it is an Error, else its text. */
export const errorMessage = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

/** Anything thrown, as an Error. */
export const toError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));
