import { ApiError, getJson, segment } from "./api.ts";
import { button, byId, element, formatCount, formatInstant, say, setText } from "./dom.ts";
import type { EventsPage, StateView } from "./types.ts";

/** The aggregates whose streams can be opened: their collection in the API, and what one is called. */
export const streamKinds = { accounts: "account", transfers: "transfer" } as const;
export type StreamKind = keyof typeof streamKinds;
export const isStreamKind = (kind: string): kind is StreamKind => kind in streamKinds;

const PAGE_SIZE = 20;

/**
 * One aggregate's stream, read from the event store through `GET /v1/<kind>/:id/events` a page at a
 * time, and its state right after any of its events through `GET /v1/<kind>/:id/state?atVersion=N`.
 */
export class StreamsView {
  private readonly kindPicker = byId<HTMLSelectElement>("stream-kind");
  private readonly idInput = byId<HTMLInputElement>("stream-id");
  private readonly body = byId("event-table").querySelector("tbody") as HTMLTableSectionElement;
  private kind: StreamKind = "accounts";
  private id = "";
  /** The `after` of each page shown so far: the last is the one on screen. */
  private afters: number[] = [0];
  private next: number | null = null;
  private version = 0;

  constructor(private readonly opened: (kind: StreamKind, id: string) => void) {
    byId("stream-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const kind = this.kindPicker.value;
      if (isStreamKind(kind)) void this.open(kind, this.idInput.value.trim(), { again: true });
    });
    byId("events-previous").addEventListener("click", () => {
      if (this.afters.length > 1) this.afters.pop();
      void this.loadPage();
    });
    byId("events-next").addEventListener("click", () => {
      if (this.next === null) return;
      this.afters.push(this.next);
      void this.loadPage();
    });
    byId("state-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const wanted = byId<HTMLInputElement>("state-version").value;
      void this.showState(wanted === "" ? undefined : Number(wanted));
    });
  }

  /**
   * Opens a stream at its first page, with its state now. A link to the stream on screen leaves it
   * as it is (the page it shows included); `again` reads it anew (the operator asked).
   */
  async open(kind: StreamKind, id: string, { again = false } = {}): Promise<void> {
    if (!id) return;
    this.kindPicker.value = kind;
    this.idInput.value = id;
    if (!again && kind === this.kind && id === this.id && !byId("stream").hidden) return;
    this.kind = kind;
    this.id = id;
    this.afters = [0];
    this.opened(kind, id);
    const now = await this.showState(undefined);
    if (!now) {
      byId("stream").hidden = true;
      return;
    }
    this.version = now.version;
    setText(byId("stream-title"), `${streamKinds[kind]} ${id} · ${formatCount(now.version)} events`);
    byId("stream").hidden = false;
    await this.loadPage();
  }

  private base(): string {
    return `/v1/${this.kind}/${segment(this.id)}`;
  }

  private async loadPage(): Promise<void> {
    const after = this.afters.at(-1) ?? 0;
    let page: EventsPage;
    try {
      page = await getJson<EventsPage>(`${this.base()}/events?after=${after}&limit=${PAGE_SIZE}`);
    } catch (error) {
      say(error instanceof Error ? error.message : String(error), "bad");
      return;
    }
    this.next = page.next;
    this.body.replaceChildren(
      ...page.events.map((event) => {
        const data = JSON.stringify(event.data);
        const row = element(
          "tr",
          { "data-version": String(event.version) },
          element("td", { class: "num" }, String(event.version)),
          element("th", { scope: "row" }, event.type),
          element("td", { class: "nowrap" }, formatInstant(event.time)),
          element("td", { class: "num" }, formatCount(event.position)),
          element(
            "td",
            { title: JSON.stringify(event, null, 2) },
            element("code", { class: "clip short" }, data),
          ),
          element(
            "td",
            { class: "actions" },
            button("State here", () => void this.showState(event.version)),
          ),
        );
        return row;
      }),
    );
    const first = page.events[0]?.version;
    const last = page.events.at(-1)?.version;
    setText(
      byId("events-range"),
      first === undefined ? "no events" : `events ${first}–${last} of ${formatCount(this.version)}`,
    );
    byId<HTMLButtonElement>("events-previous").disabled = this.afters.length <= 1;
    byId<HTMLButtonElement>("events-next").disabled = page.next === null;
    this.highlight();
  }

  /** Shows the state right after event `atVersion` (undefined: now); undefined when it cannot be read. */
  private async showState(atVersion: number | undefined): Promise<StateView | undefined> {
    const query = atVersion === undefined ? "" : `?atVersion=${atVersion}`;
    try {
      const state = await getJson<StateView>(`${this.base()}/state${query}`);
      setText(
        byId("state-caption"),
        atVersion === undefined
          ? `now: right after event ${state.version}, its last`
          : `right after event ${atVersion} of ${formatCount(Math.max(this.version, state.version))}`,
      );
      setText(byId("state"), JSON.stringify(state, null, 2));
      byId<HTMLInputElement>("state-version").value = atVersion === undefined ? "" : String(atVersion);
      byId("state").dataset.version = String(state.version);
      this.highlight();
      return state;
    } catch (error) {
      const missing = error instanceof ApiError && error.status === 404;
      say(
        missing && atVersion === undefined
          ? `no ${streamKinds[this.kind]} ${this.id} (${error.message})`
          : error instanceof Error
            ? error.message
            : String(error),
        "bad",
      );
      return undefined;
    }
  }

  /** Marks the event whose state is shown, when it is on the page. */
  private highlight(): void {
    const shown = byId("state").dataset.version;
    for (const row of this.body.querySelectorAll("tr"))
      row.classList.toggle("selected", row.dataset.version === shown);
  }
}
