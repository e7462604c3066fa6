// The dashboard: functions, their calls and latency, the daemon's memory and
// uptime, a followed log, and deploy, invoke, scale and delete. Every data
// call is a management call of this origin and carries the token; the token
// is asked once and kept in sessionStorage (this tab only, until it closes).
"use strict";

const POLL_MS = 2000;
const LOG_LINES = 300;
const TOKEN_KEY = "tinyfaas-token";

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  noAuth: false,
  functions: [],
  samples: [],
  metrics: "connecting…",
  uptime: null,
  logs: null,
  timer: null,
};

const $ = (id) => document.getElementById(id);

function headers(extra) {
  const h = Object.assign({}, extra);
  if (!state.noAuth && state.token) h.Authorization = "Bearer " + state.token;
  return h;
}

// A management call; a refused token sends the page back to the login.
async function api(path, opts = {}) {
  const r = await fetch(path, { ...opts, headers: headers(opts.headers), cache: "no-store" });
  if (r.status === 401) {
    showLogin("the daemon refused the token");
    throw new Error("token refused");
  }
  return r;
}

async function post(path, body) {
  const r = await api(path, { method: "POST", body: JSON.stringify(body) });
  return `${r.status} ${(await r.text()).trim()}`;
}

// ---- login ----------------------------------------------------------------

async function tokenWorks(token) {
  const r = await fetch("/list", { headers: { Authorization: "Bearer " + token }, cache: "no-store" });
  return r.ok;
}

function showLogin(why) {
  clearInterval(state.timer);
  state.timer = null;
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  $("main").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = why;
  $("token").focus();
}

async function login(ev) {
  ev.preventDefault();
  const token = $("token").value.trim();
  if (token === "" || !(await tokenWorks(token))) {
    $("login-error").textContent = "wrong token";
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  state.token = token;
  $("token").value = "";
  openMain();
}

function openMain() {
  $("login").hidden = true;
  $("main").hidden = false;
  $("logout").hidden = state.noAuth;
  $("window-note").textContent =
    `(each point: the last ${tfCharts.WINDOW_S} s; charts: up to the last ${tfCharts.HISTORY_S / 60} min)`;
  refresh();
  state.timer = setInterval(refresh, POLL_MS);
}

// Under --no-auth the daemon answers without a token: then none is asked.
async function start() {
  const r = await fetch("/list", { cache: "no-store" });
  if (r.ok) {
    state.noAuth = true;
    openMain();
  } else if (state.token && (await tokenWorks(state.token))) {
    openMain();
  } else {
    showLogin("");
  }
}

// ---- polling ----------------------------------------------------------------

async function refreshList() {
  const r = await api("/list", { headers: { Accept: "application/json" } });
  if (r.ok) state.functions = await r.json();
}

async function refreshMetrics() {
  const r = await api("/metrics");
  if (!r.ok) {
    state.metrics = r.status === 404 ? "metrics unavailable" : `metrics: ${r.status}`;
    return;
  }
  const now = Date.now() / 1000;
  const s = tfCharts.parse(await r.text(), now);
  tfCharts.keep(state.samples, s);
  // The daemon's clock, not the browser's, tells how long it has run.
  const server = Date.parse(r.headers.get("Date") || "") / 1000;
  state.uptime = s.start !== null ? (Number.isFinite(server) ? server : now) - s.start : null;
  state.metrics = `metrics every ${POLL_MS / 1000} s`;
}

let busy = false;
async function refresh() {
  if (busy) return;
  busy = true;
  try {
    await Promise.all([refreshList(), refreshMetrics(), followLogs()]);
    render();
  } catch (e) {
    $("metrics-state").textContent = `daemon unreachable (${e.message})`;
  } finally {
    busy = false;
  }
}

// ---- rendering ----------------------------------------------------------------

function fmtBytes(n) {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MB` : `${(n / 1024).toFixed(0)} kB`;
}

function fmtDuration(s) {
  s = Math.max(0, Math.floor(s));
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  return m > 0 ? `${m} min ${s % 60} s` : `${s} s`;
}

function fmtSeconds(v) {
  if (!Number.isFinite(v)) return "–";
  return v < 1 ? `${(v * 1000).toPrecision(3)} ms` : `${v.toPrecision(3)} s`;
}

const FORMAT = {
  calls: (v) => (Number.isFinite(v) ? v.toFixed(v < 10 ? 2 : 1) : "–"),
  errors: (v) => (Number.isFinite(v) ? `${(v * 100).toFixed(1)} %` : "–"),
  p50: fmtSeconds,
  p99: fmtSeconds,
};

function cell(row, cls) {
  return row.querySelector("." + cls);
}

function button(text, cls, fn) {
  const b = document.createElement("button");
  b.textContent = text;
  b.className = cls;
  b.addEventListener("click", fn);
  return b;
}

function newRow(name) {
  const tr = document.createElement("tr");
  tr.dataset.fn = name;
  for (const cls of ["name", "env", "handlers"]) {
    const td = tr.appendChild(document.createElement("td"));
    td.className = cls;
  }
  for (const key of Object.keys(FORMAT)) {
    const td = tr.appendChild(document.createElement("td"));
    td.className = `chart ${key}`;
    td.appendChild(document.createElementNS("http://www.w3.org/2000/svg", "svg")).dataset.series = key;
    td.appendChild(document.createElement("span")).className = "value";
  }
  const actions = tr.appendChild(document.createElement("td"));
  actions.className = "actions";
  const threads = actions.appendChild(document.createElement("input"));
  Object.assign(threads, { type: "number", min: 1, max: 64, className: "threads", title: "threads" });
  actions.append(
    button("scale", "scale", () => scale(name, threads.value)),
    button("logs", "show-logs", () => chooseLogs(name)),
    button("delete", "delete", () => remove(name)));
  cell(tr, "name").textContent = name;
  return tr;
}

function renderRow(tr, f, series, last) {
  cell(tr, "env").textContent = f.env;
  const live = last && last.fns[f.name] && last.fns[f.name].handlers;
  cell(tr, "handlers").textContent = `${live === null || live === undefined ? "?" : live}/${f.threads}`;
  const threads = cell(tr, "threads");
  if (document.activeElement !== threads) threads.value = f.threads;
  const now = last ? last.t : 0;
  for (const key of Object.keys(FORMAT)) {
    const td = cell(tr, key), points = series ? series[key] : [];
    tfCharts.draw(td.querySelector("svg"), points, now);
    const v = points.length ? points[points.length - 1][1] : NaN;
    td.querySelector(".value").textContent = series ? FORMAT[key](v) : "–";
  }
}

function renderFunctions() {
  const body = $("functions").tBodies[0];
  const rows = new Map([...body.rows].map((r) => [r.dataset.fn, r]));
  const ok = state.metrics.startsWith("metrics every") && state.samples.length > 0;
  const last = ok ? state.samples[state.samples.length - 1] : null;
  for (const f of state.functions) {
    const tr = rows.get(f.name) || newRow(f.name);
    rows.delete(f.name);
    body.appendChild(tr); // in /list's order (by name)
    renderRow(tr, f, ok ? tfCharts.series(state.samples, f.name) : null, last);
  }
  for (const gone of rows.values()) gone.remove();
  $("no-functions").hidden = state.functions.length > 0;
}

// Keeps a <select>'s choice while its options follow the functions.
function fillSelect(select, first) {
  const chosen = select.value;
  const names = state.functions.map((f) => f.name);
  const want = [...(first ? [first.value] : []), ...names];
  if (want.join("\n") === [...select.options].map((o) => o.value).join("\n")) return;
  select.replaceChildren(...(first ? [first] : []), ...names.map((n) => new Option(n, n)));
  if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
}

function render() {
  const last = state.samples[state.samples.length - 1];
  const ok = state.metrics.startsWith("metrics every");
  $("metrics-state").textContent = state.metrics;
  $("memory").textContent = ok && last && last.memory !== null ? fmtBytes(last.memory) : "–";
  $("uptime").textContent = ok && state.uptime !== null ? fmtDuration(state.uptime) : "–";
  renderFunctions();
  fillSelect($("invoke-fn"));
  fillSelect($("logs-fn"), new Option("(choose a function)", ""));
}

// ---- logs -------------------------------------------------------------------

// "function=N handler=ID TIME TEXT" -> its parts, TIME in seconds.
function parseLog(line) {
  const m = /^function=\S+ handler=(\S+) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z ?(.*)$/.exec(line);
  if (m === null) return null;
  return { handler: m[1], t: Date.parse(m[2] + "Z") / 1000 + parseFloat("0" + (m[3] || "")), text: m[4] };
}

function chooseLogs(name) {
  $("logs-fn").value = name;
  state.logs = name ? { name, seen: new Map(), newest: 0, lines: [] } : null;
  $("logs").textContent = "";
  followLogs();
}

// A poll asks from a little before the newest line seen, by the daemon's
// clock (the lines' own times), so no line falls between two polls; those
// seen already are left out.
async function followLogs() {
  const l = state.logs;
  if (l === null || (!$("logs-follow").checked && l.newest > 0)) return;
  const q = new URLSearchParams({ name: l.name, timestamps: "1" });
  if (l.newest > 0) q.set("since", (l.newest - 2).toFixed(6));
  const r = await api("/logs?" + q);
  if (state.logs !== l || !r.ok) return;
  for (const line of (await r.text()).split("\n")) {
    const p = parseLog(line);
    if (p === null || l.seen.has(line)) continue;
    l.seen.set(line, p.t);
    l.newest = Math.max(l.newest, p.t);
    const time = new Date(p.t * 1000).toLocaleTimeString();
    l.lines.push({ t: p.t, text: `${time} ${p.handler.slice(0, 6)} ${p.text}` });
  }
  for (const [line, t] of l.seen) if (t < l.newest - 5) l.seen.delete(line);
  // The daemon answers handler by handler: the lines of several are merged by time.
  l.lines.sort((a, b) => a.t - b.t);
  l.lines.splice(0, l.lines.length - LOG_LINES);
  const pre = $("logs");
  const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.textContent = l.lines.map((x) => x.text).join("\n");
  if (atEnd) pre.scrollTop = pre.scrollHeight;
}

// ---- actions ----------------------------------------------------------------

function say(text) {
  $("action-result").textContent = text;
}

async function scale(name, threads) {
  say(`scaling ${name} to ${threads}…`);
  say(`scale ${name}: ${await post("/scale", { name, threads: Number(threads) })}`);
  refresh();
}

async function remove(name) {
  if (!confirm(`Delete ${name}? Its handlers and image go.`)) return;
  say(`deleting ${name}…`);
  say(`delete ${name}: ${await post("/delete", { name })}`);
  refresh();
}

async function deploy(ev) {
  ev.preventDefault();
  const out = $("deploy-result"), zipFile = $("deploy-zip").files[0];
  const folder = $("deploy-folder").files;
  if (!zipFile && folder.length === 0) {
    out.textContent = "choose a zip file or a folder";
    return;
  }
  out.textContent = "deploying (a first build may take a while)…";
  const zip = zipFile ? new Uint8Array(await zipFile.arrayBuffer()) : await tfZip.fromFolder(folder);
  const envs = $("deploy-envs").value.split("\n").map((s) => s.trim()).filter((s) => s !== "");
  out.textContent = await post("/upload", {
    name: $("deploy-name").value.trim(),
    env: $("deploy-env").value,
    threads: Number($("deploy-threads").value),
    zip: tfZip.base64(zip),
    envs,
  });
  refresh();
}

async function invoke(ev) {
  ev.preventDefault();
  const name = $("invoke-fn").value;
  if (!name) return;
  $("invoke-status").textContent = `calling ${name}…`;
  $("invoke-answer").textContent = "";
  const r = await api("/invoke/" + encodeURIComponent(name), {
    method: "POST",
    headers: { "Content-Type": "text/plain; charset=utf-8" },
    body: $("invoke-body").value,
  });
  const bytes = new Uint8Array(await r.arrayBuffer());
  const type = r.headers.get("Content-Type");
  $("invoke-status").textContent = `${r.status} · ${bytes.length} bytes${type ? " · " + type : ""}`;
  $("invoke-answer").textContent = new TextDecoder().decode(bytes);
}

// A daemon restarting, or a browser whose first request fails (seen under
// heavy load), gets a few more tries a second apart before the page gives up.
async function startWhenAnswered(tries) {
  for (let i = 1; ; i++) {
    try {
      return await start();
    } catch (e) {
      if (i >= tries) return showLogin(`the daemon does not answer (${e.message})`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", () => showLogin(""));
  $("deploy-form").addEventListener("submit", deploy);
  $("invoke-form").addEventListener("submit", invoke);
  $("logs-fn").addEventListener("change", (ev) => chooseLogs(ev.target.value));
  startWhenAnswered(10);
});
