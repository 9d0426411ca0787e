/**
 * Scenario 5, during the 50% deposits run: a probe deposits on an account of its own every 100 ms and
 * times its 2xx to `GET /v1/accounts/:id?minVersion=v` answering (Redis or the map); ClickHouse's lag
 * is the projector's append-to-applied histogram over the same run.
 */
import { progressBar } from "../../src/cli/progress.ts";
import {
  buckets,
  bucketsBetween,
  parsePrometheus,
  quantile,
} from "../../src/observability/prometheus-text.ts";
import { percentile, probeRedisLag } from "../lib/lag.ts";
import type { Beside, LoadTarget } from "../lib/load.ts";
import type { LagResult } from "../lib/results.ts";
import { metricsOf } from "../lib/sampler.ts";
import { seedAccounts } from "../lib/seed.ts";
import type { Mode, RunningServer } from "../lib/servers.ts";

const probePrefix = "probe-";
const probeAccount = `${probePrefix}0`;

/** The probe's account, one of its own outside the load scenarios' range. */
export const seedProbeAccount = (server: RunningServer, mode: Mode): Promise<void> =>
  seedAccounts(server.url, probePrefix, 1, { open: progressBar(`${mode}: probe account`) });

export const measureProjectionLag = ({ mode, server }: LoadTarget): Beside<LagResult> => {
  const probe = probeRedisLag(server.url, probeAccount);
  let before = "";
  const scraping = metricsOf(server.url).then((text) => {
    before = text;
  });
  return {
    stop: async () => {
      await scraping;
      const lags = await probe.stop();
      const after = await metricsOf(server.url);
      const applied = Object.fromEntries(
        ["accounts", "analytics"].map((projection) => {
          const name = "eventfold_projection_lag_seconds";
          const of = (labels: Readonly<Record<string, string>>) => labels.projection === projection;
          const applied = bucketsBetween(
            buckets(parsePrometheus(before), name, of),
            buckets(parsePrometheus(after), name, of),
          );
          const at = (q: number) => (applied && quantile(q, applied)) ?? null;
          return [projection, { p50: at(0.5), p99: at(0.99) }];
        }),
      );
      return {
        mode,
        redisProbeMs: { p50: percentile(lags, 50), p99: percentile(lags, 99), samples: lags.length },
        appliedSeconds: applied,
      };
    },
  };
};
