// Building the page from data without ever parsing data as HTML.
//
// Every text that came from the server (an order's reason, an alert's title, a pattern's
// source) goes in through textContent, so a reason like "<img onerror=...>" is shown, not run.

/** Return a new element: h("td", {class: "num"}, "1.5", childNode, ...). */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      for (const [key, data] of Object.entries(value)) if (data !== undefined && data !== null) element.dataset[key] = String(data);
    } else if (value === true) {
      element.setAttribute(name, "");
    } else {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace everything inside `element` with `children`. */
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/** Return an SVG element (the architecture diagram). */
export function svg(tag, attrs = {}, ...children) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

/** Return a table that scrolls inside its own box: columns [{label, num, wrap}], rows of <tr>. */
export function table(columns, rows, attrs = {}) {
  const head = h("tr", {}, columns.map((c) => h("th", { class: cellClass(c), scope: "col" }, c.label)));
  return h("div", { class: "table-wrap" }, h("table", attrs, h("thead", {}, head), h("tbody", {}, rows)));
}

function cellClass(column) {
  return [column.num ? "num" : "", column.wrap ? "wrap" : ""].join(" ").trim() || undefined;
}

/** Return a row of cells in the columns' order (`values` are strings or nodes). */
export function row(columns, values, attrs = {}) {
  return h("tr", attrs, columns.map((c, i) => h("td", { class: cellClass(c) }, values[i] ?? "")));
}

/** Return a badge: tone is good, warn, bad or info. */
export function badge(text, tone) {
  return h("span", { class: `badge ${tone || ""}`.trim() }, text);
}

/** Return the first of `keys` that `object` has (not null): the API's shapes may name a field two ways. */
export function pick(object, ...keys) {
  if (!object) return undefined;
  for (const key of keys) {
    if (object[key] !== undefined && object[key] !== null) return object[key];
  }
  return undefined;
}

/** Return the list an answer holds: the answer itself, or its first array field among `keys`. */
export function listOf(answer, ...keys) {
  if (Array.isArray(answer)) return answer;
  for (const key of [...keys, "items", "data", "results"]) {
    if (answer && Array.isArray(answer[key])) return answer[key];
  }
  return [];
}

// ---- formatting: money arrives as strings; they are shown as sent, only grouped and rounded

/** Return a number from a Decimal string (or a number); NaN for anything else. */
export function num(value) {
  if (value === undefined || value === null || value === "") return NaN;
  return typeof value === "number" ? value : Number(value);
}

/** Return an amount with thousands separators and `digits` decimals; an em dash when absent. */
export function money(value, digits = 2) {
  const n = num(value);
  if (Number.isNaN(n)) return "—";
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Return a quantity as sent (Decimal string), trimmed of trailing zeros. */
export function qty(value) {
  if (value === undefined || value === null) return "—";
  const text = String(value);
  return text.includes(".") ? text.replace(/0+$/, "").replace(/\.$/, "") || "0" : text;
}

/** Return a fraction (0.05) as a percentage ("5.00%"); values over 1.5 are taken as percents already. */
export function percent(value, digits = 2, alreadyPercent = false) {
  const n = num(value);
  if (Number.isNaN(n)) return "—";
  return `${(alreadyPercent ? n : n * 100).toFixed(digits)}%`;
}

/** Return a plain score (a Sharpe ratio) with its sign; an em dash when absent. */
export function score(value, digits = 2) {
  const n = num(value);
  return Number.isNaN(n) ? "—" : n.toFixed(digits);
}

/** Return a class that colours a signed amount. */
export function signClass(value) {
  const n = num(value);
  if (Number.isNaN(n) || n === 0) return "";
  return n > 0 ? "pos" : "neg";
}

/** Return nanoseconds since the epoch from an ns integer, an ISO string or seconds. */
export function toNs(value) {
  if (value === undefined || value === null) return NaN;
  if (typeof value === "string" && !/^-?\d+(\.\d+)?$/.test(value)) {
    const ms = Date.parse(value.endsWith("Z") || /[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`);
    return Number.isNaN(ms) ? NaN : ms * 1e6;
  }
  const n = Number(value);
  if (n > 1e17) return n; // nanoseconds
  if (n > 1e14) return n * 1e3; // microseconds
  if (n > 1e11) return n * 1e6; // milliseconds
  return n * 1e9; // seconds
}

/** Return a UTC time a person reads: "2024-03-01 14:00:05 UTC". */
export function when(value) {
  const ns = toNs(value);
  if (Number.isNaN(ns)) return value === undefined || value === null ? "—" : String(value);
  return `${new Date(ns / 1e6).toISOString().replace("T", " ").slice(0, 19)} UTC`;
}

/** Return an age in words: "4 s", "3 min", "2 h". */
export function age(seconds) {
  const s = num(seconds);
  if (Number.isNaN(s)) return "—";
  if (s < 120) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}
