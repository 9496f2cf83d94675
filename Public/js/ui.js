// Small DOM helpers: elements built from data with textContent, never from HTML strings.
import { download } from "./api.js";

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function mount(...children) {
  const page = document.getElementById("page");
  // A role without a control passes null for it, which replaceChildren would print as "null".
  page.replaceChildren(...children.filter(child => child !== null && child !== undefined && child !== false));
  return page;
}

let navigation = 0;

/// The router calls this before it renders a page.
export function beginNavigation() { navigation += 1; }

/// Thrown by a page's `mount` once the user has gone to another page; the router ignores it.
export class Superseded extends Error {}

/// What a page draws with, bound to the navigation that opened it: a page still loading when the user moves on
/// stops at its next `mount` instead of drawing over the next page (and adding its live listeners to it).
export function openedPage() {
  const opened = navigation;
  return {
    mount(...children) {
      if (opened !== navigation) throw new Superseded("The page was left before it finished loading.");
      return mount(...children);
    },
  };
}

export const loading = (what = "Loading…") => h("div", { class: "loading" }, what);

/// Live counters change with every call; a screen reader hears `describe()` at most every 15 seconds (aria-live
/// polite). Call `announce()` after each update.
export function politeSummary(describe, test = "live-summary") {
  const element = h("p", { class: "visually-hidden", "aria-live": "polite", dataset: { test } });
  let last = 0;
  return { element, announce: () => {
    if (Date.now() - last < 15000) return;
    last = Date.now();
    element.textContent = describe();
  } };
}
export const empty = (text, ...extra) => h("div", { class: "empty card" }, h("p", {}, text), ...extra);

export function showBanner(message, kind = "error") {
  const banner = document.getElementById("banner");
  banner.className = kind === "info" ? "banner info" : "banner";
  document.getElementById("banner-text").textContent = message;
  banner.hidden = false;
}

export function hideBanner() { document.getElementById("banner").hidden = true; }

/// Runs an action; shows the API's error in the banner (or in `errorTarget`) instead of throwing.
export async function attempt(action, errorTarget) {
  try {
    if (errorTarget) errorTarget.textContent = "";
    return await action();
  } catch (error) {
    if (error.status === 401) return undefined;
    if (errorTarget) errorTarget.textContent = error.message;
    else showBanner(error.message);
    return undefined;
  }
}

export const percent = (value) => value === null || value === undefined ? "—" : `${(value * 100).toFixed(1)}%`;
export const number = (value, digits = 0) => value === null || value === undefined ? "—" : Number(value).toFixed(digits);
export const seconds = (value) => value === null || value === undefined ? "—" : `${Math.round(value)} s`;

export function today() { return new Date().toISOString().slice(0, 10); }
export function daysAgo(days) { return new Date(Date.now() - days * 86400000).toISOString().slice(0, 10); }

/// A service level against its target: green when met, amber within 10 points, red below; "—" with no calls.
export function serviceLevelBadge(figures, target, test = "service-level") {
  const level = figures?.service_level;
  if (level === null || level === undefined) return h("b", { dataset: { test } }, "—");
  const grade = level >= target ? "good" : level >= target - 10 ? "warn" : "bad";
  return h("b", { class: `sl-${grade}`, dataset: { test, grade }, title: `target ${target}%` }, `${level.toFixed(1)}%`);
}

export function statusPill(status) { return h("span", { class: `pill ${status}` }, status); }

export function loadBar(load, max) {
  const ratio = max > 0 ? Math.min(load / max, 1) : 1;
  const fill = h("i");
  fill.style.width = `${Math.round(ratio * 100)}%`;
  const bar = h("span", { class: `loadbar${ratio >= 1 ? " full" : ratio >= 0.7 ? " busy" : ""}`, title: `${load} of ${max}` }, fill);
  return h("span", { class: "load", dataset: { test: "load" } }, bar, `${load}/${max}`);
}

export function table(headers, rows, options = {}) {
  return h("div", { class: "table-wrap" },
    h("table", { dataset: options.test ? { test: options.test } : undefined },
      h("thead", {}, h("tr", {}, headers.map(header => {
        const label = header.label ?? header;
        // A column of buttons has no visible heading; a screen reader still hears what the column is.
        return h("th", { class: header.num ? "num" : null }, label === "" ? h("span", { class: "visually-hidden" }, "Actions") : label);
      }))),
      h("tbody", {}, rows)));
}

export function field(label, control, grow = false) {
  if (!control.id) control.id = `f-${Math.random().toString(36).slice(2, 9)}`;
  return h("div", { class: grow ? "field grow" : "field" }, h("label", { for: control.id }, label), control);
}

export function select(options, value, attributes = {}) {
  return h("select", attributes, options.map(([optionValue, text]) =>
    h("option", { value: optionValue, selected: optionValue === value }, text)));
}

/// A button that saves an export as a CSV file and says what it saved (or why it could not).
export function exportButton(label, path, filename, test) {
  const status = h("span", { class: "muted small", dataset: { test: `${test}-status` } });
  const button = h("button", { type: "button", dataset: { test } }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    status.textContent = "Exporting…";
    const bytes = await attempt(() => download(path(), filename), status);
    if (bytes !== undefined) status.textContent = `Saved ${filename} (${bytes < 1024 ? `${bytes} bytes` : `${(bytes / 1024).toFixed(0)} KB`}).`;
    button.disabled = false;
  });
  return h("span", { class: "export" }, button, " ", status);
}
