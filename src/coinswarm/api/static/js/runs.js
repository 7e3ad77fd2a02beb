// Which run a page shows: ?run= in the address, else a running session, else the newest run.
//
// A running paper, sandbox or live session comes first because that is what a person opening
// the dashboards during the day wants to watch; a finished backtest is the fallback.

import { get } from "./api.js";
import { fill, h, listOf, pick, toNs, when } from "./dom.js";
import { empty, problem } from "./layout.js";

const SESSIONS = ["live", "sandbox", "paper"];

/** Return a run's id, whatever the API named it. */
export function runId(run) {
  return pick(run, "run_id", "run", "id");
}

export function runMode(run) {
  return pick(run, "mode") || "";
}

export function runStatus(run) {
  return pick(run, "status") || "";
}

function started(run) {
  const ns = toNs(pick(run, "started_ns", "started", "created_ns", "created"));
  return Number.isNaN(ns) ? 0 : ns;
}

/** Return the run to show first: a running session (live before sandbox before paper), else the newest. */
export function preferred(runs) {
  const running = runs.filter((r) => runStatus(r) === "running" && SESSIONS.includes(runMode(r)));
  running.sort((a, b) => SESSIONS.indexOf(runMode(a)) - SESSIONS.indexOf(runMode(b)) || started(b) - started(a));
  if (running.length) return running[0];
  return [...runs].sort((a, b) => started(b) - started(a))[0];
}

/** Return the stored runs (newest first). */
export async function loadRuns(params = {}) {
  const runs = listOf(await get("/api/runs", { limit: 200, ...params }), "runs");
  return runs.sort((a, b) => started(b) - started(a));
}

/**
 * Return the stored runs for a page titled `title`, or null once `main` says why there are
 * none to show (the API refused, or nothing has run yet); the page is then ready as it is.
 */
export async function runsOrNotice(main, title) {
  let runs;
  try {
    runs = await loadRuns();
  } catch (error) {
    fill(main, h("h1", {}, title), problem(error, "list the runs"));
  }
  if (runs && !runs.length) fill(main, h("h1", {}, title), empty("no runs yet", "coinswarm demo"));
  if (runs && runs.length) return runs;
  document.body.dataset.ready = "true";
  return null;
}

/** Return the id the address asks for (?run=), or null. */
export function askedRun() {
  return new URLSearchParams(location.search).get("run");
}

/** Return a strategy's name without a file's folder and digest: "hold.py:Hold", "committee". */
export function strategyLabel(strategy) {
  const text = String(strategy || "");
  const pinned = text.split("@sha256:")[0];
  return pinned.includes("/") ? pinned.slice(pinned.lastIndexOf("/") + 1) : pinned;
}

/** Return a label a person can tell runs apart by: "paper · committee · running · 2024-...". */
export function runLabel(run) {
  const parts = [runMode(run), strategyLabel(pick(run, "strategy")), runStatus(run)].filter(Boolean);
  const at = pick(run, "started_ns", "started", "created");
  return `${runId(run)} · ${parts.join(" · ")}${at ? ` · ${when(at)}` : ""}`;
}

/** Return a select of `runs` with `chosen` selected; choosing one changes ?run= and calls `onChoose`. */
export function picker(runs, chosen, onChoose) {
  const select = h(
    "select",
    {
      id: "run-picker",
      "aria-label": "run",
      onchange: () => {
        const url = new URL(location.href);
        url.searchParams.set("run", select.value);
        url.searchParams.delete("order");
        history.replaceState(null, "", url);
        onChoose(select.value);
      },
    },
    runs.map((r) => h("option", { value: runId(r), selected: runId(r) === chosen }, runLabel(r))),
  );
  return h("label", { class: "inline grow" }, "Run ", select);
}
