import { describe, expect, test } from "bun:test";
import { settings } from "../src/config.ts";

/**
 * Docker does not run here, so docker-compose.yml and the Dockerfile are checked by reading (and by
 * their linters in .ci/run): they parse, and they hold every service the code needs, wired the way
 * the code reads its configuration.
 */
interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: unknown };
  volumes?: string[];
  ports?: string[];
  expose?: string[];
  restart?: string;
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
  test("has MongoDB as a replica set, RabbitMQ with management, ClickHouse 24.8+, Redis, the edge, the projector and Grafana", () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ["clickhouse", "edge", "grafana", "lb", "mongo", "projector", "rabbitmq", "redis"].sort(),
    );
    expect(service("mongo").command).toContain("--replSet");
    expect(service("rabbitmq").image).toMatch(/^rabbitmq:[\d.]+-management$/);
    const [major = 0, minor = 0] =
      (service("clickhouse").image ?? "").split(":")[1]?.split(".").map(Number) ?? [];
    expect(major * 100 + minor).toBeGreaterThanOrEqual(24 * 100 + 8);
    expect(service("redis").image).toMatch(/^redis:7/);
    expect(service("grafana").image).toMatch(/^grafana\/grafana:\d+\.\d+\.\d+$/);
    expect(service("grafana").environment?.GF_INSTALL_PLUGINS).toStartWith("grafana-clickhouse-datasource");
    expect(service("grafana").depends_on).toEqual({ clickhouse: { condition: "service_healthy" } });
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
      // Analysts' SQL as the read-only user of ops/clickhouse/users.d/analyst.xml, not the service's.
      expect(env.CLICKHOUSE_ANALYST_URL).toMatch(/^http:\/\/analyst:.*@clickhouse:8123$/);
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

  test("every service comes back after a crash or a reboot", () => {
    for (const [name, s] of Object.entries(compose.services)) {
      expect([name, s.restart]).toEqual([name, "unless-stopped"]);
    }
  });

  test("auth cannot be off, and what is for operators is on this machine only", async () => {
    const text = await Bun.file(`${root}docker-compose.yml`).text();
    // `${VAR:?message}`: compose refuses to start when it is unset or empty.
    expect(text).toMatch(/EVENTFOLD_API_KEYS: \$\{EVENTFOLD_API_KEYS:\?[^}]+\}/);
    // Keys every process of the deployment must share: never made per process there.
    expect(text).toMatch(/EVENTFOLD_MASTER_KEY: \$\{EVENTFOLD_MASTER_KEY:\?[^}]+\}/);
    expect(text).toMatch(/EVENTFOLD_LEDGER_SIGNING_KEY: \$\{EVENTFOLD_LEDGER_SIGNING_KEY:\?[^}]+\}/);
    expect(service("projector").ports).toEqual(["127.0.0.1:3001:3001"]);
    expect(service("rabbitmq").ports).toEqual(["127.0.0.1:15672:15672"]);
    expect(service("mongo").ports).toEqual(["127.0.0.1:27017:27017"]);
    expect(service("grafana").ports).toEqual(["127.0.0.1:3002:3000"]);
  });

  test("the edges scale behind a load balancer that hashes on the aggregate id", async () => {
    // No fixed host port on the edge (it would stop --scale edge=3); the balancer holds the API port.
    expect(service("edge").ports).toBeUndefined();
    expect(service("edge").expose).toEqual(["3000"]);
    expect(service("lb").ports).toEqual(["0.0.0.0:3000:80"]);
    expect(service("lb").volumes).toContain("./ops/nginx.conf:/etc/nginx/nginx.conf:ro");
    const conf = await Bun.file(`${root}ops/nginx.conf`).text();
    expect(conf).toMatch(/hash \$aggregate consistent;/);
    expect(conf).toMatch(/server edge:3000 resolve;/);
    // The map takes the id the edge's actors are keyed by, from the paths that carry one.
    const map = /map \$uri \$aggregate \{([^}]+)\}/.exec(conf)?.[1] ?? "";
    const routes = map
      .split("\n")
      .map((line) => line.trim().split(/\s+/)[0])
      .filter((pattern): pattern is string => pattern?.startsWith("~") === true)
      .map((pattern) => new RegExp(pattern.slice(1)));
    const hashed = (path: string) => routes.find((r) => r.test(path))?.exec(path)?.groups?.id;
    expect(hashed("/v1/accounts/alice/deposits")).toBe("alice");
    expect(hashed("/v1/accounts/alice")).toBe("alice");
    expect(hashed("/v1/transfers/t-1")).toBe("t-1");
    expect(hashed("/v1/transfers")).toBeUndefined();
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

/** The Dockerfile's stages: name and instructions (continuation lines joined). */
const stages = (text: string): Map<string, string[]> => {
  const found = new Map<string, string[]>();
  let current: string[] = [];
  for (const line of text.replace(/\\\n\s*/g, " ").split("\n")) {
    const instruction = line.trim();
    if (instruction === "" || instruction.startsWith("#")) continue;
    const from = /^FROM \S+ AS (\S+)$/i.exec(instruction);
    if (from?.[1]) {
      current = [];
      found.set(from[1], current);
    } else current.push(instruction);
  }
  return found;
};

describe("Dockerfile", async () => {
  const text = await Bun.file(`${root}Dockerfile`).text();
  const byName = stages(text);
  const stage = (name: string) => byName.get(name) ?? [];
  const lastStage = [...byName.keys()].at(-1);

  test("builds slim by default, without chDB's native library, and compose runs that one", () => {
    expect(lastStage).toBe("slim");
    expect(stage("slim-deps")).toContain("RUN rm -rf node_modules/@chdb");
    expect(stage("slim")).toContain("COPY --from=slim-deps /app/node_modules ./node_modules");
    expect(stage("embedded")).toContain("COPY --from=deps /app/node_modules ./node_modules");
    for (const name of ["edge", "projector"]) {
      expect([name, service(name).build]).toEqual([name, { context: ".", target: "slim" }]);
      // The slim image has no chDB: analytics go to the compose ClickHouse.
      expect(service(name).environment?.CLICKHOUSE_URL).toStartWith("http://");
    }
  });

  test("runs as an unprivileged user, with the locked dependencies, and reports its health", () => {
    for (const name of ["slim", "embedded"]) {
      expect([name, stage(name).at(-1)]).toEqual([name, "USER bun"]);
    }
    expect(stage("deps")).toContain("RUN bun install --frozen-lockfile --production --ignore-scripts");
    expect(stage("runtime")).toContainEqual(
      expect.stringMatching(/^HEALTHCHECK .* CMD \["bun", "app\/healthcheck.ts"\]$/),
    );
    expect(stage("runtime")).toContain("RUN mkdir /data && chown bun:bun /data");
  });

  test("the health check is healthy while /readyz answers 2xx, and only then", async () => {
    let status = 200;
    const server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (request) =>
        new Response(null, { status: new URL(request.url).pathname === "/readyz" ? status : 404 }),
    });
    const check = () =>
      Bun.spawn([process.execPath, "app/healthcheck.ts"], {
        cwd: root,
        env: { ...process.env, PORT: String(server.port) },
      }).exited;
    try {
      expect(await check()).toBe(0);
      status = 503;
      expect(await check()).toBe(1);
    } finally {
      server.stop(true);
    }
    // Nothing listening: unhealthy, not a hang.
    expect(await check()).toBe(1);
  });
});
