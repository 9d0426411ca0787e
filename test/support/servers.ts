import { describe, test } from "bun:test";
import { connect } from "node:net";
import { fullStack } from "./read-side.ts";

/** True when something takes a TCP connection at the URL's host and port within `ms`. */
const answers = (url: string, fallbackPort: number, ms = 1_000): Promise<boolean> => {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port || fallbackPort), hostname);
    const done = (up: boolean) => {
      socket.destroy();
      resolve(up);
    };
    socket.setTimeout(ms, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
};

const servers = {
  RabbitMQ: { url: fullStack.amqpUrl, up: await answers(fullStack.amqpUrl, 5672), variable: "AMQP_URL" },
  Redis: { url: fullStack.redisUrl, up: await answers(fullStack.redisUrl, 6379), variable: "REDIS_URL" },
};

export type Server = keyof typeof servers;

/** Whether every one of `needs` answers. */
export const available = (needs: readonly Server[]): boolean => needs.every((name) => servers[name].up);

/**
 * Why a suite that needs `needs` cannot run here, in one line, or undefined if it can. With
 * EVENTFOLD_REQUIRE_SERVERS=1 (CI, which starts them) a missing server is a failure, not a skip.
 */
const missing = (needs: readonly Server[]): string | undefined => {
  const down = needs.filter((name) => !servers[name].up);
  if (down.length === 0) return undefined;
  return down
    .map(
      (name) =>
        `${name} does not answer on ${new URL(servers[name].url).host} (set ${servers[name].variable})`,
    )
    .join("; ");
};

export const serversRequired = process.env.EVENTFOLD_REQUIRE_SERVERS === "1";

/** A suite that needs real servers: run, skipped with one line saying why, or failed where they must answer. */
export const describeWith = (needs: readonly Server[], name: string, body: () => void): void => {
  const why = missing(needs);
  if (why === undefined) {
    describe(name, body);
    return;
  }
  if (serversRequired) {
    describe(name, () =>
      test("its servers answer (EVENTFOLD_REQUIRE_SERVERS=1)", () => {
        throw new Error(why);
      }),
    );
    return;
  }
  console.warn(`SKIPPED: ${name}: ${why}`);
  describe(name, () => test.skip(`SKIPPED: ${why}`, () => {}));
};
