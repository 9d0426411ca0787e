import { createHash } from "node:crypto";

/** What makes two requests "the same": method, path, precondition and the validated body. */
export const fingerprint = (
  method: string,
  path: string,
  ifMatch: number | undefined,
  body: unknown,
): string =>
  createHash("sha256")
    .update(`${method} ${path}\n${ifMatch ?? ""}\n${JSON.stringify(body ?? null)}`)
    .digest("base64url");
