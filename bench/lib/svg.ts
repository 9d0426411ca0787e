/**
 * Two small chart kinds as standalone SVG, so the report shows figures without a plotting stack.
 * Self-contained text: readable in any browser and in GitHub's Markdown preview.
 */
const W = 760;
const H = 400;
const M = { top: 40, right: 180, bottom: 110, left: 70 };
const palette = ["#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb", "#000000"];

const xmlEscape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

const niceMax = (max: number) => {
  if (max <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(max));
  const step = [1, 2, 2.5, 5, 10].find((s) => s * magnitude >= max / 1) ?? 10;
  return step * magnitude;
};

const frame = (
  title: string,
  yLabel: string,
  yMax: number,
  body: string,
  legend: string[],
  xLabel: string,
) => {
  const plotH = H - M.top - M.bottom;
  const ticks = Array.from({ length: 6 }, (_, i) => (yMax * i) / 5);
  const grid = ticks
    .map((t) => {
      const y = M.top + plotH - (t / yMax) * plotH;
      const label = t >= 1000 ? `${+(t / 1000).toFixed(1)}k` : `${+t.toFixed(2)}`;
      return `<line x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}" stroke="#e5e5e5"/><text x="${M.left - 8}" y="${y + 4}" text-anchor="end">${label}</text>`;
    })
    .join("");
  const keys = legend
    .map(
      (name, i) =>
        `<rect x="${W - M.right + 16}" y="${M.top + i * 20}" width="12" height="12" fill="${palette[i % palette.length]}"/><text x="${W - M.right + 34}" y="${M.top + i * 20 + 10}">${xmlEscape(name)}</text>`,
    )
    .join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">
<title>${xmlEscape(title)}</title>
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2 - M.right / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${xmlEscape(title)}</text>
${grid}
<text transform="translate(16 ${M.top + plotH / 2}) rotate(-90)" text-anchor="middle">${xmlEscape(yLabel)}</text>
<text x="${M.left + (W - M.left - M.right) / 2}" y="${H - 12}" text-anchor="middle">${xmlEscape(xLabel)}</text>
${body}
${keys}
</svg>
`;
};

export interface Series {
  readonly name: string;
  readonly values: readonly number[];
}

/** What a line chart may add: how to label a point's index on the x axis, and events marked at indexes. */
export interface LineChartOptions {
  readonly xOf?: (index: number) => string;
  /** A dashed vertical line at each index, labelled (e.g. a fault injected there). */
  readonly marks?: readonly { readonly at: number; readonly label: string }[];
}

/** One line per series over an index axis (e.g. seconds). */
export const lineChart = (
  title: string,
  yLabel: string,
  xLabel: string,
  series: readonly Series[],
  options: LineChartOptions = {},
): string => {
  const yMax = niceMax(Math.max(1, ...series.flatMap((s) => s.values)));
  const n = Math.max(2, ...series.map((s) => s.values.length));
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const x = (i: number) => M.left + (i / (n - 1)) * plotW;
  const y = (v: number) => M.top + plotH - (v / yMax) * plotH;
  const lines = series
    .map((s, i) => {
      const points = s.values.map((v, j) => `${x(j).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
      return `<polyline fill="none" stroke="${palette[i % palette.length]}" stroke-width="2" points="${points}"/>`;
    })
    .join("");
  const xOf = options.xOf ?? String;
  const xTicks = [0, Math.floor((n - 1) / 4), Math.floor((n - 1) / 2), Math.floor((3 * (n - 1)) / 4), n - 1]
    .map((i) => `<text x="${x(i)}" y="${H - M.bottom + 16}" text-anchor="middle">${xmlEscape(xOf(i))}</text>`)
    .join("");
  const marks = (options.marks ?? [])
    .map(
      (mark, i) =>
        `<line x1="${x(mark.at).toFixed(1)}" x2="${x(mark.at).toFixed(1)}" y1="${M.top}" y2="${H - M.bottom}" stroke="#888" stroke-dasharray="4 3"><title>${xmlEscape(mark.label)}</title></line>` +
        `<text x="${(x(mark.at) + 3).toFixed(1)}" y="${M.top + 12 + (i % 3) * 12}" font-size="10" fill="#555">${xmlEscape(mark.label)}</text>`,
    )
    .join("");
  return frame(
    title,
    yLabel,
    yMax,
    lines + marks + xTicks,
    series.map((s) => s.name),
    xLabel,
  );
};

/** Grouped bars: one group per category, one bar per series. */
export const barChart = (
  title: string,
  yLabel: string,
  categories: readonly string[],
  series: readonly Series[],
): string => {
  const yMax = niceMax(Math.max(1, ...series.flatMap((s) => s.values)));
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const group = plotW / Math.max(1, categories.length);
  const bar = (group * 0.8) / Math.max(1, series.length);
  const bars = categories
    .map((category, c) => {
      const x0 = M.left + c * group + group * 0.1;
      const rects = series
        .map((s, i) => {
          const v = s.values[c] ?? 0;
          const h = (v / yMax) * plotH;
          return `<rect x="${(x0 + i * bar).toFixed(1)}" y="${(M.top + plotH - h).toFixed(1)}" width="${(bar - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${palette[i % palette.length]}"><title>${xmlEscape(`${category} ${s.name}: ${v}`)}</title></rect>`;
        })
        .join("");
      const lx = x0 + group * 0.4;
      const ly = H - M.bottom + 14;
      return `${rects}<text x="${lx}" y="${ly}" text-anchor="end" transform="rotate(-35 ${lx} ${ly})">${xmlEscape(category)}</text>`;
    })
    .join("");
  return frame(
    title,
    yLabel,
    yMax,
    bars,
    series.map((s) => s.name),
    "",
  );
};
