// Small pieces more than one page draws: a limit meter, a figure card, a key-value list.

import { h, percent } from "./dom.js";
import { level } from "./figures.js";

/**
 * Return a bar of how close something is to its limit (closeness 0..1, shown capped at 100%).
 * A limit's bar turns amber, then red, as it nears the limit; `of` names what 100% is, and
 * a bar with `neutral` set (a share, not a danger) keeps one colour.
 */
export function meter(label, detail, closeness, attrs = {}, { of = "of the limit", neutral = false } = {}) {
  const shown = Number.isFinite(closeness) ? Math.min(Math.max(closeness, 0), 1) : 0;
  return h(
    "div",
    { class: "meter", "data-level": neutral ? "info" : level(closeness), "data-closeness": Number.isFinite(closeness) ? closeness.toFixed(4) : "", ...attrs },
    h("div", { class: "head" }, h("span", {}, label), h("span", { class: "muted" }, detail, Number.isFinite(closeness) ? ` · ${percent(closeness, 0)} ${of}` : "")),
    h(
      "div",
      { class: "bar", role: "meter", "aria-label": label, "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(Math.round(shown * 100)) },
      h("div", { class: "fill", style: `width:${(shown * 100).toFixed(1)}%` }),
    ),
  );
}

/** Return a figure card: label, value, and a line under it. */
export function card(label, value, sub = "", attrs = {}) {
  return h("div", { class: "card", ...attrs }, h("div", { class: "label" }, label), h("div", { class: "value" }, value), sub ? h("div", { class: "sub" }, sub) : null);
}

/** Return a definition list of [term, value] pairs (values may be nodes), skipping absent ones. */
export function kv(pairs) {
  return h(
    "dl",
    { class: "kv" },
    pairs.filter(([, v]) => v !== undefined && v !== null && v !== "").map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
  );
}
