import { describe, expect, test } from "bun:test";
import { type AppendRequest, AppendTooLargeError } from "../../src/store/event-store.ts";
import type { Store } from "../../src/store/store.ts";
import { inProcessApp } from "../support/app.ts";

/**
 * A store that keeps at most `maxEvents` events in one write, and never one whose deposit reference is
 * "too large" (a command whose own events pass the store's limit, as a 16 MiB MongoDB document would).
 */
const limitedStore =
  (maxEvents: number, sizes: number[]) =>
  (store: Store): Store =>
    Object.assign(Object.create(store) as Store, {
      append: async (request: AppendRequest) => {
        sizes.push(request.events.length);
        const huge = request.events.some((e) => (e.data as { reference?: string }).reference === "too large");
        if (huge || request.events.length > maxEvents) {
          throw new AppendTooLargeError(`${request.events.length} events are more than this store keeps`);
        }
        return store.append(request);
      },
    });

describe("an append larger than the store keeps: only the command too large by itself is refused", () => {
  test("commands batched into one append too large are written in smaller appends, all accepted", async () => {
    const sizes: number[] = [];
    const app = inProcessApp({ wrap: limitedStore(3, sizes) });
    try {
      await app.request("POST", "/v1/accounts", { accountId: "a", owner: "A", currency: "EUR" });
      const answers = await Promise.all(
        Array.from({ length: 10 }, () => app.request("POST", "/v1/accounts/a/deposits", { amount: 5 })),
      );
      expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
      expect((await app.request("GET", "/v1/accounts/a/state")).body).toMatchObject({
        balance: 50,
        version: 11,
      });
      // The actor tried them together, and was refused, before it split them.
      expect(Math.max(...sizes)).toBeGreaterThan(3);
    } finally {
      await app.close();
    }
  });

  test("one command whose events are too large: 413 payload_too_large for it, its neighbours in the batch accepted", async () => {
    const sizes: number[] = [];
    const app = inProcessApp({ wrap: limitedStore(1_000, sizes) });
    try {
      await app.request("POST", "/v1/accounts", { accountId: "a", owner: "A", currency: "EUR" });
      const answers = await Promise.all(
        Array.from({ length: 9 }, (_, i) =>
          app.request("POST", "/v1/accounts/a/deposits", {
            amount: 1,
            ...(i === 4 ? { reference: "too large" } : {}),
          }),
        ),
      );
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 413, 200, 200, 200, 200]);
      expect(answers[4]?.body).toMatchObject({ code: "payload_too_large" });
      // It was tried in a batch with others first (the account's opening is the first append).
      expect(Math.max(...sizes.slice(1))).toBeGreaterThan(1);
      expect((await app.request("GET", "/v1/accounts/a/state")).body).toMatchObject({
        balance: 8,
        version: 9,
      });
    } finally {
      await app.close();
    }
  });
});
