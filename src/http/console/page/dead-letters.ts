import { getJson, postJson, segment } from "./api.ts";
import { act, button, byId, element, formatCount, formatInstant, formatTime, setText } from "./dom.ts";
import type { DeadLetter, DeadLetterList, Discarded, Replayed } from "./types.ts";

interface Row {
  readonly row: HTMLTableRowElement;
  readonly attempts: HTMLTableCellElement;
  readonly error: HTMLTableCellElement;
  readonly errorText: HTMLSpanElement;
  letter: DeadLetter;
}

/** How an event is named to an operator: its stream and version. */
const eventName = (letter: DeadLetter) => `${letter.event.streamId} v${letter.event.version}`;

/**
 * One projection's dead letters, as `GET /v1/admin/dead-letters?projection=` lists them: a row each,
 * its envelope, last error and attempts on opening it, and replay or discard, one event or all.
 */
export class DeadLettersView {
  private readonly picker = byId<HTMLSelectElement>("dead-letter-projection");
  private readonly body = byId("dead-letter-table").querySelector("tbody") as HTMLTableSectionElement;
  private readonly rows = new Map<string, Row>();
  /** The event whose envelope is open. */
  private opened: string | undefined;

  constructor() {
    this.picker.addEventListener("change", () => {
      this.clear();
      void this.refresh().catch(() => {});
    });
    byId<HTMLButtonElement>("replay-all").addEventListener("click", (event) => {
      void this.replayAll(event.currentTarget as HTMLButtonElement);
    });
  }

  get projection(): string | undefined {
    return this.picker.value || undefined;
  }

  /**
   * The projections to pick from, with how many dead letters each has; the one shown is kept, or, the
   * first time, the first that has any.
   */
  offer(projections: readonly { name: string; deadLettered: number }[], choose?: string): void {
    const wanted = choose ?? this.projection ?? projections.find((p) => p.deadLettered > 0)?.name;
    const options = projections.map((p) => {
      const option = element("option", { value: p.name }, `${p.name} (${formatCount(p.deadLettered)})`);
      option.selected = p.name === wanted;
      return option;
    });
    const said = options.map((o) => `${o.value}${o.textContent}${o.selected}`).join("|");
    if (this.picker.dataset.said === said) return;
    this.picker.dataset.said = said;
    const before = this.projection;
    this.picker.replaceChildren(...options);
    if (this.projection !== before) this.clear();
  }

  async refresh(): Promise<void> {
    const projection = this.projection;
    if (!projection) return;
    const { deadLetters } = await getJson<DeadLetterList>(
      `/v1/admin/dead-letters?projection=${segment(projection)}&limit=200`,
    );
    // The picker moved while the answer came: it is another projection's.
    if (projection !== this.projection) return;
    const letters = deadLetters[projection] ?? [];
    const seen = new Set<string>();
    for (const letter of letters) {
      seen.add(letter.event.eventId);
      const row = this.rows.get(letter.event.eventId) ?? this.addRow(letter);
      row.letter = letter;
      setText(row.attempts, String(letter.attempts));
      setText(row.errorText, letter.error);
      row.error.title = letter.error;
    }
    for (const [eventId, row] of this.rows)
      if (!seen.has(eventId)) {
        row.row.remove();
        this.rows.delete(eventId);
        if (this.opened === eventId) this.close();
      }
    byId("dead-letters-empty").hidden = letters.length > 0;
    byId("dead-letter-table").hidden = letters.length === 0;
    byId<HTMLButtonElement>("replay-all").disabled = letters.length === 0;
    const opened = this.opened && this.rows.get(this.opened);
    if (opened) this.show(opened);
    setText(byId("dead-letters-updated"), `updated ${formatTime(Date.now())}`);
  }

  private clear(): void {
    for (const row of this.rows.values()) row.row.remove();
    this.rows.clear();
    this.close();
  }

  private addRow(letter: DeadLetter): Row {
    const { event } = letter;
    const row: Row = {
      row: element("tr", { "data-event-id": event.eventId, class: "clickable" }),
      attempts: element("td", { class: "num" }),
      error: element("td", { class: "error-cell" }),
      errorText: element("span", { class: "clip" }),
      letter,
    };
    row.error.append(row.errorText);
    const at = letter.deadLetteredAt ? formatInstant(letter.deadLetteredAt) : "–";
    row.row.append(
      element("th", { scope: "row" }, eventName(letter)),
      element("td", {}, event.type),
      element("td", { class: "num" }, formatCount(event.position)),
      row.attempts,
      element("td", { class: "nowrap" }, at),
      row.error,
      element(
        "td",
        { class: "actions" },
        button("Open", () => this.show(row)),
        button("Replay", (pressed) => void this.replay(row, pressed)),
        button("Discard", (pressed) => void this.discard(row, pressed), "danger"),
      ),
    );
    row.row.addEventListener("click", () => this.show(row));
    this.body.append(row.row);
    this.rows.set(event.eventId, row);
    return row;
  }

  private show(row: Row): void {
    const { letter } = row;
    this.opened = letter.event.eventId;
    for (const other of this.rows.values()) other.row.classList.toggle("selected", other === row);
    setText(byId("dead-letter-title"), `${eventName(letter)} ${letter.event.type} · ${letter.event.eventId}`);
    setText(byId("dead-letter-error"), letter.error);
    setText(byId("dead-letter-attempts"), String(letter.attempts));
    setText(
      byId("dead-letter-at"),
      letter.deadLetteredAt ? formatInstant(letter.deadLetteredAt) : "the broker did not say",
    );
    setText(byId("dead-letter-envelope"), JSON.stringify(letter.event, null, 2));
    byId("dead-letter").hidden = false;
  }

  private close(): void {
    this.opened = undefined;
    byId("dead-letter").hidden = true;
  }

  private path(row: Row, action: "replay" | "discard"): string {
    return `/v1/admin/dead-letters/${segment(this.projection ?? "")}/${segment(row.letter.event.eventId)}/${action}`;
  }

  private async replay(row: Row, pressed: HTMLButtonElement): Promise<void> {
    await act(pressed, async () => {
      await postJson<Replayed>(this.path(row, "replay"));
      return `${eventName(row.letter)}: back on the queue of ${this.projection}`;
    });
    await this.refresh().catch(() => {});
  }

  private async discard(row: Row, pressed: HTMLButtonElement): Promise<void> {
    const name = eventName(row.letter);
    if (
      !confirm(
        `Discard ${name} (${row.letter.event.type})? ${this.projection} will not apply it from the dead letters.`,
      )
    )
      return;
    await act(pressed, async () => {
      await postJson<Discarded>(this.path(row, "discard"));
      return `${name}: discarded from ${this.projection}'s dead letters`;
    });
    await this.refresh().catch(() => {});
  }

  private async replayAll(pressed: HTMLButtonElement): Promise<void> {
    const projection = this.projection;
    if (!projection) return;
    await act(pressed, async () => {
      const { replayed } = await postJson<Replayed>(`/v1/admin/dead-letters/${segment(projection)}/replay`);
      return `${projection}: ${formatCount(replayed)} dead letter${replayed === 1 ? "" : "s"} back on its queues`;
    });
    await this.refresh().catch(() => {});
  }
}
