// Agents: the swarm (each agent's votes and the weight the committee gives it, with the
// latest votes as they arrive) and the rankings (hit rate, in total and per UTC day, charted).
//
// A hit is a vote whose direction matched the next bar's move; holds and vetoes are not
// scored. Each vote is scored on a bar it had not seen, so a hit rate is out-of-sample, walk
// forward; the page says so beside each figure.

import { get } from "../api.js";
import { TimeChart, color } from "../charts.js";
import { badge, fill, h, listOf, percent, row, table, when } from "../dom.js";
import { empty, mount, problem, throttle } from "../layout.js";
import { live } from "../live.js";
import { askedRun, picker, preferred, runId, runsOrNotice } from "../runs.js";
import { meter } from "../widgets.js";

const main = mount("agents", { kinds: ["verdict", "start", "stop"] });
const FEED_SIZE = 12;
const WINDOW_DAYS = 30;

/** Return the hit rate over the trailing `window` UTC days at each day: [{time, value (0..1)}]. */
export function rollingHitRate(days, window = WINDOW_DAYS) {
  const dated = days.map((d) => ({ time: Date.parse(`${d.day}T00:00:00Z`) / 1000, hits: d.hits || 0, scored: d.scored || 0 })).sort((a, b) => a.time - b.time);
  const out = [];
  let hits = 0;
  let scored = 0;
  let start = 0;
  for (const day of dated) {
    hits += day.hits;
    scored += day.scored;
    while (dated[start].time <= day.time - window * 86400) {
      hits -= dated[start].hits;
      scored -= dated[start].scored;
      start += 1;
    }
    if (scored > 0) out.push({ time: day.time, value: hits / scored });
  }
  return out;
}

const state = { run: null, report: null, charts: [], feed: [] };
const view = {
  toolbar: h("div", { class: "toolbar" }),
  swarm: h("section", { class: "panel", id: "swarm" }),
  feed: h("section", { class: "panel", id: "vote-feed" }),
  rankings: h("section", { class: "panel", id: "rankings" }),
  charts: h("section", { class: "panel", id: "hit-rate-charts" }),
};

function agentCard(agent, maxWeight) {
  const total = agent.buys + agent.sells + agent.holds || 1;
  return h(
    "div",
    { class: "card", dataset: { agent: agent.agent } },
    h("div", { class: "label" }, agent.agent),
    h("div", { class: "value" }, `${agent.votes} votes`),
    h("div", { class: "sub" }, `buy ${percent(agent.buys / total, 0)} · sell ${percent(agent.sells / total, 0)} · hold ${percent(agent.holds / total, 0)}${agent.vetoes ? ` · ${agent.vetoes} vetoes` : ""}`),
    meter("weight now", `${Number(agent.weight).toFixed(3)} (mean ${Number(agent.mean_weight).toFixed(3)})`, maxWeight > 0 ? agent.weight / maxWeight : NaN, {}, { of: "of the heaviest", neutral: true }),
  );
}

function drawSwarm(report) {
  const agents = listOf(report, "agents");
  const maxWeight = Math.max(0, ...agents.map((a) => Number(a.weight) || 0));
  fill(
    view.swarm,
    h("h2", {}, "The swarm"),
    h("p", { class: "small muted" }, "Each agent's votes in this run and the weight the committee gives it now (bars relative to the heaviest agent)."),
    agents.length ? h("div", { class: "cards" }, agents.map((a) => agentCard(a, maxWeight))) : empty("this run has no committee votes (only the committee strategy votes)", "coinswarm demo"),
  );
}

function drawRankings(report) {
  const agents = [...listOf(report, "agents")].sort((a, b) => (b.hit_rate ?? -1) - (a.hit_rate ?? -1));
  const columns = [{ label: "#" }, { label: "Agent" }, { label: "Hit rate (out-of-sample: next bar)", num: true }, { label: "Hits / scored", num: true }, { label: "Votes", num: true }, { label: "Weight", num: true }];
  fill(
    view.rankings,
    h("h2", {}, "Rankings"),
    report.hit_basis === "unavailable"
      ? h("div", { class: "notice" }, "This run's bars were not kept, so votes are counted but not scored: no hit rates.")
      : h("p", { class: "small muted" }, "A hit: the vote's direction matched the next bar's close-to-close move. Holds and vetoes are not scored."),
    agents.length
      ? table(
          columns,
          agents.map((a, i) => row(columns, [String(i + 1), a.agent, a.hit_rate === null || a.hit_rate === undefined ? "—" : percent(a.hit_rate, 1), `${a.hits} / ${a.scored}`, a.votes, Number(a.weight).toFixed(3)], { dataset: { agent: a.agent } })),
          { id: "rankings-table" },
        )
      : empty("no agents voted in this run"),
  );
}

function drawCharts(report) {
  for (const chart of state.charts) chart.remove();
  state.charts = [];
  const agents = listOf(report, "agents").filter((a) => (a.days || []).some((d) => d.hit_rate !== null && d.hit_rate !== undefined));
  const hitBox = h("div", { id: "hit-rate-chart", class: "chart" });
  const weightBox = h("div", { id: "weight-chart", class: "chart short" });
  fill(
    view.charts,
    h("h2", {}, `Hit rate over time (out-of-sample: each vote scored on the next bar; trailing ${WINDOW_DAYS} days)`),
    agents.length ? [hitBox, h("h3", {}, "Weight over time (mean per UTC day)"), weightBox, legend(agents)] : empty("no scored votes yet, so nothing to chart"),
  );
  if (!agents.length) return;
  const series = agents.map((a, i) => ({ name: a.agent, color: color(i) }));
  const hits = new TimeChart(hitBox, series, { percent: true });
  const weights = new TimeChart(weightBox, series);
  agents.forEach((a, i) => {
    hits.set(i, rollingHitRate(a.days || []).map((p) => ({ time: p.time, value: p.value * 100 })));
    weights.set(i, (a.days || []).map((d) => ({ time: Date.parse(`${d.day}T00:00:00Z`) / 1000, value: Number(d.weight) })));
  });
  state.charts = [hits, weights];
}

function legend(agents) {
  return h("p", { class: "small" }, agents.map((a, i) => h("span", { style: `color:${color(i)};margin-right:1rem` }, `■ ${a.agent}`)));
}

function drawFeed() {
  const columns = [{ label: "Time" }, { label: "Instrument" }, { label: "Verdict" }, { label: "Votes (agent, vote, confidence)" }];
  fill(
    view.feed,
    h("h2", {}, "Latest votes (live)"),
    state.feed.length
      ? table(
          columns,
          state.feed.map((v) =>
            row(columns, [when(v.ts_ns ?? v.ts), v.instrument, badge(String(v.action || "").toLowerCase(), "info"), h("span", { class: "small" }, (v.votes || []).map((x) => `${x.agent} ${String(x.action ?? x.direction).toLowerCase()} ${Number(x.confidence).toFixed(2)}`).join(" · "))]),
          ),
          { id: "vote-feed-table" },
        )
      : h("p", { class: "muted" }, "votes appear here as a running session makes them"),
  );
}

async function loadRun(id) {
  state.run = id;
  state.feed = [];
  fill(main, h("h1", {}, "Agents"), view.toolbar, view.swarm, h("div", { class: "grid" }, view.rankings, view.feed), view.charts);
  drawFeed();
  try {
    state.report = await get("/api/agents", { run: id });
    drawSwarm(state.report);
    drawRankings(state.report);
    drawCharts(state.report);
  } catch (error) {
    fill(view.swarm, problem(error, "read the agents"));
  }
  try {
    const recent = await get(`/api/runs/${encodeURIComponent(id)}/verdicts`, { limit: FEED_SIZE });
    state.feed = listOf(recent, "verdicts");
    drawFeed();
  } catch {
    /* a run without verdicts: the feed stays empty */
  }
  document.body.dataset.ready = "true";
}

async function start() {
  const runs = await runsOrNotice(main, "Agents");
  if (!runs) return;
  const committee = runs.filter((r) => r.strategy === "committee");
  const chosen = runs.find((r) => runId(r) === askedRun()) || preferred(committee.length ? committee : runs);
  fill(view.toolbar, picker(runs, runId(chosen), (id) => loadRun(id)));
  await loadRun(runId(chosen));
}

const reloadReport = throttle(async () => {
  if (!state.run) return;
  try {
    state.report = await get("/api/agents", { run: state.run });
    drawSwarm(state.report);
    drawRankings(state.report);
  } catch {
    /* keep what is shown; the next verdict tries again */
  }
}, 10000);

live.on("verdict", (event) => {
  if (event.run_id !== state.run) return;
  state.feed = [event, ...state.feed].slice(0, FEED_SIZE);
  drawFeed();
  reloadReport();
});
live.on("gap", () => state.run && loadRun(state.run));

start();
