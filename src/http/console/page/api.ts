import type { Problem } from "./types.ts";

/**
 * Every call the console makes: to the admin API, `GET /metrics` and the streams' reads, with the
 * operator's token as `Authorization: Bearer`. The page keeps nothing of the service's but what it
 * shows; the token lives in this tab's session storage, gone when the tab closes.
 */

const TOKEN_KEY = "eventfold.console.token";

export const storedToken = (): string | undefined => sessionStorage.getItem(TOKEN_KEY) ?? undefined;
export const keepToken = (token: string): void => sessionStorage.setItem(TOKEN_KEY, token);
export const forgetToken = (): void => sessionStorage.removeItem(TOKEN_KEY);

/** A call the service refused: its status and problem code, and a message naming both. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

let unauthorized: (error: ApiError) => void = () => {};
/** What to do when a call is answered 401: the token was dropped from the keys, or never was one. */
export const whenUnauthorized = (handler: (error: ApiError) => void): void => {
  unauthorized = handler;
};

const refusal = async (response: Response): Promise<ApiError> => {
  let problem: Problem | undefined;
  try {
    problem = (await response.json()) as Problem;
  } catch {
    // Not problem+json (a proxy's page): the status says enough.
  }
  const said = [problem?.title, problem?.detail].filter(Boolean).join(": ") || response.statusText;
  const code = problem?.code;
  return new ApiError(response.status, code, `${response.status}${code ? ` ${code}` : ""}: ${said}`);
};

const send = async (method: "GET" | "POST", path: string, accept: string): Promise<Response> => {
  const headers = new Headers({ accept });
  const token = storedToken();
  if (token) headers.set("authorization", `Bearer ${token}`);
  let response: Response;
  try {
    // No body: the admin routes take none, and one would make a POST a "non-simple" request for nothing.
    response = await fetch(path, { method, headers, cache: "no-store" });
  } catch {
    throw new ApiError(0, undefined, "the service does not answer");
  }
  if (response.ok) return response;
  const error = await refusal(response);
  if (error.status === 401) unauthorized(error);
  throw error;
};

export const getJson = async <T>(path: string): Promise<T> =>
  (await (await send("GET", path, "application/json")).json()) as T;

export const postJson = async <T>(path: string): Promise<T> =>
  (await (await send("POST", path, "application/json")).json()) as T;

export const getText = async (path: string): Promise<string> =>
  (await send("GET", path, "text/plain")).text();

/** A path segment from an id or a name the operator typed or the API gave. */
export const segment = encodeURIComponent;
