// Architecture: the running components, the message flow between them, and their health,
// drawn from GET /api/system: sessions -> bus -> server -> alerts, metrics, dashboards.
//
// The diagram is an SVG this module lays out itself: one column per stage, left to right on
// a wide screen and top to bottom on a phone. Each node's outline says its health (and so
// does its text: colour alone tells a colour-blind person nothing).

import { get } from "../api.js";
import { age, badge, fill, h, listOf, money, row, svg, table, when } from "../dom.js";
import { empty, mount, problem, throttle } from "../layout.js";
import { live } from "../live.js";
import { strategyLabel } from "../runs.js";
import { kv } from "../widgets.js";

const main = mount("architecture", { kinds: ["start", "stop", "heartbeat", "error"] });
const POLL_MS = 3000;

const STAGE = { session: 0, bus: 1, server: 2 };
const TONE = { ok: "good", stale: "warn", late: "warn", down: "bad", failing: "bad", absent: "" };
const NODE_W = 168;
const NODE_H = 54;

const view = {
  status: h("div", { id: "system-status" }),
  diagram: h("section", { class: "panel diagram", id: "diagram" }),
  components: h("section", { class: "panel", id: "components" }),
  sessions: h("section", { class: "panel", id: "sessions" }),
};

function stageOf(component) {
  return STAGE[component.kind] ?? 3;
}

/** Return each component's box {x, y} for `vertical` or horizontal flow, and the canvas size. */
export function layoutNodes(components, vertical) {
  const stages = [[], [], [], []];
  for (const c of components) stages[stageOf(c)].push(c);
  const used = stages.filter((s) => s.length);
  const tallest = Math.max(...used.map((s) => s.length));
  const gapAlong = vertical ? 60 : 140;
  const gapAcross = vertical ? 14 : 18;
  const along = vertical ? NODE_H : NODE_W;
  const across = vertical ? NODE_W : NODE_H;
  const spanAcross = tallest * across + (tallest - 1) * gapAcross;
  const place = new Map();
  used.forEach((stage, i) => {
    const span = stage.length * across + (stage.length - 1) * gapAcross;
    stage.forEach((c, j) => {
      const a = 10 + i * (along + gapAlong);
      const b = 10 + (spanAcross - span) / 2 + j * (across + gapAcross);
      place.set(c.id, vertical ? { x: b, y: a } : { x: a, y: b });
    });
  });
  const length = 20 + used.length * along + (used.length - 1) * gapAlong;
  const width = vertical ? spanAcross + 20 : length;
  const height = vertical ? length : spanAcross + 20;
  return { place, width, height };
}

function shorten(text, limit) {
  const clean = String(text ?? "");
  return clean.length > limit ? `${clean.slice(0, limit - 1)}…` : clean;
}

/** Return the edge's curve, and where its label goes: beside the arrow's head, so the labels
of a fan-out (server to alerts, metrics, dashboards) sit by their own targets. */
function edgePath(from, to, vertical) {
  if (vertical) {
    const x1 = from.x + NODE_W / 2;
    const y1 = from.y + NODE_H;
    const x2 = to.x + NODE_W / 2;
    const y2 = to.y;
    const mid = (y1 + y2) / 2;
    return { d: `M${x1},${y1} C${x1},${mid} ${x2},${mid} ${x2},${y2 - 4}`, lx: x2, ly: y2 - 10, anchor: "middle" };
  }
  const x1 = from.x + NODE_W;
  const y1 = from.y + NODE_H / 2;
  const x2 = to.x;
  const y2 = to.y + NODE_H / 2;
  const mid = (x1 + x2) / 2;
  return { d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2 - 4},${y2}`, lx: x2 - 8, ly: y2 - 6, anchor: "end" };
}

function edgeLabel(hop) {
  const parts = [`${hop.events ?? 0} events`];
  if (hop.dropped) parts.push(`${hop.dropped} dropped`);
  if (hop.lag_s !== null && hop.lag_s !== undefined) parts.push(`lag ${(hop.lag_s * 1000).toFixed(0)} ms`);
  if (hop.clients !== undefined) parts.push(`${hop.clients} open`);
  return parts.join(" · ");
}

function drawDiagram(system) {
  const components = listOf(system.components || []);
  const flow = listOf(system.flow || []);
  const vertical = view.diagram.clientWidth < 620;
  const { place, width, height } = layoutNodes(components, vertical);
  const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "8", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" }, svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#9aa5b1" }));
  const edges = flow
    .filter((hop) => place.has(hop.from) && place.has(hop.to))
    .map((hop) => {
      const { d, lx, ly, anchor } = edgePath(place.get(hop.from), place.get(hop.to), vertical);
      return svg(
        "g",
        { class: "edge", "data-from": hop.from, "data-to": hop.to, "data-events": hop.events ?? 0 },
        svg("path", { d, "marker-end": "url(#arrow)" }),
        svg("text", { x: lx, y: ly, "text-anchor": anchor }, edgeLabel(hop)),
      );
    });
  const nodes = components.map((c) => {
    const { x, y } = place.get(c.id);
    const title = c.kind === "session" ? c.id.replace(/^session:/, "session ") : c.id;
    return svg(
      "g",
      { class: "node", "data-id": c.id, "data-kind": c.kind, "data-health": c.health, tabindex: "0" },
      svg("title", {}, `${c.id}: ${c.health} (${c.detail || ""})`),
      svg("rect", { x, y, width: NODE_W, height: NODE_H, rx: 6 }),
      svg("text", { x: x + 10, y: y + 20 }, shorten(title, 22)),
      svg("text", { x: x + 10, y: y + 39, class: "sub" }, shorten(`${c.health} · ${c.detail || ""}`, 27)),
    );
  });
  const picture = svg(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "components and the message flow between them", "data-nodes": components.length, "data-edges": edges.length, style: `max-width:${width}px` },
    svg("defs", {}, marker),
    edges,
    nodes,
  );
  fill(
    view.diagram,
    h("h2", {}, "Message flow"),
    h("p", { class: "small muted" }, "A session publishes what it does (live.<run>.<kind>) on the bus; the server numbers each event and hands it to the alerts, the metrics and the dashboards."),
    picture,
  );
}

function drawComponents(system) {
  const columns = [{ label: "Component" }, { label: "Kind" }, { label: "Health" }, { label: "Detail", wrap: true }];
  const components = listOf(system.components || []);
  fill(
    view.components,
    h("h2", {}, "Components"),
    table(columns, components.map((c) => row(columns, [c.id, c.kind, badge(c.health, TONE[c.health] ?? "warn"), c.detail || ""], { dataset: { component: c.id, health: c.health } }))),
  );
}

function drawSessions(system) {
  const sessions = listOf(system.sessions || []);
  const columns = [{ label: "Run" }, { label: "Mode" }, { label: "Strategy" }, { label: "Status" }, { label: "Health" }, { label: "Heartbeat age", num: true }, { label: "Bus lag", num: true }, { label: "Events", num: true }, { label: "Equity", num: true }, { label: "Started" }];
  fill(
    view.sessions,
    h("h2", {}, "Sessions the server hears"),
    sessions.length
      ? table(
          columns,
          sessions.map((s) =>
            row(
              columns,
              [
                h("a", { href: `index.html?run=${encodeURIComponent(s.run_id)}` }, s.run_id),
                s.mode,
                strategyLabel(s.strategy),
                s.status + (s.reason ? `: ${s.reason}` : ""),
                badge(s.health, TONE[s.health] ?? "warn"),
                `${age(s.heartbeat_age_s)} (every ${s.heartbeat_s} s)`,
                s.bus_lag_s === null || s.bus_lag_s === undefined ? "—" : `${(s.bus_lag_s * 1000).toFixed(1)} ms`,
                s.events,
                money(s.account && s.account.equity),
                when(s.started_ns),
              ],
              { dataset: { session: s.run_id, health: s.health } },
            ),
          ),
          { id: "sessions-table" },
        )
      : empty("no session is publishing to this server; start one beside it", "coinswarm paper --bus nats://127.0.0.1:4222"),
  );
}

function drawStatus(system) {
  const server = system.server || {};
  fill(
    view.status,
    h("p", {}, badge(system.status, system.status === "ok" ? "good" : "bad"), " ", system.status === "ok" ? "every component is healthy" : "a component is down or failing: see below"),
    kv([
      ["server", `coinswarm ${server.version || ""}, pid ${server.pid ?? "?"}, up ${age(server.uptime_s)}`],
      ["live hub", server.hub ? `${server.hub.published} events, ${server.hub.clients} dashboards open, ${server.hub.dropped_clients} slow clients dropped` : null],
    ]),
  );
}

let last = null;

async function load() {
  try {
    last = await get("/api/system");
    drawStatus(last);
    drawDiagram(last);
    drawComponents(last);
    drawSessions(last);
    document.body.dataset.ready = "true";
  } catch (error) {
    fill(view.diagram, problem(error, "read the system's state"));
    document.body.dataset.ready = "true";
  }
}

fill(main, h("h1", {}, "Architecture"), view.status, view.diagram, h("div", { class: "grid" }, view.components, view.sessions));
load();
setInterval(load, POLL_MS);
const reload = throttle(load, 1000);
for (const kind of ["start", "stop", "error", "gap"]) live.on(kind, reload);
window.addEventListener("resize", throttle(() => last && drawDiagram(last), 250));
