// Alerts: what the server told people, newest first, and whether each channel got it.
// New alerts arrive at the top as they fire (and as a toast on every page).

import { get, post } from "../api.js";
import { badge, fill, h, listOf, pick, row, table, when } from "../dom.js";
import { empty, mount, problem, throttle, toast } from "../layout.js";
import { live } from "../live.js";

const main = mount("alerts", { kinds: ["alert"] });
const LIMIT = 200;
const TONE = { critical: "bad", warning: "warn", info: "info" };
const COLUMNS = [{ label: "Time" }, { label: "Severity" }, { label: "Rule" }, { label: "Alert", wrap: true }, { label: "Run" }, { label: "Deliveries", wrap: true }];

const view = { setup: h("section", { class: "panel", id: "alert-setup" }), list: h("section", { class: "panel", id: "alerts" }) };

function setupView(answer) {
  if (answer.enabled === false) {
    return [h("h2", {}, "Channels"), h("div", { class: "notice" }, "This server runs without the alert engine: no alert is raised or sent.")];
  }
  const channels = listOf(answer.channels || []);
  const sessions = listOf(answer.sessions || []);
  return [
    h("h2", {}, "Channels"),
    h("p", {}, channels.length ? channels.map((c) => [badge(c, "info"), " "]) : h("span", { class: "muted" }, "none configured: alerts reach only this page")),
    h("p", { class: "small muted" }, `${answer.dropped ?? 0} repeats dropped inside their window since the server started.`),
    sessions.length
      ? h("p", {}, "Dead-man's switch: ", sessions.map((s) => [badge(`${s.run_id}: ${s.down ? "down" : "beating"}`, s.down ? "bad" : "good"), " "]))
      : h("p", { class: "small muted" }, "Dead-man's switch: no session is being watched."),
    h("div", { class: "toolbar" }, h("button", { type: "button", id: "test-alert", onclick: sendTest }, "Send a test alert to every channel"), h("span", { id: "test-outcome" })),
  ];
}

async function sendTest() {
  const outcome = document.getElementById("test-outcome");
  try {
    const sent = await post("/api/alerts/test");
    fill(outcome, h("span", { class: "small" }, `sent to ${listOf(sent.channels || []).join(", ") || "this page only"}`));
    toast("test alert sent", "", "info");
  } catch (error) {
    fill(outcome, problem(error, "send a test alert"));
  }
}

function deliveries(alert) {
  const list = listOf(alert.deliveries || []);
  if (!list.length) return h("span", { class: "muted" }, alert.kind === "alert" ? "just fired" : "this page only");
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
    const answer = await get("/api/alerts", { limit: LIMIT });
    const alerts = listOf(answer, "alerts");
    if (!Array.isArray(answer)) fill(view.setup, setupView(answer));
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

fill(main, h("h1", {}, "Alerts"), view.setup, view.list);
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
