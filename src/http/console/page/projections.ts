import { getJson, postJson, segment } from "./api.ts";
import { act, button, byId, element, formatCount, formatInstant, formatTime, setText } from "./dom.ts";
import type {
  ProjectionList,
  ProjectionState,
  ProjectionStatus,
  RebuildProgress,
  RebuildStarted,
} from "./types.ts";

interface Row {
  readonly row: HTMLTableRowElement;
  readonly state: HTMLSpanElement;
  readonly position: HTMLTableCellElement;
  readonly lag: HTMLTableCellElement;
  readonly queued: HTMLTableCellElement;
  readonly deadLettered: HTMLAnchorElement;
  readonly generation: HTMLTableCellElement;
  readonly rebuild: HTMLTableCellElement;
  readonly pause: HTMLButtonElement;
  readonly rebuildButton: HTMLButtonElement;
  /** What the row shows, for its buttons to act on. */
  status: ProjectionStatus;
}

/** Its last rebuild, in words; a progress bar beside while it runs. */
const rebuildCell = (rebuild: RebuildProgress | undefined): Node[] => {
  if (!rebuild) return [document.createTextNode("–")];
  const counted = `${formatCount(rebuild.done)}/${formatCount(rebuild.total)}`;
  const lost = rebuild.reason === "lost" ? " (the store lost its data)" : "";
  if (rebuild.error) return [document.createTextNode(`${counted} failed: ${rebuild.error}`)];
  if (rebuild.finishedAt)
    return [document.createTextNode(`${counted} done ${formatInstant(rebuild.finishedAt)}${lost}`)];
  const bar = element("progress", {
    max: String(Math.max(1, rebuild.total)),
    value: String(Math.min(rebuild.done, rebuild.total)),
    "aria-label": "rebuild progress",
  });
  const pace = [
    rebuild.rate === undefined ? "" : ` ${formatCount(rebuild.rate)} events/s`,
    rebuild.expectedEnd ? ` until about ${formatTime(rebuild.expectedEnd)}` : "",
  ].join("");
  return [bar, document.createTextNode(`${counted}${pace}${lost}`)];
};

/**
 * The projections as `GET /v1/admin/projections` says, a row each, kept in place between polls (so a
 * button is never replaced under the operator's pointer), with pause or resume and rebuild.
 */
export class ProjectionsView {
  private readonly rows = new Map<string, Row>();
  private readonly body = byId("projection-table").querySelector("tbody") as HTMLTableSectionElement;
  /** The last list read, for the dead letters' projection picker. */
  latest: readonly ProjectionStatus[] = [];

  constructor(private readonly openDeadLetters: (projection: string) => void) {}

  async refresh(): Promise<readonly ProjectionStatus[]> {
    const { projections } = await getJson<ProjectionList>("/v1/admin/projections");
    this.latest = projections;
    const seen = new Set<string>();
    for (const status of projections) {
      seen.add(status.name);
      const row = this.rows.get(status.name) ?? this.addRow(status);
      this.update(row, status);
    }
    for (const [name, row] of this.rows)
      if (!seen.has(name)) {
        row.row.remove();
        this.rows.delete(name);
      }
    setText(byId("projections-updated"), `updated ${formatTime(Date.now())}`);
    return projections;
  }

  private addRow(status: ProjectionStatus): Row {
    const cell = (className = "") => element("td", className ? { class: className } : {});
    const state = element("span", { class: "state" });
    const deadLettered = element("a", { href: "#dead-letters" });
    deadLettered.addEventListener("click", (event) => {
      event.preventDefault();
      this.openDeadLetters(status.name);
    });
    const row: Row = {
      row: element("tr", { "data-projection": status.name }),
      state,
      position: cell("num"),
      lag: cell("num"),
      queued: cell("num"),
      deadLettered,
      generation: cell("num"),
      rebuild: cell(),
      pause: button("Pause", (pressed) => void this.pauseOrResume(row, pressed)),
      rebuildButton: button("Rebuild", (pressed) => void this.rebuild(row, pressed), "danger"),
      status,
    };
    row.row.append(
      element("th", { scope: "row" }, status.name),
      element("td", {}, state),
      row.position,
      row.lag,
      row.queued,
      element("td", { class: "num" }, deadLettered),
      row.generation,
      row.rebuild,
      element("td", { class: "actions" }, row.pause, row.rebuildButton),
    );
    this.body.append(row.row);
    this.rows.set(status.name, row);
    return row;
  }

  private update(row: Row, status: ProjectionStatus): void {
    row.status = status;
    setText(row.state, status.state);
    row.state.className = `state state-${status.state}`;
    setText(row.position, formatCount(status.position));
    setText(row.lag, formatCount(status.lag));
    setText(row.queued, formatCount(status.queued));
    setText(row.deadLettered, formatCount(status.deadLettered));
    setText(row.generation, status.generation === undefined ? "–" : String(status.generation));
    const rebuild = rebuildCell(status.rebuild);
    // Rebuilt only when what it says changed: a progress bar made anew each second would flicker.
    const said = rebuild.map((n) =>
      n instanceof HTMLProgressElement ? `[${n.value}/${n.max}]` : n.textContent,
    );
    if (row.rebuild.dataset.said !== said.join("")) {
      row.rebuild.dataset.said = said.join("");
      row.rebuild.replaceChildren(...rebuild);
    }
    setText(row.pause, status.paused ? "Resume" : "Pause");
    const rebuilding =
      status.state === "rebuilding" || (status.rebuild !== undefined && !status.rebuild.finishedAt);
    row.rebuildButton.disabled = rebuilding;
  }

  private async pauseOrResume(row: Row, pressed: HTMLButtonElement): Promise<void> {
    const { name } = row.status;
    const verb = row.status.paused ? "resume" : "pause";
    await act(pressed, async () => {
      const answer = await postJson<ProjectionState>(`/v1/admin/projections/${segment(name)}/${verb}`);
      return `${answer.projection}: ${answer.state}`;
    });
    await this.refresh().catch(() => {});
  }

  private async rebuild(row: Row, pressed: HTMLButtonElement): Promise<void> {
    const { name } = row.status;
    const sure = confirm(
      `Rebuild ${name} from the event store? The generation serving now serves, whole, until the new one has caught up.`,
    );
    if (!sure) return;
    await act(pressed, async () => {
      const answer = await postJson<RebuildStarted>(`/v1/admin/projections/${segment(name)}/rebuild`);
      // Its total is known once it has read the store's head: the table shows it from then on.
      return `${answer.projection}: rebuild started`;
    });
    await this.refresh().catch(() => {});
  }
}
