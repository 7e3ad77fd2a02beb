// Figures the pages derive from what the API sends: drawdown, the day's P&L, how close a limit is.
// Pure functions of their arguments, so they are the same on every page.

import { money, num, pick, qty, toNs } from "./dom.js";
import { chartTime } from "./charts.js";

/** Return equity points [{time, equity, drawdown}] from the API's points, drawdown as a fraction <= 0. */
export function equityPoints(points) {
  let peak = -Infinity;
  const out = [];
  for (const point of points) {
    const equity = num(pick(point, "equity", "value"));
    const time = chartTime(pick(point, "ts", "ts_ns", "time"));
    if (!Number.isFinite(equity) || !Number.isFinite(time)) continue;
    peak = Math.max(peak, equity);
    const sent = num(point.drawdown);
    // The API's drawdown is a fraction of the peak (0.05 = 5% below); derive it if absent.
    const fraction = Number.isFinite(sent) && Math.abs(sent) <= 1 ? -Math.abs(sent) : peak > 0 ? equity / peak - 1 : 0;
    out.push({ time, equity, drawdown: fraction });
  }
  return out;
}

/** Return the last UTC day's P&L of `points` ({time, equity}): {day, pnl, start}. */
export function lastDay(points) {
  if (!points.length) return null;
  const last = points[points.length - 1];
  const dayStart = Math.floor(last.time / 86400) * 86400;
  // The day's starting equity is the last point before the day began (else its first point).
  let start = points[0].equity;
  for (const point of points) {
    if (point.time < dayStart) start = point.equity;
    else break;
  }
  return { day: new Date(dayStart * 1000).toISOString().slice(0, 10), pnl: last.equity - start, start };
}

/** Return the daily loss limit in money: `limit` is money, or a fraction (<= 1) of `dayStart`. */
export function limitMoney(limit, dayStart) {
  const value = num(limit);
  if (!Number.isFinite(value)) return NaN;
  return value <= 1 && Number.isFinite(dayStart) ? value * dayStart : value;
}

/** Return how much of a loss limit a P&L has used, 0..1+ (a gain uses none). */
export function lossUsed(pnl, limit) {
  if (!Number.isFinite(pnl) || !Number.isFinite(limit) || limit <= 0) return NaN;
  return Math.max(0, -pnl) / limit;
}

/** Return the level a closeness (0..1) reads as: ok under 70%, warn under 90%, bad at 90% and over. */
export function level(closeness) {
  if (!Number.isFinite(closeness)) return "ok";
  if (closeness >= 0.9) return "bad";
  return closeness >= 0.7 ? "warn" : "ok";
}

/** Return whether an order's status means it can still fill. */
export function isOpen(status) {
  return ["new", "open", "accepted", "pending", "partially_filled", "partial", "submitted", "working"].includes(
    String(status || "").toLowerCase(),
  );
}

/** Return the ns time of an event or record, whichever way it is named. */
export function tsOf(record) {
  return toNs(pick(record, "created_ts", "ts_ns", "ts", "decided_ts", "created_ns", "time"));
}

/** Return an order's size as a person reads it: its quantity, or the quote amount it spends. */
export function orderAmount(order) {
  const quantity = pick(order, "quantity");
  if (quantity !== undefined) return qty(quantity);
  const quote = pick(order, "quote_quantity");
  return quote === undefined ? "—" : `${money(quote)} (quote)`;
}
