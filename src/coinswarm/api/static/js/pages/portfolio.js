// Portfolio: one run's equity and drawdown, its positions and open orders, and the day's P&L
// against the daily loss limit. A running session's equity events extend the charts live.

import { get } from "../api.js";
import { TimeChart, chartTime } from "../charts.js";
import { equityPoints, isOpen, lastDay, limitMoney, lossUsed, orderAmount } from "../figures.js";
import { fill, h, listOf, money, num, percent, pick, qty, row, signClass, table, when } from "../dom.js";
import { empty, mount, problem, throttle, toast } from "../layout.js";
import { live } from "../live.js";
import { askedRun, loadRuns, picker, preferred, runId, runMode, runStatus } from "../runs.js";
import { card, meter } from "../widgets.js";

const main = mount("portfolio", { kinds: ["equity", "order", "fill", "start", "stop", "risk"] });

const state = { run: null, details: null, points: [], charts: null, latest: null };

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
    view.equity.append(empty("no equity points yet", "coinswarm demo"));
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
    card("Orders · fills", `${pick(d, "orders") ?? "—"} · ${pick(d, "fills") ?? "—"}`, [pick(d, "mode"), pick(d, "strategy"), pick(d, "status")].filter(Boolean).join(" · ")),
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

function drawPositions(positions) {
  const rows = positionRows(positions);
  view.positions.dataset.count = String(rows.length);
  fill(view.positions, h("h2", {}, "Positions"), rows.length ? table(POSITION_COLUMNS, rows, { id: "positions-table" }) : empty("flat: no open positions"));
}

/** Return whether the quantities an equity event holds differ from the positions shown. */
function positionsChanged(held) {
  const shown = new Map([...view.positions.querySelectorAll("tr[data-instrument]")].map((tr) => [tr.dataset.instrument, tr.dataset.quantity]));
  const now = Object.entries(held).filter(([, q]) => num(q) !== 0);
  return now.length !== shown.size || now.some(([instrument, q]) => num(shown.get(instrument)) !== num(q));
}

const SHOWN_ORDERS = 20;

function drawOrders(orders) {
  const open = orders.filter((o) => isOpen(pick(o, "status")));
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
    const held = await get(`/api/runs/${encodeURIComponent(state.run)}/positions`);
    state.account = held;
    drawPositions(listOf(held, "positions"));
    drawCards();
  } catch (error) {
    fill(view.positions, h("h2", {}, "Positions"), problem(error, "load the positions"));
  }
}

async function loadOrders() {
  try {
    drawOrders(listOf(await get(`/api/runs/${encodeURIComponent(state.run)}/orders`, { limit: 200, open: true }), "orders"));
  } catch (error) {
    fill(view.orders, h("h2", {}, "Open orders"), problem(error, "load the orders"));
  }
}

async function loadRun(id) {
  state.run = id;
  state.latest = null;
  state.account = null;
  state.curve = null;
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
    return;
  }
  state.details = details.value;
  if (points.status === "fulfilled") {
    state.curve = points.value;
    state.points = equityPoints(listOf(points.value, "points", "equity"));
    drawCharts();
  } else {
    state.points = [];
    fill(view.equity, h("h2", {}, "Equity"), problem(points.reason, "load the equity"));
  }
  state.risk = risk.status === "fulfilled" ? risk.value : null;
  drawCards();
  drawFigures();
  drawDay(state.risk);
  await Promise.all([loadPositions(), loadOrders()]);
  document.body.dataset.ready = "true";
}

async function start() {
  let runs;
  try {
    runs = await loadRuns();
  } catch (error) {
    fill(main, h("h1", {}, "Portfolio"), problem(error, "list the runs"));
    document.body.dataset.ready = "true";
    return;
  }
  if (!runs.length) {
    fill(main, h("h1", {}, "Portfolio"), empty("no runs yet", "coinswarm demo"));
    document.body.dataset.ready = "true";
    return;
  }
  const asked = askedRun();
  const chosen = runs.find((r) => runId(r) === asked) || preferred(runs);
  state.picker = picker(runs, runId(chosen), (id) => loadRun(id));
  await loadRun(runId(chosen));
}

// ---- live: equity points extend the charts, orders and fills refresh their tables

const reloadOrders = throttle(() => state.run && loadOrders(), 1000);
const reloadPositions = throttle(() => state.run && loadPositions(), 1000);

live.on("equity", (event) => {
  if (event.run_id !== state.run || !state.charts) return;
  const time = chartTime(event.ts_ns);
  const equity = num(event.equity);
  const peak = Math.max(num(event.peak) || -Infinity, ...state.points.map((p) => p.equity), equity);
  const sent = num(event.drawdown);
  const drawdown = Number.isFinite(sent) && Math.abs(sent) <= 1 ? -Math.abs(sent) : peak > 0 ? equity / peak - 1 : 0;
  const point = { time, equity, drawdown };
  const last = state.points[state.points.length - 1];
  if (last && time < last.time) return;
  if (last && time === last.time) state.points[state.points.length - 1] = point;
  else state.points.push(point);
  state.charts.equity.append(0, { time, value: equity });
  state.charts.drawdown.append(0, { time, value: drawdown * 100 });
  view.equity.querySelector(".empty")?.remove();
  state.latest = event;
  drawCards();
  drawDay(state.risk);
  if (event.positions && positionsChanged(event.positions)) reloadPositions();
});
live.on("order", (event) => event.run_id === state.run && reloadOrders());
live.on("fill", (event) => event.run_id === state.run && reloadPositions());
live.on("stop", (event) => {
  if (event.run_id !== state.run) return;
  toast(`run ${event.run_id} ${event.status || "stopped"}`, event.reason || "");
  reloadOrders();
  reloadPositions();
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
