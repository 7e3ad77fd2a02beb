// Portfolio: one run's equity and drawdown, its positions and open orders, and the day's P&L
// against the daily loss limit. A running session's equity events extend the charts live.

import { get } from "../api.js";
import { TimeChart, chartTime } from "../charts.js";
import { equityPoints, isOpen, lastDay, limitMoney, lossUsed, orderAmount } from "../figures.js";
import { fill, h, listOf, money, num, percent, pick, qty, row, signClass, table, when } from "../dom.js";
import { empty, mount, problem, throttle, toast } from "../layout.js";
import { live, replay } from "../live.js";
import { askedRun, picker, preferred, runId, runMode, runStatus, strategyLabel, runsOrNotice } from "../runs.js";
import { card, meter } from "../widgets.js";

const main = mount("portfolio", { kinds: ["equity", "bar", "order", "fill", "start", "stop", "risk"] });

const state = { run: null, details: null, points: [], charts: null, latest: null, orders: [], liveOrders: new Map(), marks: new Map(), peak: -Infinity };

const POSITION_COLUMNS = [
  { label: "Instrument" },
  { label: "Quantity", num: true },
  { label: "Average price", num: true },
  { label: "Last price", num: true },
  { label: "Value", num: true },
  { label: "Unrealised P&L", num: true },
];
const ORDER_COLUMNS = [
  { label: "Time" },
  { label: "Order" },
  { label: "Instrument" },
  { label: "Side" },
  { label: "Quantity", num: true },
  { label: "Filled", num: true },
  { label: "Status" },
];

const view = {
  header: h("div", { class: "toolbar" }),
  cards: h("div", { class: "cards", id: "figures" }),
  day: h("section", { class: "panel", id: "day-pnl" }),
  figures: h("section", { class: "panel", id: "run-figures" }),
  equity: h("section", { class: "panel", id: "equity" }),
  drawdown: h("section", { class: "panel", id: "drawdown" }),
  positions: h("section", { class: "panel", id: "positions" }, h("h2", {}, "Positions")),
  orders: h("section", { class: "panel", id: "open-orders" }, h("h2", {}, "Open orders")),
};

function layoutRun() {
  fill(view.equity, h("h2", {}, "Equity"), h("div", { id: "equity-chart", class: "chart" }));
  fill(view.drawdown, h("h2", {}, "Drawdown (below the running peak)"), h("div", { id: "drawdown-chart", class: "chart short" }));
  fill(
    main,
    h("h1", {}, "Portfolio"),
    view.header,
    view.cards,
    h("div", { class: "grid" }, view.day, view.figures),
    h("div", { class: "grid" }, view.equity, view.drawdown),
    h("div", { class: "grid" }, view.positions, view.orders),
  );
}

function charts() {
  if (!state.charts) {
    state.charts = {
      equity: new TimeChart(document.getElementById("equity-chart"), [{ name: "equity", kind: "area" }]),
      drawdown: new TimeChart(document.getElementById("drawdown-chart"), [{ name: "drawdown", kind: "area", color: "#f85149", inverted: true }], { percent: true }),
    };
  }
  return state.charts;
}

function drawCharts() {
  const { equity, drawdown } = charts();
  equity.set(0, state.points.map((p) => ({ time: p.time, value: p.equity })));
  drawdown.set(0, state.points.map((p) => ({ time: p.time, value: p.drawdown * 100 })));
  if (!state.points.length) {
    view.equity.querySelector(".empty")?.remove();
    view.equity.append(runStatus(state.details) === "running" ? empty("waiting for the session's first equity point") : empty("no equity points yet", "coinswarm demo"));
  } else {
    view.equity.querySelector(".empty")?.remove();
  }
}

/** Return the cash to show: an event's figure, else the account's in its own currency. */
function cashOf(latest, account) {
  if (latest && latest.cash !== undefined) return typeof latest.cash === "object" ? Object.values(latest.cash)[0] : latest.cash;
  const held = account && account.cash;
  if (!held || typeof held !== "object") return held;
  return held[account.currency] ?? Object.values(held)[0];
}

function drawCards() {
  const d = state.details || {};
  const account = state.account || {};
  const last = state.points[state.points.length - 1];
  const latest = state.latest || {};
  const equity = num(pick(latest, "equity") ?? (last ? last.equity : pick(account, "equity") ?? pick(d, "final_equity")));
  const start = num(pick(state.curve, "initial_cash")) || (state.points[0] ? state.points[0].equity : NaN);
  const change = Number.isFinite(equity) && Number.isFinite(start) && start ? equity / start - 1 : NaN;
  const worst = state.points.reduce((m, p) => Math.min(m, p.drawdown), 0);
  const current = last ? last.drawdown : NaN;
  fill(
    view.cards,
    card("Equity", money(equity), Number.isFinite(change) ? `${percent(change)} since the start (${money(start)})` : "", {
      id: "equity-value",
      "data-equity": Number.isFinite(equity) ? String(equity) : "",
    }),
    card("Cash", money(cashOf(state.latest, account)), account.currency || ""),
    card("Realised P&L", h("span", { class: signClass(account.realised_pnl) }, money(account.realised_pnl)), account.round_trips !== undefined ? `${account.round_trips} round trips` : ""),
    card("Drawdown now", percent(Number.isFinite(current) ? -current : NaN), `worst ${percent(-worst)}`),
    card("Orders · fills stored", `${pick(d, "orders") ?? "—"} · ${pick(d, "fills") ?? "—"}`, [pick(d, "mode"), strategyLabel(pick(d, "strategy")), pick(d, "status")].filter(Boolean).join(" · ")),
  );
}

const FIGURES = [
  ["total_return", "Total return", (v) => percent(v)],
  ["cagr", "CAGR", (v) => percent(v)],
  ["sharpe", "Sharpe", (v) => num(v).toFixed(2)],
  ["sortino", "Sortino", (v) => num(v).toFixed(2)],
  ["max_drawdown", "Max drawdown", (v) => percent(v)],
  ["win_rate", "Win rate", (v) => percent(v, 0)],
  ["profit_factor", "Profit factor", (v) => num(v).toFixed(2)],
  ["trades", "Round trips", String],
  ["fees_paid", "Fees paid", (v) => money(v)],
  ["exposure", "Time in the market", (v) => percent(v, 0)],
];

function drawFigures() {
  const metrics = (state.details && state.details.metrics) || {};
  const shown = FIGURES.filter(([key]) => metrics[key] !== undefined && metrics[key] !== null);
  fill(
    view.figures,
    h("h2", {}, "Run figures (in-sample: the run over its own bars)"),
    shown.length
      ? h("dl", { class: "kv" }, shown.map(([key, label, show]) => [h("dt", {}, label), h("dd", { dataset: { metric: key } }, show(metrics[key]))]))
      : h("p", { class: "muted" }, "figures come when the run ends"),
  );
}

function drawDay(risk) {
  const latest = state.latest;
  let pnl;
  let start;
  let label;
  if (latest && latest.day_pnl !== undefined) {
    pnl = num(latest.day_pnl);
    start = num(latest.day_start_equity);
    label = "Today's P&L (UTC)";
  } else {
    const day = lastDay(state.points);
    if (!day) {
      fill(view.day, h("h2", {}, "Today's P&L"), empty("no equity yet, so no P&L to show"));
      return;
    }
    pnl = day.pnl;
    start = day.start;
    label = runStatus(state.details) === "running" ? `Today's P&L (${day.day} UTC)` : `Last day's P&L (${day.day} UTC, market time)`;
  }
  const limit = limitMoney(pick(latest, "daily_loss_limit") ?? dailyLimitOf(risk), start);
  const used = lossUsed(pnl, limit);
  fill(
    view.day,
    h("h2", {}, label),
    h("div", { class: `card value ${signClass(pnl)}`, id: "day-pnl-value", "data-pnl": String(pnl) }, money(pnl)),
    Number.isFinite(limit)
      ? meter("Loss against the daily limit", `limit ${money(limit)}`, used, { id: "daily-limit-meter" })
      : h("p", { class: "muted small" }, runMode(state.details) === "backtest" ? "a backtest's limits are on its report; the Risk page shows the paper, sandbox and live limits" : "the daily loss limit of this run's risk profile is not known yet"),
  );
}

/** Return the daily loss limit the risk state gives this run's mode (money or a fraction). */
function dailyLimitOf(risk) {
  if (!risk || !state.details) return undefined;
  const mode = runMode(state.details);
  const modes = listOf(risk, "modes");
  const entry = modes.find((m) => pick(m, "mode") === mode) || (risk[mode] && typeof risk[mode] === "object" ? risk[mode] : null);
  if (!entry) return undefined;
  for (const limit of listOf(entry, "limits")) {
    const name = String(pick(limit, "name", "limit", "key") || "").toLowerCase();
    if (name.includes("daily")) return pick(limit, "limit_value", "limit", "value");
  }
  return pick(entry, "daily_loss_limit");
}

function positionRows(positions) {
  return positions
    .filter((p) => num(pick(p, "quantity", "qty")) !== 0)
    .map((p) =>
      row(POSITION_COLUMNS, [
        pick(p, "instrument", "symbol"),
        qty(pick(p, "quantity", "qty")),
        money(pick(p, "average_cost", "average_price"), 2),
        money(pick(p, "mark", "last_price"), 2),
        money(pick(p, "market_value")),
        h("span", { class: signClass(pick(p, "unrealised_pnl")) }, money(pick(p, "unrealised_pnl"))),
      ], { dataset: { instrument: pick(p, "instrument", "symbol"), quantity: String(pick(p, "quantity", "qty")) } }),
    );
}

/**
 * Return the positions to show: the stored account's (its latest checkpoint), with each
 * quantity a running session's latest equity event gives instead, when that event is newer.
 * A paper session checkpoints rarely, so while it runs its events are the fresher record.
 */
function currentPositions() {
  const stored = listOf(state.account || {}, "positions");
  const latest = state.latest;
  const storedTs = num(pick(state.account, "as_of_ts"));
  if (!latest || !latest.positions || (Number.isFinite(storedTs) && storedTs > num(latest.ts_ns))) return stored;
  const byInstrument = new Map(stored.map((p) => [p.instrument, p]));
  return Object.entries(latest.positions).map(([instrument, quantity]) => {
    const known = byInstrument.get(instrument);
    if (known && num(known.quantity) === num(quantity)) return known;
    const mark = state.marks.get(instrument);
    return mark === undefined ? { instrument, quantity } : { instrument, quantity, mark, market_value: String(num(quantity) * num(mark)) };
  });
}

function drawPositions() {
  const rows = positionRows(currentPositions());
  view.positions.dataset.count = String(rows.length);
  const live = state.latest && state.latest.positions ? h("p", { class: "small muted" }, `as of ${when(state.latest.ts_ns)} (the session's latest event)`) : null;
  fill(view.positions, h("h2", {}, "Positions"), rows.length ? table(POSITION_COLUMNS, rows, { id: "positions-table" }) : empty("flat: no open positions"), live);
}

const SHOWN_ORDERS = 20;

/** Return the open orders: the stored ones, updated by (or added from) the session's order events. */
function currentOrders() {
  const merged = new Map((state.orders || []).map((o) => [String(pick(o, "order_id", "client_order_id")), o]));
  for (const [id, event] of state.liveOrders) merged.set(id, { ...merged.get(id), ...event });
  return [...merged.values()].filter((o) => isOpen(pick(o, "status")));
}

function drawOrders() {
  const open = currentOrders();
  view.orders.dataset.count = String(open.length);
  const rows = open.slice(0, SHOWN_ORDERS).map((o) =>
    row(ORDER_COLUMNS, [
      when(pick(o, "created_ts", "ts_ns")),
      h("a", { href: `trades.html?run=${encodeURIComponent(state.run)}&order=${encodeURIComponent(pick(o, "order_id", "id"))}` }, pick(o, "order_id", "id")),
      pick(o, "instrument"),
      pick(o, "side"),
      orderAmount(o),
      qty(pick(o, "filled_quantity", "filled")),
      pick(o, "status"),
    ]),
  );
  const rest = open.length - rows.length;
  fill(
    view.orders,
    h("h2", {}, `Open orders (${open.length})`),
    rows.length ? table(ORDER_COLUMNS, rows, { id: "open-orders-table" }) : empty("no open orders"),
    rest > 0 ? h("p", { class: "small" }, h("a", { href: `trades.html?run=${encodeURIComponent(state.run)}` }, `and ${rest} more on the Trades page`)) : null,
  );
}

async function loadPositions() {
  try {
    state.account = await get(`/api/runs/${encodeURIComponent(state.run)}/positions`);
    drawPositions();
    drawCards();
  } catch (error) {
    fill(view.positions, h("h2", {}, "Positions"), problem(error, "load the positions"));
  }
}

async function loadOrders() {
  try {
    state.orders = listOf(await get(`/api/runs/${encodeURIComponent(state.run)}/orders`, { limit: 200, open: true }), "orders");
    drawOrders();
  } catch (error) {
    fill(view.orders, h("h2", {}, "Open orders"), problem(error, "load the orders"));
  }
}

/** Return a chart point of an equity event (drawdown as a fraction <= 0), or null. */
function pointOf(event) {
  const time = chartTime(event.ts_ns);
  const equity = num(event.equity);
  if (!Number.isFinite(time) || !Number.isFinite(equity)) return null;
  state.peak = Math.max(state.peak, num(event.peak) || -Infinity, equity);
  const sent = num(event.drawdown);
  const drawdown = Number.isFinite(sent) && Math.abs(sent) <= 1 ? -Math.abs(sent) : state.peak > 0 ? equity / state.peak - 1 : 0;
  return { time, equity, drawdown };
}

/** Take one event of the run: an equity point, an order's new state, a fill. */
function take(event) {
  const kind = event.kind;
  if (kind === "order") {
    const { seq: _hub, kind: _kind, ...fields } = event;
    state.liveOrders.set(String(event.order_id || event.client_order_id), fields);
  } else if (kind === "bar") {
    state.marks.set(event.instrument, event.close);
  } else if (kind === "equity") {
    state.latest = event;
    const point = pointOf(event);
    const last = state.points[state.points.length - 1];
    if (!point || (last && point.time < last.time)) return false;
    if (last && point.time === last.time) state.points[state.points.length - 1] = point;
    else state.points.push(point);
    return true;
  }
  return false;
}

/** Replay what the server still holds of a running session (the store has little of it yet). */
async function catchUp(id) {
  const events = await replay({ run: id, kinds: ["equity", "order", "bar"] });
  for (const event of events) if (event.run_id === id) take(event);
  return events.length;
}

async function loadRun(id) {
  state.run = id;
  state.latest = null;
  state.account = null;
  state.curve = null;
  state.orders = [];
  state.liveOrders = new Map();
  state.marks = new Map();
  state.peak = -Infinity;
  if (state.charts) {
    state.charts.equity.remove();
    state.charts.drawdown.remove();
    state.charts = null;
  }
  layoutRun();
  fill(view.header, state.picker);
  const base = `/api/runs/${encodeURIComponent(id)}`;
  const [details, points, risk] = await Promise.allSettled([get(base), get(`${base}/equity`), get("/api/risk")]);
  if (details.status === "rejected") {
    fill(view.cards, problem(details.reason, "load the run"));
    document.body.dataset.ready = "true";
    return;
  }
  state.details = details.value;
  if (points.status === "fulfilled") {
    state.curve = points.value;
    state.points = equityPoints(listOf(points.value, "points", "equity"));
    state.peak = state.points.reduce((m, p) => Math.max(m, p.equity), -Infinity);
  } else {
    state.points = [];
    view.equity.append(problem(points.reason, "load the equity"));
  }
  if (runStatus(state.details) === "running") await catchUp(id);
  drawCharts();
  state.risk = risk.status === "fulfilled" ? risk.value : null;
  drawCards();
  drawFigures();
  drawDay(state.risk);
  await Promise.all([loadPositions(), loadOrders()]);
  document.body.dataset.ready = "true";
}

async function start() {
  const runs = await runsOrNotice(main, "Portfolio");
  if (!runs) return;
  const asked = askedRun();
  const chosen = runs.find((r) => runId(r) === asked) || preferred(runs);
  state.picker = picker(runs, runId(chosen), (id) => loadRun(id));
  await loadRun(runId(chosen));
}

// ---- live: equity points extend the charts and move the positions; orders update in place

const reloadPositions = throttle(() => state.run && loadPositions(), 2000);
const redrawOrders = throttle(() => state.run && drawOrders(), 500);

live.on("equity", (event) => {
  if (event.run_id !== state.run || !state.charts) return;
  if (take(event)) {
    const point = state.points[state.points.length - 1];
    state.charts.equity.append(0, { time: point.time, value: point.equity });
    state.charts.drawdown.append(0, { time: point.time, value: point.drawdown * 100 });
    view.equity.querySelector(".empty")?.remove();
  }
  drawCards();
  drawDay(state.risk);
  drawPositions();
});
live.on("order", (event) => {
  if (event.run_id !== state.run) return;
  take(event);
  redrawOrders();
});
live.on("fill", (event) => event.run_id === state.run && reloadPositions());
live.on("bar", (event) => event.run_id === state.run && take(event));
live.on("stop", (event) => {
  if (event.run_id !== state.run) return;
  toast(`run ${event.run_id} ${event.status || "stopped"}`, event.reason || "");
  loadRun(state.run);
});
live.on("start", (event) => {
  if (event.run_id === state.run) return;
  const link = h("a", { href: `index.html?run=${encodeURIComponent(event.run_id)}` }, `watch ${event.mode || ""} run ${event.run_id}`);
  const note = h("div", { class: "notice", id: "new-run" }, "A session started: ", link);
  document.getElementById("new-run")?.remove();
  main.prepend(note);
});
live.on("gap", () => state.run && loadRun(state.run));

start();
