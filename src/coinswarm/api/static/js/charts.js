// Time-series charts over the vendored lightweight-charts (window.LightweightCharts).
//
// Each chart's container carries `data-points`, the number of points the chart holds, so a
// person's browser test (and a person with the inspector open) can tell an empty chart from
// a drawn one without reading pixels.

import { toNs } from "./dom.js";

const COLORS = ["#4ea1ff", "#3fb950", "#d29922", "#bc8cff", "#f85149", "#39c5cf", "#ff9bce", "#a5d6ff"];

/** Return the colour of series number `i`. */
export function color(i) {
  return COLORS[i % COLORS.length];
}

function library() {
  const found = window.LightweightCharts;
  if (!found) throw new Error("the chart library did not load (vendor/lightweight-charts.standalone.production.js)");
  return found;
}

/** Return a chart's time (UTC seconds) of a point's ts (ns, ms, s or ISO). */
export function chartTime(ts) {
  return Math.floor(toNs(ts) / 1e9);
}

/** Return `points` ({time, value}) sorted, one per second (the last wins), finite values only. */
export function clean(points) {
  const bySecond = new Map();
  for (const point of points) {
    if (Number.isFinite(point.time) && Number.isFinite(point.value)) bySecond.set(point.time, point.value);
  }
  return [...bySecond.entries()].sort((a, b) => a[0] - b[0]).map(([time, value]) => ({ time, value }));
}

/**
 * A chart of one or more lines (or an area) in `container`.
 * series: [{name, kind: "line"|"area", color, format: (v) => string, baseline}]
 */
export class TimeChart {
  constructor(container, series, { percent = false } = {}) {
    const lib = library();
    this.container = container;
    container.classList.add("chart");
    this.chart = lib.createChart(container, {
      autoSize: true,
      layout: { background: { type: lib.ColorType.Solid, color: "transparent" }, textColor: "#9aa5b1" },
      grid: { vertLines: { color: "#222a33" }, horzLines: { color: "#222a33" } },
      rightPriceScale: { borderColor: "#2c3540" },
      timeScale: { borderColor: "#2c3540", timeVisible: true, secondsVisible: false },
      localization: percent ? { priceFormatter: (v) => `${v.toFixed(2)}%` } : {},
    });
    this.series = series.map((spec, i) => {
      const kind = spec.kind === "area" ? lib.AreaSeries : lib.LineSeries;
      const tint = spec.color || color(i);
      const options =
        spec.kind === "area"
          ? { lineColor: tint, topColor: `${tint}55`, bottomColor: `${tint}05`, lineWidth: 2, invertFilledArea: Boolean(spec.inverted) }
          : { color: tint, lineWidth: 2 };
      return { spec, api: this.chart.addSeries(kind, { ...options, title: spec.name || "" }), last: null, count: 0 };
    });
    this.publish();
  }

  /** Replace series `index`'s points ({time: seconds, value}). */
  set(index, points) {
    const target = this.series[index];
    const data = clean(points);
    target.api.setData(data);
    target.count = data.length;
    target.last = data.length ? data[data.length - 1].time : null;
    this.chart.timeScale().fitContent();
    this.publish();
  }

  /** Add one point to series `index`; one older than the last is ignored (a replayed event). */
  append(index, point) {
    const target = this.series[index];
    if (!Number.isFinite(point.time) || !Number.isFinite(point.value)) return false;
    if (target.last !== null && point.time < target.last) return false;
    target.api.update(point);
    if (target.last === null || point.time > target.last) target.count += 1;
    target.last = point.time;
    this.publish();
    return true;
  }

  /** The number of points every series holds together. */
  get count() {
    return this.series.reduce((total, s) => total + s.count, 0);
  }

  publish() {
    this.container.dataset.points = String(this.count);
  }

  remove() {
    this.chart.remove();
  }
}
