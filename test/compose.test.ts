import { describe, expect, test } from "bun:test";
import { settings } from "../src/config.ts";

/**
 * Docker does not run here, so docker-compose.yml is checked by reading: it parses, and it holds
 * every service the code needs, wired the way the code reads its configuration.
 */
interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: unknown };
  volumes?: string[];
}

const root = new URL("..", import.meta.url).pathname;
const compose = Bun.YAML.parse(await Bun.file(`${root}docker-compose.yml`).text()) as {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
};
const known = new Set<string>(Object.values(settings).map((s) => s.env));
const service = (name: string): ComposeService => {
  const found = compose.services[name];
  if (!found) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
};

describe("docker-compose.yml", () => {
  test("has MongoDB as a replica set, RabbitMQ with management, ClickHouse 24.8+, Redis, the edge and the projector", () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ["clickhouse", "edge", "mongo", "projector", "rabbitmq", "redis"].sort(),
    );
    expect(service("mongo").command).toContain("--replSet");
    expect(service("rabbitmq").image).toMatch(/^rabbitmq:[\d.]+-management$/);
    const [major = 0, minor = 0] =
      (service("clickhouse").image ?? "").split(":")[1]?.split(".").map(Number) ?? [];
    expect(major * 100 + minor).toBeGreaterThanOrEqual(24 * 100 + 8);
    expect(service("redis").image).toMatch(/^redis:7/);
  });

  test("every service has a health check, and the app waits for its dependencies to be healthy", () => {
    for (const [name, s] of Object.entries(compose.services))
      expect([name, s.healthcheck?.test]).toEqual([name, expect.anything()]);
    for (const name of ["edge", "projector"]) {
      expect(service(name).depends_on).toEqual({
        mongo: { condition: "service_healthy" },
        rabbitmq: { condition: "service_healthy" },
        redis: { condition: "service_healthy" },
        clickhouse: { condition: "service_healthy" },
      });
    }
  });

  test("the edge and the projector run their roles, pointed at every server, with names the config reads", () => {
    expect(service("edge").command?.slice(-2)).toEqual(["app/main.ts", "edge"]);
    expect(service("projector").command?.slice(-2)).toEqual(["app/main.ts", "projector"]);
    for (const name of ["edge", "projector"]) {
      const env = service(name).environment ?? {};
      expect(env.MONGO_URL).toStartWith("mongodb://mongo:27017/");
      expect(env.AMQP_URL).toMatch(/^amqp:\/\/.*@rabbitmq:5672$/);
      expect(env.REDIS_URL).toBe("redis://redis:6379");
      expect(env.CLICKHOUSE_URL).toMatch(/^http:\/\/.*@clickhouse:8123$/);
      for (const variable of Object.keys(env))
        expect([variable, known.has(variable)]).toEqual([variable, true]);
    }
    // The URLs' credentials are the ones the servers are given.
    const rabbit = service("rabbitmq").environment ?? {};
    expect(service("edge").environment?.AMQP_URL).toContain(
      `${rabbit.RABBITMQ_DEFAULT_USER}:${rabbit.RABBITMQ_DEFAULT_PASS}@`,
    );
    const clickhouse = service("clickhouse").environment ?? {};
    expect(service("edge").environment?.CLICKHOUSE_URL).toContain(
      `${clickhouse.CLICKHOUSE_USER}:${clickhouse.CLICKHOUSE_PASSWORD}@`,
    );
  });

  test("every named volume a service mounts is declared", () => {
    const mounted = Object.values(compose.services).flatMap((s) =>
      (s.volumes ?? [])
        .map((v) => v.split(":")[0] ?? "")
        .filter((v) => !v.startsWith("/") && !v.startsWith(".")),
    );
    for (const volume of mounted) expect([volume, volume in compose.volumes]).toEqual([volume, true]);
  });
});
