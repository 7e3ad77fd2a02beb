// The one way a page talks to the server's REST API: the token, the errors, nothing else.
//
// The token lives in sessionStorage: it survives moving between pages and a reload, and is
// gone when the tab closes (a shared screen at a desk keeps no token overnight).

const TOKEN_KEY = "coinswarm.token";

/** Return the token this tab holds, or "" without one. */
export function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return ""; // storage refused (a private window's policy): no token, the server will say so
  }
}

/** Keep `value` as this tab's token (an empty value forgets it) and tell the page. */
export function setToken(value) {
  const clean = (value || "").trim();
  try {
    if (clean) sessionStorage.setItem(TOKEN_KEY, clean);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage refused: the token lasts until the page changes */
  }
  window.dispatchEvent(new CustomEvent("coinswarm:token", { detail: { present: Boolean(clean) } }));
}

/** A refusal or a failure, with the server's one-line reason. status 0: no answer at all. */
export class ApiError extends Error {
  constructor(status, message, path) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.path = path;
  }

  /** Whether a (better) token would help: 401 missing or wrong token, 403 a viewer acting. */
  get needsToken() {
    return this.status === 401 || this.status === 403;
  }
}

function headers(extra = {}) {
  const found = token();
  return found ? { Authorization: `Bearer ${found}`, ...extra } : extra;
}

/** Return a query string of the params that are set ("" without any). Arrays repeat the key. */
export function query(params = {}) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    for (const one of Array.isArray(value) ? value : [value]) search.append(key, String(one));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

async function answer(response, path) {
  let body = null;
  const text = await response.text();
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  if (!response.ok) {
    const reason = (body && (body.error || body.detail)) || `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, typeof reason === "string" ? reason : JSON.stringify(reason), path);
  }
  return body;
}

async function send(method, path, init) {
  let response;
  try {
    response = await fetch(path, { method, cache: "no-store", ...init });
  } catch (error) {
    throw new ApiError(0, `the server did not answer (${error.message || error})`, path);
  }
  return answer(response, path);
}

/** GET `path` (under /api) with `params`; return the parsed JSON or throw an ApiError. */
export function get(path, params = {}) {
  return send("GET", `${path}${query(params)}`, { headers: headers() });
}

/** POST `body` as JSON to `path`; return the parsed JSON or throw an ApiError. */
export function post(path, body = {}) {
  return send("POST", path, {
    headers: headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(body),
  });
}
