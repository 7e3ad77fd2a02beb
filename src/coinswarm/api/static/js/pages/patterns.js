// Pattern leaderboard: every discovered pattern with its source, its in-sample and
// out-of-sample scores, the deflated Sharpe, the PBO of the search that judged it, its lineage,
// and whether it is proven or demoted, with the reason. Every score names its sample.

import { get } from "../api.js";
import { badge, fill, h, listOf, percent, row, score, table, when } from "../dom.js";
import { empty, mount, problem } from "../layout.js";
import { kv } from "../widgets.js";

const main = mount("patterns", { kinds: ["start", "stop"] });

const COLUMNS = [
  { label: "#" },
  { label: "Pattern" },
  { label: "Source" },
  { label: "Standing" },
  { label: "Timeframe" },
  { label: "In-sample Sharpe", num: true },
  { label: "Out-of-sample Sharpe", num: true },
  { label: "Out-of-sample deflated Sharpe", num: true },
  { label: "PBO of its search", num: true },
  { label: "Out-of-sample trades", num: true },
  { label: "Holdout Sharpe (out-of-sample)", num: true },
  { label: "Parents", num: true },
  { label: "Why" },
];

const STANDING = {
  proven: ["proven", "good"],
  retired: ["demoted", "bad"],
  rejected: ["rejected", "bad"],
  candidate: ["candidate", "info"],
  imported: ["imported", "info"],
};

const state = { status: "", selected: null, patterns: [] };
const view = {
  progress: h("section", { class: "panel", id: "evolution" }),
  filters: h("div", { class: "toolbar" }),
  board: h("section", { class: "panel", id: "leaderboard" }),
  detail: h("section", { class: "panel", id: "pattern-detail", "aria-live": "polite", hidden: true }),
};

function standing(pattern) {
  const [word, tone] = STANDING[pattern.status] || [pattern.status, ""];
  return badge(word, tone);
}

function leaderRow(pattern, rank) {
  return row(
    COLUMNS,
    [
      String(rank),
      h("span", { class: "mono" }, pattern.pattern_id),
      h("span", { class: "badge info source", title: pattern.reference || "" }, pattern.source),
      standing(pattern),
      pattern.timeframe,
      score(pattern.in_sample_sharpe),
      score(pattern.out_of_sample_sharpe),
      score(pattern.out_of_sample_deflated_sharpe, 3),
      score(pattern.search_pbo, 3),
      pattern.out_of_sample_trades ?? "—",
      score(pattern.holdout_sharpe),
      String((pattern.parents || []).length),
      h("span", { class: "clip", title: pattern.reason }, pattern.reason),
    ],
    {
      class: `clickable${state.selected === pattern.pattern_id ? " selected" : ""}`,
      tabindex: "0",
      dataset: { pattern: pattern.pattern_id, source: pattern.source, status: pattern.status, run: pattern.run_id },
      onclick: () => choose(pattern),
      onkeydown: (event) => event.key === "Enter" && choose(pattern),
    },
  );
}

function drawBoard() {
  const patterns = state.patterns;
  view.board.dataset.count = String(patterns.length);
  fill(
    view.board,
    h("h2", {}, `Leaderboard (${patterns.length})`),
    h("p", { class: "small muted" }, "Click a pattern for its scores, its rule and its lineage."),
    h("p", { class: "small muted" }, "Ranked proven first, then by the out-of-sample deflated Sharpe (the Sharpe after the penalty for every trial the search made). In-sample scores are what the search fitted on; out-of-sample scores are on data it never saw."),
    patterns.length
      ? table(COLUMNS, patterns.map((p, i) => leaderRow(p, i + 1)), { id: "leaderboard-table" })
      : state.status
        ? empty(`no ${state.status} patterns`)
        : empty("no patterns yet", "coinswarm evolve --demo"),
  );
}

function filters() {
  const select = h(
    "select",
    {
      id: "status-filter",
      "aria-label": "standing",
      onchange: () => {
        state.status = select.value;
        loadBoard();
      },
    },
    [["", "every standing"], ["proven", "proven"], ["candidate", "candidates"], ["retired", "demoted"], ["rejected", "rejected"], ["imported", "imported"]].map(([value, label]) =>
      h("option", { value, selected: value === state.status }, label),
    ),
  );
  return h("label", { class: "inline" }, "Show ", select);
}

function progressView(evolution) {
  const runs = listOf(evolution, "runs");
  if (!runs.length) return [h("h2", {}, "Discovery"), empty("no discovery run yet", "coinswarm evolve --demo")];
  const columns = [{ label: "Run" }, { label: "Status" }, { label: "Cycles", num: true }, { label: "Trials", num: true }, { label: "Candidates", num: true }, { label: "Proven", num: true }, { label: "Started" }];
  return [
    h("h2", {}, "Discovery ", badge(evolution.status, evolution.status === "running" ? "info" : "")),
    kv([
      ["cycles", evolution.cycles],
      ["trials (the multiple-testing count)", evolution.trials],
      ["candidates", evolution.candidates],
      ["proven", evolution.proven],
    ]),
    table(
      columns,
      runs.slice(0, 10).map((r) =>
        row(columns, [
          h("span", { class: "mono" }, r.run_id),
          r.status,
          `${r.cycles_done}${r.cycles_planned ? ` / ${r.cycles_planned}` : ""}${r.progress !== null && r.progress !== undefined ? ` (${percent(r.progress, 0)})` : ""}`,
          r.trials,
          r.candidates,
          r.proven,
          when(r.created_ns),
        ]),
      ),
      { class: "evolution-runs" },
    ),
  ];
}

function scoresTable(scores) {
  const columns = [{ label: "Sample" }, { label: "Cycle", num: true }, { label: "Trades", num: true }, { label: "Return", num: true }, { label: "Sharpe", num: true }, { label: "Deflated Sharpe", num: true }, { label: "PBO", num: true }, { label: "Trials", num: true }, { label: "Max drawdown", num: true }];
  const words = { in_sample: "in-sample", out_of_sample: "out-of-sample", holdout: "holdout (out-of-sample)" };
  return table(
    columns,
    scores.map((s) =>
      row(columns, [
        badge(words[s.sample] || s.sample, s.sample === "in_sample" ? "warn" : "good"),
        s.cycle,
        s.trades,
        percent(s.net_return),
        score(s.sharpe),
        score(s.deflated_sharpe, 3),
        score(s.pbo, 3),
        s.n_trials ?? "—",
        percent(s.max_drawdown),
      ]),
    ),
    { class: "scores" },
  );
}

function lineageView(detail) {
  const links = listOf(detail.lineage || []);
  if (!links.length) return h("p", { class: "muted" }, "no parents: it was born, not bred");
  return h(
    "ul",
    { class: "lineage" },
    links.map((l) => h("li", {}, h("span", { class: "mono" }, l.child_id), " ← ", h("button", { type: "button", class: "link", onclick: () => choose({ pattern_id: l.parent_id, run_id: l.run_id }) }, l.parent_id))),
  );
}

async function choose(pattern) {
  const id = pattern.pattern_id;
  state.selected = id;
  for (const tr of view.board.querySelectorAll("tr[data-pattern]")) tr.classList.toggle("selected", tr.dataset.pattern === id);
  view.detail.dataset.pattern = id;
  view.detail.hidden = false;
  delete view.detail.dataset.loaded;
  fill(view.detail, h("p", { class: "muted" }, `Loading ${id}…`));
  try {
    const detail = await get(`/api/patterns/${encodeURIComponent(id)}`, { run: pattern.run_id });
    fill(
      view.detail,
      h("h2", {}, "Pattern ", h("span", { class: "mono" }, detail.pattern_id), " ", standing(detail)),
      h("p", {}, detail.reason),
      kv([
        ["source", h("span", { class: "badge info" }, detail.source)],
        ["reference", detail.reference],
        ["rule", h("code", {}, detail.rule)],
        ["timeframe", detail.timeframe],
        ["discovery run", h("span", { class: "mono" }, detail.run_id)],
        ["born in cycle", detail.born_cycle],
        ["demoted in cycle", detail.retired_cycle],
        ["search trials", detail.search_trials],
        ["reality check p (out-of-sample)", score(detail.out_of_sample_reality_check_p, 3)],
        ["random-entry p (out-of-sample)", score(detail.out_of_sample_random_entry_p, 3)],
      ]),
      h("h3", {}, "Scores"),
      listOf(detail.scores || []).length ? scoresTable(listOf(detail.scores)) : h("p", { class: "muted" }, "no scores stored"),
      h("h3", {}, "Lineage"),
      lineageView(detail),
    );
    view.detail.dataset.loaded = "true";
  } catch (error) {
    fill(view.detail, problem(error, `read pattern ${id}`));
  }
  view.detail.scrollIntoView({ behavior: "smooth", block: "start" });
}

async function loadBoard() {
  try {
    state.patterns = listOf(await get("/api/patterns", { limit: 500, status: state.status || undefined }), "patterns");
    drawBoard();
  } catch (error) {
    fill(view.board, problem(error, "read the patterns"));
  }
}

async function loadProgress() {
  try {
    const evolution = await get("/api/evolution");
    fill(view.progress, progressView(evolution));
    return evolution.status === "running";
  } catch (error) {
    fill(view.progress, problem(error, "read the discovery runs"));
    return false;
  }
}

async function start() {
  fill(main, h("h1", {}, "Pattern leaderboard"), view.progress, view.filters, view.detail, view.board);
  fill(view.filters, filters());
  const [running] = await Promise.all([loadProgress(), loadBoard()]);
  document.body.dataset.ready = "true";
  // Discovery publishes no live events of its own: while a run is going, look again now and then.
  if (running) setInterval(() => loadProgress().then(loadBoard), 30000);
}

start();
