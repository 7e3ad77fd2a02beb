// The live feed: one websocket per page, to /api/ws, that comes back after any drop.
//
// The server numbers every event (`seq`). The feed remembers the last one it handed out and
// reconnects with `after=<that seq>`, so the server replays what the page missed while it was
// away; if those events already left the server's ring buffer it says so with a `gap` notice,
// and the page reloads its data over REST instead. Reconnects back off (0.5 s doubling to
// 15 s, with jitter) so a server restart is not met by every open tab at once.

import { token } from "./api.js";

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;

/** Return the events one websocket message holds: one event, a list, or {events: [...]}. */
export function eventsOf(message) {
  if (Array.isArray(message)) return message;
  if (message && Array.isArray(message.events)) return message.events;
  return message && typeof message === "object" ? [message] : [];
}

/** Return the kind of an event ("equity", "order", "gap", ...). */
export function kindOf(event) {
  return event.kind || event.type || "";
}

/** Return the delay before reconnect number `attempt` (0-based), in ms, jittered to 50-100%. */
export function backoff(attempt, random = Math.random) {
  const ceiling = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** attempt);
  return Math.round(ceiling * (0.5 + random() / 2));
}

export class LiveFeed {
  constructor() {
    this.handlers = new Map();
    this.stateHandlers = [];
    this.kinds = null;
    this.lastSeq = null;
    this.attempt = 0;
    this.socket = null;
    this.timer = null;
    this.state = "idle";
    this.stopped = true;
    window.addEventListener("coinswarm:token", () => this.restart());
  }

  /** Call `handler(event)` for each event of `kind` ("*": every event; "gap": a gap notice). */
  on(kind, handler) {
    if (!this.handlers.has(kind)) this.handlers.set(kind, []);
    this.handlers.get(kind).push(handler);
    return this;
  }

  /** Call `handler(state, detail)` when the connection changes: connecting, live, reconnecting, offline. */
  onState(handler) {
    this.stateHandlers.push(handler);
    handler(this.state, "");
    return this;
  }

  /** Open the feed for `kinds` (null: every kind). */
  start(kinds = null) {
    this.kinds = kinds;
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000, "page closed");
    this.socket = null;
  }

  /** Reconnect now (the token changed), keeping the last seq. */
  restart() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.attempt = 0;
    if (this.socket) {
      const old = this.socket;
      this.socket = null;
      old.close(1000, "token changed");
    }
    this.connect();
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const params = new URLSearchParams();
    if (this.lastSeq !== null) params.set("after", String(this.lastSeq));
    if (this.kinds) params.set("kinds", this.kinds.join(","));
    const secret = token();
    if (secret) params.set("token", secret);
    const text = params.toString();
    return `${scheme}//${location.host}/api/ws${text ? `?${text}` : ""}`;
  }

  setState(state, detail = "") {
    this.state = state;
    document.body.dataset.live = state;
    for (const handler of this.stateHandlers) handler(state, detail);
  }

  connect() {
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    let socket;
    try {
      socket = new WebSocket(this.url());
    } catch (error) {
      this.retry(`could not open the feed: ${error.message || error}`);
      return;
    }
    this.socket = socket;
    socket.addEventListener("open", () => {
      if (socket !== this.socket) return;
      this.attempt = 0;
      this.setState("live");
    });
    socket.addEventListener("message", (message) => {
      if (socket !== this.socket) return;
      this.receive(message.data);
    });
    socket.addEventListener("close", (closed) => {
      if (socket !== this.socket) return;
      this.socket = null;
      if (this.stopped) return;
      const refused = closed.code === 1008 || closed.code === 4401 || closed.code === 4403;
      this.retry(refused ? "the feed needs a valid token" : closed.reason || "the feed closed");
    });
  }

  retry(why) {
    const delay = backoff(this.attempt);
    this.attempt += 1;
    this.setState("offline", `${why}; retrying in ${(delay / 1000).toFixed(1)} s`);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  receive(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return; // not ours to read (a keep-alive text frame)
    }
    for (const event of eventsOf(message)) {
      if (kindOf(event) === "gap") {
        // Missed events (or a restarted server, whose numbers began again): take the numbers
        // as they now come, and let the page reload what it shows over REST.
        this.lastSeq = null;
        this.dispatch(event);
        continue;
      }
      const seq = Number(event.seq);
      if (Number.isFinite(seq)) {
        if (this.lastSeq !== null && seq <= this.lastSeq) continue;
        this.lastSeq = seq;
        document.body.dataset.lastSeq = String(seq);
      }
      this.dispatch(event);
    }
  }

  dispatch(event) {
    const kind = kindOf(event);
    for (const key of [kind, "*"]) {
      for (const handler of this.handlers.get(key) || []) {
        try {
          handler(event);
        } catch (error) {
          console.error(`live ${kind} handler failed`, error);
        }
      }
    }
  }
}

/**
 * Return the events of `run` (of `kinds`) the server still holds in its buffer, oldest first.
 *
 * A running paper session writes its orders, fills and checkpoints to the store only now and
 * then; until it does, the live events are the only record of what it did. A page that opens
 * in the middle of a session asks the server to replay its buffer (`after=0`) on a socket of
 * its own, and takes what arrives until the stream goes quiet (the replay comes at once, the
 * session's new events at its own pace) or `maxMs` pass.
 */
export function replay({ run, kinds, quietMs = 300, maxMs = 4000 }) {
  return new Promise((resolve) => {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const params = new URLSearchParams({ after: "0", run });
    if (kinds) params.set("kinds", kinds.join(","));
    const secret = token();
    if (secret) params.set("token", secret);
    const events = [];
    let socket;
    let quiet = null;
    const done = () => {
      clearTimeout(quiet);
      clearTimeout(cap);
      if (socket && socket.readyState <= 1) socket.close(1000, "replayed");
      resolve(events);
    };
    const cap = setTimeout(done, maxMs);
    try {
      socket = new WebSocket(`${scheme}//${location.host}/api/ws?${params}`);
    } catch {
      done();
      return;
    }
    socket.addEventListener("open", () => {
      quiet = setTimeout(done, quietMs * 3); // nothing buffered: nothing will come at once
    });
    socket.addEventListener("message", (message) => {
      try {
        for (const event of eventsOf(JSON.parse(message.data))) if (kindOf(event) !== "gap") events.push(event);
      } catch {
        /* not an event */
      }
      clearTimeout(quiet);
      quiet = setTimeout(done, quietMs);
    });
    socket.addEventListener("close", done);
    socket.addEventListener("error", done);
  });
}

/** The page's one feed; the layout starts it, pages subscribe. */
export const live = new LiveFeed();
// For a person debugging in the browser's console, and for the browser tests.
window.coinswarmLive = live;
