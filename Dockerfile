# syntax=docker/dockerfile:1
# Two images from one file:
#   slim (the last stage, so the default; what docker-compose.yml runs): analytics on a ClickHouse
#     server, CLICKHOUSE_URL required. Without chDB's 543 MB native library.
#   embedded (`docker build --target embedded .`): chDB in-process, runs with no server at all.
# Both run as the unprivileged `bun` user, keep their data in /data and report their readiness.

FROM oven/bun:1.4-debian AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# The lockfile links these packages (a development tool, and the workspaces: the client package other
# services install, and an example of such a service): their manifests keep the lockfile whole.
COPY tools/openapi-gen/package.json tools/openapi-gen/
COPY packages/client/package.json packages/client/
COPY examples/statements/package.json examples/statements/
# --ignore-scripts: no dependency's install script runs; the locked versions exactly.
RUN bun install --frozen-lockfile --production --ignore-scripts

FROM deps AS slim-deps
RUN rm -rf node_modules/@chdb

FROM oven/bun:1.4-debian AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    EVENTFOLD_DATA_DIR=/data
# No VOLUME: where /data must outlive the container, the deployment mounts one (compose does for
# the projector; an edge keeps nothing there).
RUN mkdir /data && chown bun:bun /data
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=6 CMD ["bun", "app/healthcheck.ts"]
CMD ["bun", "app/main.ts"]

FROM runtime AS embedded
COPY --from=deps /app/node_modules ./node_modules
COPY . .
USER bun

FROM runtime AS slim
COPY --from=slim-deps /app/node_modules ./node_modules
COPY . .
USER bun
