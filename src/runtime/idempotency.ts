/**
 * Idempotency keys live in two namespaces that cannot meet: a caller's (scoped to who sent it) and a
 * process's (one key per step of one process instance). Every key starts with its namespace, and the
 * caller's principal holds no `:` (API key names cannot), so no caller key can ever equal a process
 * key, whatever the caller names itself or sends.
 */

/** A key sent by a caller: two callers may use the same key without seeing each other's outcomes. */
export const callerKey = (principal: string | undefined, key: string): string => {
  if (principal?.includes(":")) throw new Error(`a principal name holds no ':': ${principal}`);
  return `caller:${principal ?? ""}:${key}`;
};

/** The key of one step of one process instance, e.g. the debit of transfer `t1`. */
export const processKey = (process: string, id: string, step: string): string =>
  `process:${process}:${id}:${step}`;
