import { element, formatFigure } from "./dom.ts";

/**
 * A live line chart in plain SVG: the newest point at the right edge, a gap where nothing was
 * observed. Colors come from the style sheet (`series-N` classes): nothing inline, as the page's
 * Content-Security-Policy wants.
 */

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 480;
const HEIGHT = 150;
const LEFT = 40;
const RIGHT = 6;
const TOP = 8;
const BOTTOM = 18;

export interface Series {
  readonly label: string;
  /** Oldest first; undefined where nothing was observed. */
  readonly values: readonly (number | undefined)[];
}

const svg = <K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Readonly<Record<string, string | number>>,
): SVGElementTagNameMap[K] => {
  const made = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) made.setAttribute(name, String(value));
  return made;
};

/** The round number at or above `n` (1, 2 or 5 times a power of ten), so the axis reads easily. */
const roundUp = (n: number): number => {
  if (!(n > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(n));
  const step = [1, 2, 5, 10].find((s) => s * power >= n) ?? 10;
  return step * power;
};

export class LineChart {
  private readonly plot: SVGSVGElement;
  private readonly legend: HTMLElement;

  constructor(
    figure: HTMLElement,
    /** How a value reads in the legend: `12.3/s`, `4.5 ms`. */
    private readonly format: (value: number) => string,
    /** Points across the chart. */
    private readonly capacity: number,
    /** What its time axis spans, said under it. */
    private readonly span: string,
  ) {
    this.plot = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img" });
    this.legend = element("div", { class: "legend" });
    figure.append(this.plot, this.legend);
  }

  render(series: readonly Series[]): void {
    const all = series.flatMap((s) => s.values.filter((v): v is number => v !== undefined));
    const top = roundUp(Math.max(0, ...all));
    const x = (i: number) => LEFT + ((WIDTH - LEFT - RIGHT) * i) / Math.max(1, this.capacity - 1);
    const y = (v: number) => TOP + (HEIGHT - TOP - BOTTOM) * (1 - v / top);
    const parts: SVGElement[] = [];
    for (const fraction of [0, 0.5, 1]) {
      const at = y(top * fraction);
      parts.push(svg("line", { class: "axis", x1: LEFT, x2: WIDTH - RIGHT, y1: at, y2: at }));
      const tick = svg("text", { class: "tick", x: LEFT - 4, y: at + 3, "text-anchor": "end" });
      tick.textContent = formatFigure(top * fraction);
      parts.push(tick);
    }
    const start = svg("text", { class: "tick", x: LEFT, y: HEIGHT - 4 });
    start.textContent = this.span;
    const end = svg("text", { class: "tick", x: WIDTH - RIGHT, y: HEIGHT - 4, "text-anchor": "end" });
    end.textContent = "now";
    parts.push(start, end);
    for (const [index, { values }] of series.entries()) {
      const offset = this.capacity - values.length;
      let path = "";
      let drawing = false;
      for (const [i, value] of values.entries()) {
        if (value === undefined) {
          drawing = false;
          continue;
        }
        const point = `${x(offset + i).toFixed(1)} ${y(value).toFixed(1)}`;
        // A point alone still shows: a zero-length segment, drawn with round caps.
        const next = values[i + 1];
        path += drawing ? ` L${point}` : ` M${point}${next === undefined ? " l0.01 0" : ""}`;
        drawing = true;
      }
      if (path)
        parts.push(
          svg("path", { class: `line series-${index % 4}`, d: path.trim(), "stroke-linecap": "round" }),
        );
    }
    this.plot.replaceChildren(...parts);

    const latest = series.map(({ label, values }) => {
      const value = values.at(-1);
      return `${label} ${value === undefined ? "–" : this.format(value)}`;
    });
    this.plot.setAttribute("aria-label", latest.join(", "));
    this.legend.replaceChildren(
      ...series.map((s, index) =>
        element(
          "span",
          { "data-series": s.label },
          element("span", { class: `swatch series-${index % 4}` }),
          latest[index] ?? "",
        ),
      ),
    );
  }
}
