// Risk: for each mode a person watches, each hard limit and how close it is, the stops in
// force, the breaker's history, and the kill switch behind a guarded button.
//
// The emergency stop asks for the mode's name typed out and a reason before it sends
// anything: a stop flattens every position of that mode's sessions, so a stray click must
// not be enough. Only the operator's token may send it; the server audits who did.

import { ApiError, get, post } from "../api.js";
import { badge, fill, h, listOf, percent, row, table, when } from "../dom.js";
import { empty, mount, problem, throttle, toast } from "../layout.js";
import { live, replay } from "../live.js";
import { kv, meter } from "../widgets.js";

const main = mount("risk", { kinds: ["risk", "stop", "start", "equity"] });

const LIMIT_NAMES = {
  daily_loss: "Daily loss",
  total_loss: "Total loss (drawdown from the peak)",
  position: "Largest position's share of equity",
  trades_today: "Orders today",
  positions: "Positions held at once",
  losing_days: "Losing days in a row",
};

const HISTORY_COLUMNS = [{ label: "Time" }, { label: "Run" }, { label: "Source" }, { label: "Event" }, { label: "By" }, { label: "Reason", wrap: true }];

function figure(value, unit) {
  if (value === null || value === undefined) return "—";
  return unit === "fraction" ? percent(value) : String(value);
}

function limitMeter(limit) {
  const name = LIMIT_NAMES[limit.name] || limit.name;
  const used = figure(limit.used, limit.unit);
  const closeness = limit.closeness === null || limit.closeness === undefined ? NaN : Number(limit.closeness);
  return h(
    "div",
    { dataset: { limit: limit.name, live: limit.live ? "true" : undefined } },
    meter(name, `${used} used of ${figure(limit.limit, limit.unit)}`, closeness),
    limit.detail ? h("div", { class: "small muted" }, limit.detail) : null,
  );
}

function stateBadges(mode) {
  return [
    mode.stopped ? badge("stopped: no new exposure", "bad") : badge("trading allowed", "good"),
    " ",
    mode.breaker_tripped ? badge(mode.breaker_latched ? "breaker latched" : "breaker tripped", "bad") : badge("breaker armed", "good"),
    mode.pending_actions ? [" ", badge(`${mode.pending_actions} action(s) waiting for the session`, "warn")] : null,
  ];
}

function history(events) {
  if (!events.length) return h("p", { class: "muted" }, "no breaker trips or stops recorded");
  return table(
    HISTORY_COLUMNS,
    events.map((e) => row(HISTORY_COLUMNS, [when(e.ts), h("span", { class: "mono" }, e.run), e.live ? `${e.source} (live)` : e.source, e.kind, e.actor || "", e.reason])),
    { class: "breaker-history" },
  );
}

function controls(mode) {
  const name = mode.mode;
  return h(
    "div",
    { class: "toolbar" },
    h("button", { type: "button", onclick: () => ask("pause", name), dataset: { action: "pause", mode: name } }, "Pause"),
    h("button", { type: "button", onclick: () => ask("resume", name), dataset: { action: "resume", mode: name } }, "Resume"),
    h("span", { class: "grow" }),
    h("button", { type: "button", class: "danger", onclick: () => ask("stop", name), dataset: { action: "stop", mode: name }, id: `kill-${name}` }, `Emergency stop ${name}`),
  );
}

function modeSection(mode) {
  const limits = listOf(mode.limits || []);
  const stops = listOf(mode.stops || []);
  return h(
    "section",
    { class: "panel", id: `mode-${mode.mode}`, dataset: { mode: mode.mode, stopped: String(Boolean(mode.stopped)) } },
    h("h2", {}, `${mode.mode}`, mode.profile ? h("span", { class: "muted" }, ` · ${mode.profile}`) : null, mode.phase !== null && mode.phase !== undefined ? h("span", { class: "muted" }, ` · phase ${mode.phase}`) : null),
    h("p", { class: "kill-state" }, stateBadges(mode)),
    kv([
      ["latest run", mode.run ? h("a", { href: `index.html?run=${encodeURIComponent(mode.run)}` }, mode.run) : "none yet"],
      ["its status", mode.run_status],
      ["breaker reason", mode.breaker_reason],
      ["breaker resumes", mode.breaker_resume_ts ? when(mode.breaker_resume_ts) : null],
    ]),
    h("h3", {}, "Limits: how close each is"),
    limits.length ? limits.map(limitMeter) : empty("no limits known for this mode yet"),
    h("h3", {}, "Stops in force"),
    stops.length ? h("ul", { class: "stops" }, stops.map((s) => h("li", {}, h("strong", {}, s.kind), `: ${s.reason}`))) : h("p", { class: "muted" }, "none"),
    h("h3", {}, "Kill switch"),
    controls(mode),
    h("h3", {}, "Breaker history"),
    history(listOf(mode.breaker_history || [])),
    (mode.log || []).length ? h("details", {}, h("summary", {}, "the state file's latest lines"), h("pre", { class: "lines" }, mode.log.join("\n"))) : null,
  );
}

function sharedSection(shared) {
  if (!shared) return null;
  return h(
    "section",
    { class: "panel", id: "shared-switch" },
    h("h2", {}, "Shared kill switch"),
    h("p", {}, shared.set ? badge("set: every session sharing it is stopped", "bad") : badge("not set", "good")),
    kv([
      ["where", shared.where],
      ["set by", shared.by],
      ["reason", shared.reason],
      ["since", shared.ts ? when(shared.ts) : null],
    ]),
  );
}

/**
 * Fill in, from a running session's latest equity event (GET /api/system), the loss limits
 * the stored state cannot measure yet: a paper session writes its account only at
 * checkpoints, so its figures are fresher on the live feed than in its files.
 */
export function withLiveFigures(mode, sessions) {
  const session = sessions.find((s) => s.run_id === mode.run && s.status === "running" && s.account);
  if (!session) return mode;
  const account = session.account;
  const equity = Number(account.equity);
  const dayPnl = Number(account.day_pnl);
  const dayStart = equity - dayPnl;
  const measured = {
    daily_loss: dayStart > 0 && Number.isFinite(dayPnl) ? Math.max(0, -dayPnl) / dayStart : null,
    total_loss: Number.isFinite(Number(account.drawdown)) ? Math.abs(Number(account.drawdown)) : null,
  };
  const limits = listOf(mode.limits || []).map((limit) => {
    const used = measured[limit.name];
    if ((limit.used !== null && limit.used !== undefined) || used === null || used === undefined) return limit;
    const detail = `from the running session's latest equity event (${when(account.ts_ns)})`;
    return { ...limit, used, closeness: used / Number(limit.limit), detail, live: true };
  });
  return { ...mode, limits };
}

/** Return a live `risk` event as a row of the breaker history. */
function historyRow(event) {
  return { ts: event.ts_ns, run: event.run_id, source: event.source, kind: event.event, reason: event.reason, actor: event.by, live: true };
}

/** Add to a running session's breaker history what its live events say and its store does
 * not hold yet (a paper session stores its risk events at checkpoints). */
async function withLiveHistory(mode, sessions) {
  const running = sessions.some((s) => s.run_id === mode.run && s.status === "running");
  if (!running) return mode;
  const stored = listOf(mode.breaker_history || []);
  const seen = new Set(stored.map((e) => `${e.ts}|${e.kind}`));
  const events = (await replay({ run: mode.run, kinds: ["risk"], quietMs: 200, maxMs: 2000 })).map(historyRow);
  const fresh = events.filter((e) => !seen.has(`${e.ts}|${e.kind}`)).reverse();
  return { ...mode, breaker_history: [...fresh, ...stored] };
}

async function load() {
  try {
    const [report, system] = await Promise.all([get("/api/risk"), get("/api/system").catch(() => ({ sessions: [] }))]);
    const sessions = listOf(system, "sessions");
    const modes = await Promise.all(listOf(report, "modes").map((mode) => withLiveHistory(withLiveFigures(mode, sessions), sessions)));
    fill(
      main,
      h("h1", {}, "Risk"),
      modes.length ? h("div", { class: "grid modes" }, modes.map(modeSection)) : empty("no paper, sandbox or live mode has run yet", "coinswarm paper"),
      sharedSection(report.shared),
    );
  } catch (error) {
    fill(main, h("h1", {}, "Risk"), problem(error, "read the risk state"));
  }
  document.body.dataset.ready = "true";
}

// ---- the guarded actions

const WORDS = {
  stop: { title: "Emergency stop", button: "Stop and flatten", explain: "The kill switch and the breaker engage; every open order is cancelled and every position is closed at market. A person must reset it." },
  pause: { title: "Pause", button: "Pause", explain: "New orders are refused and open ones cancelled; positions stay as they are." },
  resume: { title: "Resume", button: "Resume", explain: "Lifts a pause or a person's stop. A loss limit's stop cannot be lifted here." },
};

const dialog = h("dialog", { id: "confirm", "aria-labelledby": "confirm-title" });
document.body.append(dialog);

function ask(action, mode) {
  const words = WORDS[action];
  const typed = h("input", { name: "typed", id: "confirm-mode", autocomplete: "off", required: true, spellcheck: "false" });
  const reason = h("input", { name: "reason", id: "confirm-reason", autocomplete: "off", required: true, maxlength: "200" });
  const send = h("button", { type: "submit", class: action === "stop" ? "danger" : "primary", id: "confirm-send", disabled: true }, words.button);
  const outcome = h("div", { id: "confirm-outcome", "aria-live": "assertive" });
  const guarded = action === "stop";
  const ready = () => {
    send.disabled = !reason.value.trim() || (guarded && typed.value.trim() !== mode);
  };
  typed.addEventListener("input", ready);
  reason.addEventListener("input", ready);
  const form = h(
    "form",
    {
      method: "dialog",
      onsubmit: async (event) => {
        event.preventDefault();
        send.disabled = true;
        await act(action, mode, reason.value.trim(), outcome);
      },
    },
    h("h2", { id: "confirm-title" }, `${words.title}: ${mode}`),
    h("p", {}, words.explain),
    guarded ? h("label", {}, `Type the mode's name (${mode}) to confirm`, typed) : null,
    h("label", {}, "Reason (one line, written to the audit log)", reason),
    outcome,
    h("div", { class: "actions" }, h("button", { type: "button", onclick: () => dialog.close(), id: "confirm-cancel" }, "Cancel"), send),
  );
  fill(dialog, form);
  dialog.showModal();
  (guarded ? typed : reason).focus();
}

async function act(action, mode, reason, outcome) {
  try {
    const done = await post(`/api/control/${action}`, { mode, reason });
    const changed = listOf(done.events || []);
    fill(
      outcome,
      h("div", { class: "notice", dataset: { done: action } }, h("strong", {}, `${WORDS[action].title} sent to ${mode}. `), changed.length ? changed.join("; ") : "nothing changed (it was already so)"),
      (done.warnings || []).map((w) => h("div", { class: "small" }, w)),
    );
    toast(`${WORDS[action].title}: ${mode}`, changed.join("; ") || reason, action === "stop" ? "critical" : "info");
    document.body.dataset.lastAction = `${action}:${mode}`;
    setTimeout(() => dialog.open && dialog.close(), 1500);
    await load();
  } catch (error) {
    const why = error instanceof ApiError && error.status === 409 ? h("div", { class: "error" }, h("strong", {}, "Refused: "), error.message) : problem(error, `${action} ${mode}`);
    fill(outcome, why);
  }
}

const reload = throttle(load, 1500);
live.on("risk", reload);
live.on("stop", reload);
live.on("start", reload);
live.on("gap", reload);
// Equity moves the loss limits; reloading on each bar would be too much, so at most every 5 s.
live.on("equity", throttle(load, 5000));

load();
