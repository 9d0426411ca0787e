import { describe, expect, test } from "bun:test";
import { loadConfig } from "../src/config.ts";

describe("configuration from the environment", () => {
  test("relay rounds go 50 ms apart with RabbitMQ, 10 ms with the in-process broker, or as set", () => {
    expect(loadConfig({}).relayIntervalMs).toBe(10);
    expect(loadConfig({ AMQP_URL: "amqp://guest:guest@127.0.0.1:5672" }).relayIntervalMs).toBe(50);
    expect(loadConfig({ AMQP_URL: "amqp://x", EVENTFOLD_RELAY_INTERVAL_MS: "0" }).relayIntervalMs).toBe(0);
    expect(loadConfig({ EVENTFOLD_RELAY_INTERVAL_MS: "25" }).relayIntervalMs).toBe(25);
  });

  test("a setting that is not a non-negative integer stops the start-up with its name", () => {
    expect(() => loadConfig({ EVENTFOLD_RELAY_INTERVAL_MS: "soon" })).toThrow(/EVENTFOLD_RELAY_INTERVAL_MS/);
    expect(() => loadConfig({ PORT: "-1" })).toThrow(/PORT/);
  });
});
