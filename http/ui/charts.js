// The charts' numbers: GET /metrics (Prometheus text format) polled every
// few seconds, a few minutes of samples kept here, and rates and histogram
// quantiles computed from their deltas the way PromQL's rate() and
// histogram_quantile() do. Drawn as small hand-made SVG lines.
"use strict";

const tfCharts = (() => {
  const HISTORY_S = 300; // samples kept, and a chart's width in time
  const WINDOW_S = 30; // each point: the rate over this much time before it

  // "name{a="x",b="y"} 1.5" -> {name, labels, value}; comments and blank
  // lines give null.
  function parseLine(line) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null || line.startsWith("#")) return null;
    const labels = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    let l;
    while ((l = re.exec(m[3] || "")) !== null)
      labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
    return { name: m[1], labels, value: parseFloat(m[4].replace(/^\+?Inf$/, "Infinity")) };
  }

  function fnEntry(fns, name) {
    if (!(name in fns)) fns[name] = { calls: 0, errors: 0, buckets: {}, handlers: null };
    return fns[name];
  }

  // The text of one scrape -> the sums the charts need, per function: calls
  // and errors over every protocol and code, buckets over every protocol.
  // A code that is not 2xx (HTTP) or 2.xx (CoAP) is an error.
  function parse(text, t) {
    const s = { t, fns: {}, memory: null, start: null };
    for (const line of text.split("\n")) {
      const p = parseLine(line.trim());
      if (p === null || Number.isNaN(p.value)) continue;
      const fn = p.labels.function;
      if (p.name === "process_resident_memory_bytes") s.memory = p.value;
      else if (p.name === "process_start_time_seconds") s.start = p.value;
      else if (fn === undefined) continue;
      else if (p.name === "tinyfaas_calls_total") {
        const e = fnEntry(s.fns, fn);
        e.calls += p.value;
        if (!String(p.labels.code || "").startsWith("2")) e.errors += p.value;
      } else if (p.name === "tinyfaas_call_duration_seconds_bucket") {
        const b = fnEntry(s.fns, fn).buckets, le = p.labels.le;
        b[le] = (b[le] || 0) + p.value;
      } else if (p.name === "tinyfaas_function_handlers") {
        fnEntry(s.fns, fn).handlers = p.value;
      }
    }
    return s;
  }

  // The increase of a counter across samples[from..to], a reset (the daemon
  // restarted) counted from zero, as PromQL's increase() does.
  function increase(samples, from, to, get) {
    let sum = 0;
    for (let k = from + 1; k <= to; k++) {
      const a = get(samples[k - 1]), b = get(samples[k]);
      if (b === undefined) continue;
      sum += a === undefined || b < a ? b : b - a;
    }
    return sum;
  }

  // PromQL's histogram_quantile over bucket increases {le: count}.
  function quantile(q, inc) {
    const bounds = Object.keys(inc)
      .map((le) => [le === "+Inf" ? Infinity : parseFloat(le), inc[le]])
      .sort((a, b) => a[0] - b[0]);
    if (bounds.length < 2 || bounds[bounds.length - 1][0] !== Infinity) return NaN;
    const total = bounds[bounds.length - 1][1];
    if (!(total > 0)) return NaN;
    const rank = q * total;
    let i = 0;
    while (i < bounds.length - 1 && bounds[i][1] < rank) i++;
    if (bounds[i][0] === Infinity) return bounds[bounds.length - 2][0];
    const lower = i === 0 ? 0 : bounds[i - 1][0], below = i === 0 ? 0 : bounds[i - 1][1];
    const inBucket = bounds[i][1] - below;
    if (inBucket <= 0) return bounds[i][0];
    return lower + (bounds[i][0] - lower) * ((rank - below) / inBucket);
  }

  // The four series of one function: a point per sample from the second on.
  function series(samples, fn) {
    const out = { calls: [], errors: [], p50: [], p99: [] };
    let from = 0;
    for (let i = 1; i < samples.length; i++) {
      while (samples[i].t - samples[from].t > WINDOW_S) from++;
      if (from === i) from = i - 1;
      const t = samples[i].t, dt = t - samples[from].t;
      const get = (key) => (s) => (s.fns[fn] ? s.fns[fn][key] : undefined);
      const calls = increase(samples, from, i, get("calls"));
      const errors = increase(samples, from, i, get("errors"));
      const les = samples[i].fns[fn] ? Object.keys(samples[i].fns[fn].buckets) : [];
      const inc = {};
      for (const le of les)
        inc[le] = increase(samples, from, i, (s) => (s.fns[fn] ? s.fns[fn].buckets[le] : undefined));
      out.calls.push([t, calls / dt]);
      out.errors.push([t, calls > 0 ? errors / calls : NaN]);
      out.p50.push([t, quantile(0.5, inc)]);
      out.p99.push([t, quantile(0.99, inc)]);
    }
    return out;
  }

  // Keeps HISTORY_S of samples, oldest first.
  function keep(samples, s) {
    samples.push(s);
    while (samples.length > 2 && s.t - samples[0].t > HISTORY_S) samples.shift();
  }

  const SVG = "http://www.w3.org/2000/svg";

  // A sparkline of [t, value] points ending now, over the time the samples
  // span (at least 20 s, at most HISTORY_S), so a page opened a moment ago
  // shows a line too; a NaN (no call in that window) breaks the line.
  function draw(svg, points, now) {
    const w = 120, h = 28;
    const span = Math.min(HISTORY_S, Math.max(20, points.length ? now - points[0][0] : 0));
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    svg.setAttribute("width", w);
    svg.setAttribute("height", h);
    const finite = points.filter((p) => Number.isFinite(p[1]));
    const max = Math.max(...finite.map((p) => p[1]), 1e-9);
    const runs = [[]];
    for (const [t, v] of points) {
      if (!Number.isFinite(v)) {
        if (runs[runs.length - 1].length) runs.push([]);
        continue;
      }
      const x = w - ((now - t) / span) * w, y = h - 2 - (v / max) * (h - 4);
      runs[runs.length - 1].push(`${x.toFixed(1)},${y.toFixed(1)}`);
    }
    svg.replaceChildren();
    for (const run of runs.filter((r) => r.length)) {
      const line = document.createElementNS(SVG, run.length > 1 ? "polyline" : "circle");
      if (run.length > 1) {
        line.setAttribute("points", run.join(" "));
      } else {
        const [cx, cy] = run[0].split(",");
        line.setAttribute("cx", cx);
        line.setAttribute("cy", cy);
        line.setAttribute("r", 1.5);
      }
      svg.appendChild(line);
    }
    svg.dataset.points = finite.length;
  }

  return { parse, series, keep, quantile, draw, WINDOW_S, HISTORY_S };
})();
