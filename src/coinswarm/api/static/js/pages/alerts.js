// Alerts: what the server told people, newest first, and whether each channel got it.
// New alerts arrive at the top as they fire (and as a toast on every page).

import { get } from "../api.js";
import { badge, fill, h, listOf, pick, row, table, when } from "../dom.js";
import { empty, mount, problem, throttle } from "../layout.js";
import { live } from "../live.js";

const main = mount("alerts", { kinds: ["alert"] });
const LIMIT = 200;
const TONE = { critical: "bad", warning: "warn", info: "info" };
const COLUMNS = [{ label: "Time" }, { label: "Severity" }, { label: "Rule" }, { label: "Alert", wrap: true }, { label: "Run" }, { label: "Deliveries", wrap: true }];

const view = { list: h("section", { class: "panel", id: "alerts" }) };

function deliveries(alert) {
  const list = listOf(alert.deliveries || []);
  if (!list.length) return h("span", { class: "muted" }, alert.kind === "alert" ? "just fired" : "none");
  return list.map((d) => [
    badge(`${d.channel}: ${d.status}${d.attempts > 1 ? ` after ${d.attempts} tries` : ""}`, d.status === "delivered" ? "good" : "warn"),
    d.last_error && d.status !== "delivered" ? h("div", { class: "small muted" }, d.last_error) : null,
    " ",
  ]);
}

function alertRow(alert, fresh = false) {
  const inner = alert.alert && typeof alert.alert === "object" ? { ...alert, ...alert.alert } : alert;
  const severity = String(inner.severity || "info");
  return row(
    COLUMNS,
    [
      when(pick(inner, "ts_ns", "created_ns")),
      badge(severity, TONE[severity] || ""),
      inner.rule,
      [h("strong", {}, inner.title), inner.text ? h("div", { class: "small" }, inner.text) : null],
      inner.run_id ? h("a", { href: `index.html?run=${encodeURIComponent(inner.run_id)}` }, inner.run_id) : "",
      deliveries(alert),
    ],
    { class: fresh ? "fresh" : undefined, dataset: { alert: String(pick(alert, "id", "alert_id") ?? ""), rule: inner.rule, severity } },
  );
}

async function load() {
  try {
    const alerts = listOf(await get("/api/alerts", { limit: LIMIT }), "alerts");
    view.list.dataset.count = String(alerts.length);
    fill(
      view.list,
      h("h2", {}, `Recent alerts (${alerts.length})`),
      alerts.length ? table(COLUMNS, alerts.map((a) => alertRow(a)), { id: "alerts-table" }) : empty("no alerts yet: the rules watch paper, sandbox and live sessions"),
    );
  } catch (error) {
    fill(view.list, h("h2", {}, "Recent alerts"), problem(error, "read the alerts"));
  }
  document.body.dataset.ready = "true";
}

fill(main, h("h1", {}, "Alerts"), view.list);
load();

// A fired alert shows at once; its deliveries are read again a moment later.
const reload = throttle(load, 3000);
live.on("alert", (event) => {
  const tbody = view.list.querySelector("#alerts-table tbody");
  if (tbody) tbody.prepend(alertRow(event, true));
  else load();
  setTimeout(reload, 2000);
});
live.on("gap", reload);
