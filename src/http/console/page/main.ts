import { type ChartPoint, chartPoint, parsePrometheus, type Scrape } from "../prometheus.ts";
import { ApiError, forgetToken, getJson, getText, keepToken, storedToken, whenUnauthorized } from "./api.ts";
import { LineChart } from "./chart.ts";
import { DeadLettersView } from "./dead-letters.ts";
import { byId, formatFigure, formatTime, say, setText } from "./dom.ts";
import { ProjectionsView } from "./projections.ts";
import { isStreamKind, StreamsView } from "./streams.ts";
import type { ProjectionList } from "./types.ts";

/**
 * The operations console, in the browser: signs in with an admin token, then polls what the view on
 * screen shows (every second) and `GET /metrics` for the live charts. Everything shown is read from
 * the service as it is shown: the page keeps only the charts' last two minutes.
 */

const POLL_MS = 1_000;
/** Two minutes of one-second points. */
const CHART_POINTS = 120;

type View = "projections" | "dead-letters" | "streams";
const views: readonly View[] = ["projections", "dead-letters", "streams"];

const projections = new ProjectionsView((name) => {
  location.hash = `#dead-letters/${encodeURIComponent(name)}`;
});
const deadLetters = new DeadLettersView();
const streams = new StreamsView((kind, id) => {
  const hash = `#streams/${kind}/${encodeURIComponent(id)}`;
  if (location.hash !== hash) history.replaceState(null, "", hash);
});

const charts = {
  rate: new LineChart(byId("chart-rate"), (v) => `${formatFigure(v)}/s`, CHART_POINTS, "2 min ago"),
  latency: new LineChart(byId("chart-latency"), (v) => `${formatFigure(v)} ms`, CHART_POINTS, "2 min ago"),
  lag: new LineChart(byId("chart-lag"), (v) => `${formatFigure(v)} s`, CHART_POINTS, "2 min ago"),
};
const points: ChartPoint[] = [];
let lastScrape: Scrape | undefined;

const drawCharts = () => {
  charts.rate.render([{ label: "commands", values: points.map((p) => p.commandRate) }]);
  charts.latency.render([
    { label: "p50", values: points.map((p) => p.p50Ms) },
    { label: "p99", values: points.map((p) => p.p99Ms) },
  ]);
  const names = [...new Set(points.flatMap((p) => Object.keys(p.lagP99S)))].sort();
  charts.lag.render(names.map((name) => ({ label: name, values: points.map((p) => p.lagP99S[name]) })));
};

/** One scrape of `GET /metrics`: a point of each chart from the scrape before. */
const scrape = async () => {
  const now: Scrape = { at: Date.now(), samples: parsePrometheus(await getText("/metrics")) };
  if (lastScrape) {
    points.push(chartPoint(lastScrape, now));
    if (points.length > CHART_POINTS) points.splice(0, points.length - CHART_POINTS);
  }
  lastScrape = now;
  drawCharts();
};

let view: View = "projections";

/** A part of the address as typed: one that is not valid percent-encoding is taken as it is. */
const decoded = (part: string) => {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
};

/** `#projections`, `#dead-letters[/<projection>]`, `#streams[/<kind>/<id>]`. */
const route = () => {
  const [name = "", ...rest] = location.hash.replace(/^#/, "").split("/").map(decoded);
  const before = view;
  view = views.find((v) => v === name) ?? "projections";
  // What the last action did was said of the view it was taken in.
  if (view !== before && !failing) say("");
  for (const v of views) byId(v).hidden = v !== view;
  for (const link of document.querySelectorAll<HTMLAnchorElement>("[data-nav]")) {
    if (link.dataset.nav === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (view === "dead-letters") deadLetters.offer(projections.latest, rest[0]);
  const [kind, id] = rest;
  if (view === "streams" && kind && id && isStreamKind(kind)) void streams.open(kind, id);
  if (view === "streams" && !id) byId("stream-id").focus();
  void poll();
};

/** What the view on screen shows, read again. */
const refreshView = async () => {
  if (view === "projections") await projections.refresh();
  if (view === "dead-letters") {
    deadLetters.offer(await projections.refresh());
    await deadLetters.refresh();
  }
};

let signedIn = false;
let polling: ReturnType<typeof setTimeout> | undefined;
let failing = false;
/** Which poll is the current one: one started anew (the view changed) ends the one before. */
let round = 0;

/** Reads the view and the metrics, then again a second after it began (never two at once). */
const poll = async () => {
  clearTimeout(polling);
  if (!signedIn) return;
  const mine = ++round;
  const began = Date.now();
  const results = await Promise.allSettled([refreshView(), scrape()]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    failing = true;
    const why = failed.reason instanceof Error ? failed.reason.message : String(failed.reason);
    say(`${why} (${formatTime(Date.now())}); trying again every second`, "bad");
  } else if (failing) {
    failing = false;
    say("the service answers again", "good");
  }
  if (signedIn && mine === round)
    polling = setTimeout(() => void poll(), Math.max(0, POLL_MS - (Date.now() - began)));
};

const showSignIn = (message = "") => {
  signedIn = false;
  clearTimeout(polling);
  for (const v of views) byId(v).hidden = true;
  byId("nav").hidden = true;
  byId("sign-out").hidden = true;
  setText(byId("who"), "");
  byId("sign-in").hidden = false;
  setText(byId("sign-in-error"), message);
  byId("token").focus();
};

const enter = () => {
  signedIn = true;
  failing = false;
  byId("sign-in").hidden = true;
  byId("nav").hidden = false;
  const token = storedToken();
  byId("sign-out").hidden = token === undefined;
  setText(byId("who"), token ? "signed in with an admin token" : "auth is off: every route is open");
  say("");
  route();
};

/**
 * Whether the admin API takes the token kept (or none, where auth is off): the sign-in form if not,
 * saying why.
 */
const tryToken = async (): Promise<void> => {
  try {
    await getJson<ProjectionList>("/v1/admin/projections");
    enter();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    const hadToken = storedToken() !== undefined;
    if (error.status === 401) {
      forgetToken();
      showSignIn(hadToken ? "That token is not one of the service's keys (401)." : "");
    } else if (error.status === 403) {
      forgetToken();
      showSignIn("That token's role is not admin (403): the console needs an admin key.");
    } else {
      showSignIn(`The service did not let the console in: ${error.message}`);
    }
  }
};

whenUnauthorized(() => {
  if (!signedIn) return;
  forgetToken();
  showSignIn("The token was refused (401): sign in again.");
});

byId("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = byId<HTMLInputElement>("token");
  keepToken(input.value.trim());
  input.value = "";
  void tryToken();
});
byId("sign-out").addEventListener("click", () => {
  forgetToken();
  showSignIn();
  say("signed out", "good");
});
addEventListener("hashchange", () => {
  if (signedIn) route();
});

void tryToken();
