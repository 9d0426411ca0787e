/**
 * The little the views need of the DOM. Text goes in as text (`textContent`), never as markup: what
 * the API answers (an event's data, an error message) cannot become part of the page.
 */

export const byId = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from the page`);
  return found as T;
};

type Child = Node | string;

export const element = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Readonly<Record<string, string>> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] => {
  const made = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) made.setAttribute(name, value);
  made.append(...children);
  return made;
};

export const button = (label: string, onClick: (pressed: HTMLButtonElement) => void, className = "") => {
  const made = element("button", { type: "button", ...(className ? { class: className } : {}) }, label);
  made.addEventListener("click", (event) => {
    // A button in a clickable row does its own thing only.
    event.stopPropagation();
    onClick(made);
  });
  return made;
};

/** Replaces what `target` holds, when it differs (a poll that changes nothing moves nothing). */
export const setText = (target: Element, text: string): void => {
  if (target.textContent !== text) target.textContent = text;
};

const numbers = new Intl.NumberFormat("en");
export const formatCount = (n: number): string => numbers.format(n);

const two = (n: number) => String(n).padStart(2, "0");

/** A time of the operator's day (their time zone), to the second: `17:35:42`. */
export const formatTime = (at: string | number): string => {
  const time = new Date(at);
  return `${two(time.getHours())}:${two(time.getMinutes())}:${two(time.getSeconds())}`;
};

/** An instant in the operator's time zone, in the order no locale misreads: `2026-12-07 17:35:42`. */
export const formatInstant = (at: string): string => {
  const time = new Date(at);
  return `${time.getFullYear()}-${two(time.getMonth() + 1)}-${two(time.getDate())} ${formatTime(at)}`;
};

/** Three significant digits at most: 0.0123, 1.23, 12.3, 123, 1234. */
export const formatFigure = (n: number): string => {
  if (n === 0) return "0";
  if (Math.abs(n) >= 100) return numbers.format(Math.round(n));
  return Number(n.toPrecision(3)).toString();
};

export type Tone = "good" | "bad" | "";

/** One line under the header saying what the last action did, or what went wrong. */
export const say = (message: string, tone: Tone = ""): void => {
  const status = byId("status");
  status.className = tone;
  status.textContent = message;
};

/**
 * Runs an operator's action from `pressed`: the button stays disabled until the service answers, and
 * the status line says how it went.
 */
export const act = async (pressed: HTMLButtonElement, action: () => Promise<string>): Promise<void> => {
  pressed.disabled = true;
  try {
    say(await action(), "good");
  } catch (error) {
    say(error instanceof Error ? error.message : String(error), "bad");
  } finally {
    pressed.disabled = false;
  }
};
