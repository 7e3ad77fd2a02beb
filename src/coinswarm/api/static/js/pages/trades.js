// Trades: every order of a run, newest first, paged; clicking one opens why it was placed
// (the bar, the votes and the verdict, what the risk layer did, the fills). A running session's
// new orders arrive at the top as they happen.

import { get } from "../api.js";
import { badge, fill, h, listOf, money, num, pick, qty, row, table, when } from "../dom.js";
import { orderAmount, tsOf } from "../figures.js";
import { empty, mount, problem, throttle } from "../layout.js";
import { live, replay } from "../live.js";
import { askedRun, picker, preferred, runId, runStatus, runsOrNotice } from "../runs.js";
import { kv } from "../widgets.js";

const PAGE = 50;
const main = mount("trades", { kinds: ["order", "fill", "start", "stop"] });

const COLUMNS = [
  { label: "Time" },
  { label: "Order" },
  { label: "Instrument" },
  { label: "Side" },
  { label: "Quantity", num: true },
  { label: "Filled", num: true },
  { label: "Status" },
  { label: "Reject reason" },
];

const state = { run: null, runs: [], running: false, orders: new Map(), next: null, selected: null };
const view = {
  toolbar: h("div", { class: "toolbar" }),
  list: h("section", { class: "panel", id: "orders" }),
  more: h("div", { class: "toolbar" }),
  explain: h("section", { class: "panel aside", id: "explanation", "aria-live": "polite" }, h("p", { class: "muted" }, "Click an order to see why it was placed.")),
};

function orderId(order) {
  return String(pick(order, "order_id", "id", "client_order_id"));
}

function statusBadge(status) {
  const text = String(status || "").toLowerCase();
  const tone = text === "filled" ? "good" : text.includes("reject") || text.includes("cancel") ? "bad" : text.includes("partial") ? "warn" : "info";
  return badge(text || "?", tone);
}

function orderRow(order, fresh = false) {
  const id = orderId(order);
  const tr = row(
    COLUMNS,
    [
      when(tsOf(order)),
      h("span", { class: "mono" }, id),
      pick(order, "instrument"),
      pick(order, "side"),
      orderAmount(order),
      qty(pick(order, "filled_quantity", "filled")),
      statusBadge(pick(order, "status")),
      order.reject_reason ? h("span", { class: "clip", title: order.reject_reason }, order.reject_reason) : "",
    ],
    {
      class: `clickable${fresh ? " fresh" : ""}${state.selected === id ? " selected" : ""}`,
      tabindex: "0",
      dataset: { order: id },
      onclick: () => choose(id),
      onkeydown: (event) => (event.key === "Enter" || event.key === " ") && (event.preventDefault(), choose(id)),
    },
  );
  return tr;
}

function sorted() {
  return [...state.orders.values()].sort((a, b) => tsOf(b) - tsOf(a) || (b.seq ?? Infinity) - (a.seq ?? Infinity));
}

function drawList() {
  const orders = sorted();
  view.list.dataset.count = String(orders.length);
  fill(
    view.list,
    h("h2", {}, `Orders (${state.total !== undefined && state.total > orders.length ? `${orders.length} of ${state.total}` : orders.length})`),
    orders.length ? table(COLUMNS, orders.map((o) => orderRow(o)), { id: "orders-table" }) : empty("this run placed no orders"),
  );
  fill(view.more, state.next !== null ? h("button", { type: "button", id: "more-orders", onclick: loadMore }, `Load ${PAGE} more`) : null);
}

/** Return the cursor for the next page: the answer's own, else none when the page was short. */
function nextCursor(answer, page) {
  if (answer && !Array.isArray(answer) && "next" in answer) return answer.next;
  if (page.length < PAGE) return null;
  const last = page[page.length - 1];
  return pick(last, "seq", "cursor", "order_id", "id") ?? null;
}

async function loadPage(after) {
  const answer = await get(`/api/runs/${encodeURIComponent(state.run)}/orders`, { limit: PAGE, after });
  const page = listOf(answer, "orders");
  for (const order of page) state.orders.set(orderId(order), { ...state.orders.get(orderId(order)), ...order });
  state.next = nextCursor(answer, page);
  if (answer && typeof answer.total === "number") state.total = Math.max(answer.total, state.orders.size);
}

async function loadMore() {
  try {
    await loadPage(state.next);
    drawList();
  } catch (error) {
    fill(view.more, problem(error, "load more orders"));
  }
}

/** Merge an order event into the orders shown (the hub's seq is not the store's). */
function takeOrder(event) {
  const id = orderId(event);
  const { seq: _hubSeq, kind: _kind, ...fields } = event;
  const known = state.orders.has(id);
  state.orders.set(id, { ...state.orders.get(id), ...fields });
  return known;
}

async function loadRun(id) {
  state.run = id;
  state.running = runStatus(state.runs.find((r) => runId(r) === id)) === "running";
  state.orders = new Map();
  state.next = null;
  state.total = undefined;
  fill(main, h("h1", {}, "Trades"), view.toolbar, h("div", { class: "split" }, h("div", {}, view.list, view.more), view.explain));
  try {
    await loadPage(undefined);
    // A paper session stores its orders now and then; what it did since is in the live events.
    if (state.running) for (const event of await replay({ run: id, kinds: ["order"] })) takeOrder(event);
    drawList();
  } catch (error) {
    fill(view.list, problem(error, "load the orders"));
  }
  const asked = new URLSearchParams(location.search).get("order");
  if (asked) await choose(asked);
  document.body.dataset.ready = "true";
}

// ---- the explanation

const DIRECTIONS = { 1: "buy", 0: "hold", "-1": "sell" };

function voteAction(vote) {
  if (typeof vote.action === "string") return vote.action.toLowerCase();
  return DIRECTIONS[vote.direction] || String(vote.direction ?? "?");
}

function votesTable(votes) {
  const columns = [{ label: "Agent" }, { label: "Vote" }, { label: "Confidence", num: true }, { label: "Weight", num: true }, { label: "Reason", wrap: true }];
  return table(
    columns,
    votes.map((v) =>
      row(columns, [
        pick(v, "agent"),
        [voteAction(v), v.veto ? [" ", badge("veto", "bad")] : null],
        num(v.confidence).toFixed(2),
        Number.isFinite(num(v.weight)) ? num(v.weight).toFixed(3) : "—",
        pick(v, "reason") || "",
      ], { dataset: { agent: pick(v, "agent") } }),
    ),
    { class: "votes" },
  );
}

function fillsTable(fills) {
  const columns = [{ label: "Time" }, { label: "Side" }, { label: "Quantity", num: true }, { label: "Price", num: true }, { label: "Fee", num: true }, { label: "Liquidity" }];
  return table(
    columns,
    fills.map((f) => row(columns, [when(pick(f, "ts", "ts_ns")), pick(f, "side"), qty(f.quantity), money(f.price, 2), `${money(f.fee, 4)} ${f.fee_currency || ""}`, pick(f, "liquidity") || ""])),
    { class: "fills" },
  );
}

function riskBlock(risk) {
  if (!risk) return h("p", { class: "muted" }, "the risk layer left no note on this order");
  const action = String(pick(risk, "action", "decision") || "");
  const tone = action.startsWith("approv") ? "good" : action.startsWith("shr") ? "warn" : "bad";
  return [
    h("p", {}, badge(action || "?", tone), " ", pick(risk, "reason") || ""),
    kv([
      ["requested", pick(risk, "requested")],
      ["sent", risk.sent && risk.sent !== risk.requested ? risk.sent : null],
    ]),
  ];
}

function verdictBlock(x) {
  const verdict = x.verdict;
  const summary = pick(x, "summary") || (verdict && verdict.reason) || "no rationale was recorded";
  return [
    h("p", { id: "verdict" }, verdict ? [badge(String(verdict.action || "?").toLowerCase(), "info"), " "] : null, summary),
    verdict
      ? kv([
          ["score", `${num(verdict.score).toFixed(3)} (weighted mean of direction × confidence, in [-1, 1])`],
          ["size", num(verdict.size).toFixed(3)],
          ["vetoed by", (verdict.vetoed_by || []).join(", ") || null],
          ["committee said", verdict.reason !== summary ? verdict.reason : null],
        ])
      : null,
    (x.details || []).length ? h("ul", { class: "small" }, x.details.map((d) => h("li", {}, d))) : null,
  ];
}

function historyList(history) {
  if (!history || !history.length) return null;
  return [
    h("h3", {}, "Status changes"),
    h("ol", { class: "small" }, history.map((c) => h("li", {}, `${when(c.ts)}: ${c.from_status || "—"} → ${c.to_status} (filled ${qty(c.filled_quantity)})`))),
  ];
}

function explanationView(x) {
  const order = x.order || x;
  const votes = listOf(pick(x, "votes") || (x.verdict && x.verdict.votes) || [], "votes");
  const fills = listOf(x.fills || [], "fills");
  const bar = x.bar;
  return [
    h("h2", {}, "Why order ", h("span", { class: "mono" }, pick(order, "order_id", "client_order_id")), " was placed"),
    kv([
      ["instrument", order.instrument],
      ["side", [String(pick(order, "side") || "").toLowerCase(), " ", orderAmount(order), order.type ? `, ${String(order.type).toLowerCase()}` : ""]],
      ["status", statusBadge(order.status)],
      ["decided", when(pick(x, "decided_ts") ?? tsOf(order))],
      ["client id", pick(order, "client_order_id")],
      ["rejected", pick(order, "reject_reason")],
      ["filled", num(order.filled_quantity) > 0 ? `${qty(order.filled_quantity)} at ${money(order.average_fill_price, 2)}, fees ${money(order.fees, 4)}` : order.filled_quantity !== undefined ? "nothing" : null],
      ["bar", bar ? `open ${bar.open} high ${bar.high} low ${bar.low} close ${bar.close} volume ${bar.volume}` : null],
    ]),
    h("h3", {}, "Verdict"),
    verdictBlock(x),
    h("h3", {}, `Votes (${votes.length})`),
    votes.length ? votesTable(votes) : h("p", { class: "muted" }, "no votes recorded (a strategy that is not a committee)"),
    h("h3", {}, "Risk decision"),
    h("div", { id: "risk-decision" }, riskBlock(x.risk)),
    h("h3", {}, `Fills (${fills.length})`),
    fills.length ? fillsTable(fills) : h("p", { class: "muted" }, "no fills"),
    historyList(x.history),
    Array.isArray(x.lines) && x.lines.length ? h("details", {}, h("summary", {}, "as the CLI prints it (coinswarm explain)"), h("pre", { class: "lines" }, x.lines.join("\n"))) : null,
  ];
}

async function choose(id) {
  state.selected = id;
  for (const tr of view.list.querySelectorAll("tr[data-order]")) tr.classList.toggle("selected", tr.dataset.order === id);
  const url = new URL(location.href);
  url.searchParams.set("order", id);
  if (state.run) url.searchParams.set("run", state.run);
  history.replaceState(null, "", url);
  view.explain.dataset.order = id;
  delete view.explain.dataset.loaded;
  fill(view.explain, h("p", { class: "muted" }, `Loading the explanation of ${id}…`));
  try {
    const x = await get(`/api/runs/${encodeURIComponent(state.run)}/orders/${encodeURIComponent(id)}/explain`);
    if (state.selected !== id) return;
    fill(view.explain, explanationView(x));
    view.explain.dataset.loaded = "true";
  } catch (error) {
    const unsaved = error.status === 404 && state.running;
    fill(
      view.explain,
      unsaved
        ? h("div", { class: "notice" }, `Order ${id} is not stored yet: a running paper session writes its orders and their explanations when it checkpoints or ends. Its live state is in the table.`)
        : problem(error, `explain order ${id}`),
    );
  }
  if (window.matchMedia("(max-width: 900px)").matches) view.explain.scrollIntoView({ behavior: "smooth", block: "start" });
}

async function start() {
  const runs = await runsOrNotice(main, "Trades");
  if (!runs) return;
  const chosen = runs.find((r) => runId(r) === askedRun()) || preferred(runs);
  state.runs = runs;
  fill(view.toolbar, picker(runs, runId(chosen), (id) => loadRun(id)));
  await loadRun(runId(chosen));
}

// ---- live: a new order goes on top; a known one changes its status in place

const redraw = throttle(drawList, 300);

live.on("order", (event) => {
  if (event.run_id !== state.run) return;
  const id = orderId(event);
  if (takeOrder(event)) {
    redraw();
    return;
  }
  const tbody = view.list.querySelector("#orders-table tbody");
  if (!tbody) {
    drawList();
    return;
  }
  tbody.prepend(orderRow(state.orders.get(id), true));
  view.list.dataset.count = String(state.orders.size);
});
live.on("fill", (event) => {
  if (event.run_id === state.run && state.selected === String(event.order_id)) choose(state.selected);
});
live.on("gap", () => state.run && loadRun(state.run));

start();
