// The layout every dashboard shares: header, navigation, token box, live state, toasts, footer.
//
// A page's HTML holds only <main>; `mount(name)` builds the rest around it, so every page has
// the same navigation and the same token box without a template engine or a build step.

import { setToken, token } from "./api.js";
import { h, fill, when } from "./dom.js";
import { live } from "./live.js";

export const PAGES = [
  { name: "portfolio", href: "index.html", label: "Portfolio" },
  { name: "trades", href: "trades.html", label: "Trades" },
  { name: "risk", href: "risk.html", label: "Risk" },
  { name: "patterns", href: "patterns.html", label: "Patterns" },
  { name: "agents", href: "agents.html", label: "Agents" },
  { name: "architecture", href: "architecture.html", label: "Architecture" },
  { name: "alerts", href: "alerts.html", label: "Alerts" },
];

const LIVE_WORDS = {
  idle: "not live",
  connecting: "connecting",
  live: "live",
  reconnecting: "reconnecting",
  offline: "offline",
};

function tokenBox() {
  const input = h("input", {
    type: "password",
    id: "token",
    name: "token",
    autocomplete: "off",
    placeholder: "API token",
    "aria-label": "API token (viewer or operator)",
  });
  const note = h("span", { class: "note", id: "token-note" });
  const show = () => {
    note.textContent = token() ? "token set for this tab" : "no token";
  };
  const form = h(
    "form",
    {
      class: "token-box",
      onsubmit: (event) => {
        event.preventDefault();
        setToken(input.value);
        input.value = "";
        show();
        location.reload();
      },
    },
    input,
    h("button", { type: "submit" }, "Use"),
    h(
      "button",
      {
        type: "button",
        onclick: () => {
          setToken("");
          show();
          location.reload();
        },
      },
      "Forget",
    ),
    note,
  );
  show();
  return form;
}

function liveState() {
  const text = h("span", { class: "text" }, LIVE_WORDS.idle);
  const box = h("span", { class: "live-state", id: "live-state", role: "status", "data-state": "idle" }, h("span", { class: "dot", "aria-hidden": "true" }), text);
  live.onState((state, detail) => {
    box.dataset.state = state;
    text.textContent = LIVE_WORDS[state] || state;
    box.title = detail || "";
  });
  return box;
}

function header(current) {
  const nav = h(
    "nav",
    { class: "nav", "aria-label": "dashboards" },
    PAGES.map((p) => h("a", { href: p.href, "aria-current": p.name === current ? "page" : undefined }, p.label)),
  );
  return h("header", { class: "top" }, h("a", { class: "brand", href: "index.html" }, "Coinswarm"), nav, liveState(), tokenBox());
}

function footer() {
  return h(
    "footer",
    {},
    "Coinswarm dashboards · every score says whether it is in-sample or out-of-sample · charts: ",
    h("a", { href: "https://www.tradingview.com/", rel: "noopener" }, "TradingView Lightweight Charts™"),
    " (Apache-2.0, Copyright (c) 2023 TradingView, Inc.)",
  );
}

/** Build the layout around the page's <main>, start the live feed, and return <main>. */
export function mount(current, { kinds = null } = {}) {
  const main = document.querySelector("main") || document.body.appendChild(h("main"));
  main.id = "main";
  document.body.dataset.page = current;
  document.body.prepend(header(current));
  document.body.append(footer(), h("div", { class: "toasts", id: "toasts", "aria-live": "polite" }));
  live.on("alert", (event) => toast(event.title || event.rule || "alert", event.text || "", event.severity));
  // An alert is news on any page, so the feed always carries alerts besides what the page reads.
  live.start(kinds ? [...new Set([...kinds, "alert", "gap"])] : null);
  return main;
}

/** Show a toast for a few seconds (alerts as they happen, a stop that was sent). */
export function toast(title, text = "", severity = "info", ms = 8000) {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = h("div", { class: "toast", "data-severity": severity, role: "alert" }, h("div", { class: "title" }, title), text ? h("div", { class: "small" }, text) : null);
  box.prepend(item);
  while (box.children.length > 4) box.lastChild.remove();
  setTimeout(() => item.remove(), ms);
}

/** Return an empty state: what is missing and the command that makes it. */
export function empty(what, command) {
  return h("div", { class: "empty", dataset: { empty: "true" } }, what, command ? [": run ", h("code", {}, command)] : null);
}

/** Return the box that says what went wrong; a refused token asks for one. */
export function problem(error, what = "load this") {
  const status = error && error.status;
  if (status === 401) {
    setTimeout(() => document.getElementById("token")?.focus(), 0);
    return h(
      "div",
      { class: "error", dataset: { error: "401" } },
      h("strong", {}, "A token is needed. "),
      "Paste the viewer or operator token in the box at the top (the server printed where it reads them: ",
      h("code", {}, "COINSWARM_API_VIEWER_TOKEN"),
      " / ",
      h("code", {}, "COINSWARM_API_OPERATOR_TOKEN"),
      ").",
      error.message ? h("div", { class: "small muted" }, `server: ${error.message}`) : null,
    );
  }
  if (status === 403) {
    return h("div", { class: "error", dataset: { error: "403" } }, h("strong", {}, "Not allowed with this token. "), "This needs the operator token. ", h("div", { class: "small muted" }, `server: ${error.message}`));
  }
  if (status === 0) {
    return h("div", { class: "error", dataset: { error: "offline" } }, h("strong", {}, "The server does not answer. "), "Is ", h("code", {}, "coinswarm serve"), " running? ", h("span", { class: "small muted" }, error.message));
  }
  if (status === 404) {
    return h("div", { class: "error", dataset: { error: "404" } }, h("strong", {}, `Could not ${what}: not found. `), error.message);
  }
  return h("div", { class: "error", dataset: { error: String(status || "client") } }, h("strong", {}, `Could not ${what}. `), error ? error.message || String(error) : "");
}

/** Put `node` (or the error's box) in `target`; return whether it was the error box. */
export function settle(target, promise, render, what) {
  return promise.then(
    (value) => {
      fill(target, render(value));
      return true;
    },
    (error) => {
      console.error(error);
      fill(target, problem(error, what));
      return false;
    },
  );
}

/** Return a "last updated" line refreshed by the caller. */
export function stamp() {
  return h("span", { class: "small muted", "data-updated": "" }, `updated ${when(Date.now() * 1e6)}`);
}

/** Call `fn` at most once per `ms`, the last call winning (reloads after a burst of events). */
export function throttle(fn, ms = 1000) {
  let timer = null;
  let pending = false;
  return (...args) => {
    if (timer) {
      pending = args;
      return;
    }
    fn(...args);
    timer = setTimeout(function again() {
      timer = null;
      if (pending) {
        const latest = pending;
        pending = false;
        fn(...latest);
        timer = setTimeout(again, ms);
      }
    }, ms);
  };
}
