// dash.js — the inferd dashboard (server and gateway): polls GET /api/dashboard, draws the
// rolling windows on <canvas>, lists alerts (GET /api/alerts) and recent errors, and runs
// the playground (streamed chat over /v1/chat/completions, a KServe v2 request built from
// /v2/models/{m}). No framework, nothing from outside this origin. Text from the server is
// always put in the page as text (textContent), never as HTML.
"use strict";

const POLL_MS = 2000;
const WINDOW_S = 120;
const KEY_STORE = "inferd.key";
const COLORS = ["#2457c5", "#c62828", "#138a36", "#b26a00", "#7b3fb8"];

const $ = (id) => document.getElementById(id);
const state = { kind: "", timer: null, charts: new Map(), models: [], playgroundFor: "" };

// el("td", {class: "x", "data-n": 3}, "text", child...) — elements without innerHTML.
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(k === null || k === undefined ? "" : String(k)));
  return e;
}

function key() { return sessionStorage.getItem(KEY_STORE) || ""; }

function authHeaders(extra) {
  const h = Object.assign({}, extra || {});
  if (key()) h["Authorization"] = "Bearer " + key();
  return h;
}

function api(path, opts) {
  const o = Object.assign({}, opts || {});
  o.headers = authHeaders(o.headers);
  return fetch(path, o);
}

function fmt(x, digits) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  if (Math.abs(x) >= 100) return x.toFixed(0);
  return x.toFixed(digits === undefined ? 2 : digits);
}

// ---- login ----

function showLogin(message) {
  clearTimeout(state.timer);
  $("main").hidden = true;
  $("login").hidden = false;
  $("logout").hidden = true;
  $("login-error").textContent = message || "";
  $("status").textContent = "needs the admin key";
  $("login-key").focus();
}

$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(KEY_STORE, $("login-key").value.trim());
  $("login-key").value = "";
  refresh();
});

$("logout").addEventListener("click", () => {
  sessionStorage.removeItem(KEY_STORE);
  showLogin("");
});

// ---- charts ----

// Draws series [{name, color, values: [number|null]}] as lines on canvas; y from 0 to the max.
function drawChart(canvas, series) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 360, h = canvas.clientHeight || 90;
  if (canvas.width !== Math.round(w * dpr)) { canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr); }
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  let max = 0, n = 0;
  for (const s of series) {
    n = Math.max(n, s.values.length);
    for (const v of s.values) if (v !== null && v > max) max = v;
  }
  const top = max > 0 ? max * 1.1 : 1;
  const styles = getComputedStyle(document.body);
  g.strokeStyle = styles.getPropertyValue("--line") || "#ccc";
  g.lineWidth = 1;
  g.beginPath(); g.moveTo(0, h - 0.5); g.lineTo(w, h - 0.5); g.stroke();
  g.fillStyle = styles.getPropertyValue("--muted") || "#888";
  g.font = "10px sans-serif";
  g.fillText(fmt(max), 2, 10);
  for (const s of series) {
    g.strokeStyle = s.color;
    g.lineWidth = 1.5;
    g.beginPath();
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === null) { pen = false; return; }
      const x = n > 1 ? (i / (n - 1)) * (w - 1) : 0, y = h - 1 - (v / top) * (h - 12);
      if (pen) g.lineTo(x, y); else g.moveTo(x, y);
      pen = true;
    });
    g.stroke();
    // a second with no neighbour draws no line: mark it with a dot
    g.fillStyle = s.color;
    s.values.forEach((v, i) => {
      if (v === null || (i > 0 && s.values[i - 1] !== null) || (i + 1 < n && s.values[i + 1] !== null)) return;
      const x = n > 1 ? (i / (n - 1)) * (w - 1) : 0, y = h - 1 - (v / top) * (h - 12);
      g.fillRect(x - 1.5, y - 1.5, 3, 3);
    });
  }
}

function chartBlock(title, names) {
  const legend = el("div", { class: "legend" }, title);
  names.forEach((n, i) => { const sw = el("i"); sw.style.background = COLORS[i]; legend.append(sw, n); });
  const canvas = el("canvas", { role: "img", "aria-label": title });
  return { root: el("div", { class: "chart" }, legend, canvas), canvas };
}

const sumOf = (a) => a.reduce((x, y) => x + (y || 0), 0);
const LIVE_S = 10;
// Requests per second over the last LIVE_S seconds of a series (the "live" rate).
const liveRate = (s) => sumOf(s.requests.slice(-LIVE_S)) / Math.min(LIVE_S, s.requests.length || 1);

// One card per key (a model, or "channel <id>"): requests/errors, latency quantiles, and
// for LLM traffic tokens/s and TTFT. data-* attributes carry the numbers for tests.
function renderCard(id, title, s) {
  let c = state.charts.get(id);
  if (!c) {
    const root = el("div", { class: "card series", "data-key": id });
    const head = el("h3", {}, title);
    const rate = chartBlock("requests/s", ["requests", "errors"]);
    const lat = chartBlock("latency ms", ["p50", "p95", "p99"]);
    const tokens = chartBlock("LLM tokens/s", ["tokens"]);
    const ttft = chartBlock("LLM time to first token, ms", ["TTFT"]);
    const summary = el("div", { class: "muted summary" });
    root.append(head, summary, rate.root, lat.root, tokens.root, ttft.root);
    $("charts").append(root);
    c = { root, summary, rate, lat, tokens, ttft };
    state.charts.set(id, c);
  }
  const t = s.total;
  c.root.dataset.requests = t.requests;
  c.root.dataset.errors = t.errors;
  c.root.dataset.rate = t.rate;
  c.root.dataset.p95 = t.p95_ms === null ? "" : t.p95_ms;
  c.root.dataset.tokens = sumOf(s.tokens);
  c.root.dataset.updates = String(Number(c.root.dataset.updates || 0) + 1);
  c.root.dataset.live = liveRate(s);
  c.summary.textContent = `${fmt(liveRate(s))} req/s now (last ${LIVE_S} s); ${t.requests} requests, ${fmt(t.rate)} req/s, ${t.errors} errors (${fmt(100 * t.error_ratio, 1)}%), ` +
    `${t.client_errors || 0} client errors, p50 ${fmt(t.p50_ms)} / p95 ${fmt(t.p95_ms)} / p99 ${fmt(t.p99_ms)} ms` +
    (sumOf(s.tokens) > 0 || t.ttft_ms !== null ? `, ${fmt(t.tokens_per_s)} tokens/s, TTFT ${fmt(t.ttft_ms)} ms` : "");
  drawChart(c.rate.canvas, [{ color: COLORS[0], values: s.requests }, { color: COLORS[1], values: s.errors }]);
  drawChart(c.lat.canvas, [{ color: COLORS[0], values: s.p50_ms }, { color: COLORS[1], values: s.p95_ms },
    { color: COLORS[2], values: s.p99_ms }]);
  const llm = sumOf(s.tokens) > 0 || s.ttft_ms.some((v) => v !== null);
  c.tokens.root.hidden = c.ttft.root.hidden = !llm;
  if (llm) {
    drawChart(c.tokens.canvas, [{ color: COLORS[0], values: s.tokens }]);
    drawChart(c.ttft.canvas, [{ color: COLORS[0], values: s.ttft_ms }]);
  }
}

// ---- tables ----

function renderModels(d) {
  const body = $("models").tBodies[0];
  body.replaceChildren();
  const series = d.series || {};
  const names = d.models ? d.models.map((m) => m.name) : Object.keys(series);
  for (const name of names) {
    const m = (d.models || []).find((x) => x.name === name) || { name, caps: [], versions: [] };
    const t = series[name] ? series[name].total : null;
    const live = series[name] ? liveRate(series[name]) : null;
    const versions = el("td");
    for (const v of m.versions) {
      versions.append(el("span", { class: v.state === "READY" ? "ok" : "bad", title: v.reason || "" },
        (v.version ? "v" + v.version + " " : "") + v.state), " ");
    }
    body.append(el("tr", { "data-model": name },
      el("td", {}, name), el("td", {}, (m.caps || []).join(", ")), versions,
      el("td", {}, live === null ? "–" : fmt(live)), el("td", { class: t && t.errors ? "bad" : "" }, t ? t.errors : "–"),
      el("td", {}, t ? fmt(t.p50_ms) : "–"), el("td", {}, t ? fmt(t.p95_ms) : "–"), el("td", {}, t ? fmt(t.p99_ms) : "–")));
  }
}

function renderChannels(d) {
  $("channels-section").hidden = d.kind !== "gateway";
  if (d.kind !== "gateway") return;
  const body = $("channels").tBodies[0];
  body.replaceChildren();
  for (const ch of d.channels || []) {
    const cs = d.channel_series && d.channel_series[ch.id];
    const t = cs ? cs.total : null;
    const st = ch.state || "";
    body.append(el("tr", { "data-channel": ch.id, "data-state": st, "data-score": ch.score },
      el("td", { title: ch.base_url || "" }, ch.name && ch.name !== ch.id ? `${ch.id} (${ch.name})` : ch.id),
      el("td", { class: st === "healthy" ? "ok" : st === "disabled" ? "muted" : "bad" }, st),
      el("td", {}, fmt(ch.score)), el("td", {}, fmt(ch.availability)),
      el("td", {}, cs ? fmt(liveRate(cs)) : "–"), el("td", { class: t && t.errors ? "bad" : "" }, t ? t.errors : ch.errors),
      el("td", {}, ch.latency_ms ? fmt(ch.latency_ms.p95) : "–"), el("td", {}, ch.ttft_ms ? fmt(ch.ttft_ms) : "–"),
      el("td", {}, (ch.models || []).join(", "))));
  }
}

function renderErrors(d) {
  const ul = $("errors");
  ul.replaceChildren();
  const rows = (d.errors || []).slice().reverse();
  if (!rows.length) ul.append(el("li", { class: "muted" }, "No warnings or errors logged."));
  for (const e of rows) {
    const extra = Object.entries(e).filter(([k]) => !["ts", "level", "msg"].includes(k))
      .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ");
    ul.append(el("li", { class: e.level === "error" ? "bad" : "warn" }, `${e.ts} ${e.level} ${e.msg} ${extra}`));
  }
}

async function refreshAlerts() {
  const box = $("alerts");
  try {
    const r = await api("/api/alerts");
    if (r.status === 404) { box.dataset.state = "none"; box.textContent = "No alert rules loaded."; return; }
    if (!r.ok) { box.dataset.state = "error"; box.textContent = `GET /api/alerts: HTTP ${r.status}`; return; }
    const j = await r.json();
    const alerts = ((j.data && j.data.alerts) || []).filter((a) => a.state === "firing");
    box.replaceChildren();
    box.dataset.state = "ok";
    box.dataset.firing = alerts.length;
    if (!alerts.length) { box.append("No alert is firing."); return; }
    for (const a of alerts) {
      const labels = Object.entries(a.labels || {}).map(([k, v]) => `${k}="${v}"`).join(", ");
      const ann = a.annotations || {};
      box.append(el("div", { class: "alert" }, el("b", {}, (a.labels && a.labels.alertname) || "alert"),
        ` since ${a.activeAt || "?"}, value ${a.value === undefined ? "?" : a.value} — ${ann.summary || ann.description || ""} `,
        el("span", { class: "muted" }, labels)));
    }
  } catch (e) {
    box.textContent = "GET /api/alerts failed: " + e.message;
  }
}

// ---- the poll ----

async function refresh() {
  clearTimeout(state.timer);
  let d;
  try {
    const r = await api(`/api/dashboard?seconds=${WINDOW_S}`);
    if (r.status === 401) {
      showLogin(key() ? "That key was refused." : "");
      return;
    }
    if (!r.ok) throw new Error(`GET /api/dashboard: HTTP ${r.status}`);
    d = await r.json();
  } catch (e) {
    $("status").textContent = e.message + " (retrying)";
    $("status").className = "bad";
    state.timer = setTimeout(refresh, POLL_MS);
    return;
  }
  $("login").hidden = true;
  $("main").hidden = false;
  $("logout").hidden = !key();
  $("kind").textContent = d.kind;
  $("version").textContent = "v" + d.version;
  $("window-s").textContent = d.seconds;
  $("status").className = "muted";
  $("status").textContent = "updated " + new Date(d.now_ms).toLocaleTimeString();
  document.body.dataset.kind = d.kind;
  document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
  state.kind = d.kind;
  renderModels(d);
  renderChannels(d);
  const series = d.series || {};
  for (const [name, s] of Object.entries(series)) renderCard("model:" + name, d.kind === "gateway" ? `model ${name}` : name, s);
  for (const [id, s] of Object.entries(d.channel_series || {})) renderCard("channel:" + id, `channel ${id} (attempts)`, s);
  $("no-traffic").hidden = state.charts.size > 0;
  renderErrors(d);
  refreshAlerts();
  setupPlayground(d);
  state.timer = setTimeout(refresh, POLL_MS);
}

// ---- playground ----

function fillSelect(sel, names) {
  const keep = sel.value;
  sel.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
  if (names.includes(keep)) sel.value = keep;
}

async function modelLists(d) {
  if (d.kind === "server") {
    return {
      llm: d.models.filter((m) => (m.caps || []).includes("generate")).map((m) => m.name),
      tensor: d.models.filter((m) => (m.caps || []).includes("tensor")).map((m) => m.name),
    };
  }
  // gateway: the union over channels
  const llm = new Set(), all = new Set();
  try {
    const r = await api("/v1/models");
    if (r.ok) for (const m of (await r.json()).data || []) llm.add(m.id);
  } catch (e) { /* shown as an empty list */ }
  for (const ch of d.channels || []) for (const m of ch.models || []) all.add(m);
  return { llm: [...llm], tensor: [...all].filter((m) => !llm.has(m)) };
}

async function setupPlayground(d) {
  const sig = JSON.stringify([d.kind, d.models, (d.channels || []).map((c) => c.models)]);
  if (sig === state.playgroundFor) return;
  state.playgroundFor = sig;
  const lists = await modelLists(d);
  fillSelect($("chat-model"), lists.llm);
  const before = $("v2-model").value;
  fillSelect($("v2-model"), lists.tensor);
  if ($("v2-model").value !== before || !$("v2-inputs").childElementCount) loadV2Form();
}

// Reads a Server-Sent Events body: calls onData(text) for each "data:" event.
async function readSSE(resp, onData) {
  const reader = resp.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = ev.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
      if (data) onData(data);
    }
  }
}

const chatHistory = [];

$("chat-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = $("chat-input").value.trim(), model = $("chat-model").value;
  const out = $("chat-out"), errBox = $("chat-error");
  errBox.textContent = "";
  if (!text || !model) { errBox.textContent = model ? "type a message" : "no LLM is served"; return; }
  chatHistory.push({ role: "user", content: text });
  $("chat-log").append(el("div", {}, el("b", {}, "you: "), text));
  $("chat-input").value = "";
  out.textContent = "";
  out.dataset.events = "0";
  out.dataset.done = "false";
  $("chat-send").disabled = true;
  let answer = "";
  try {
    const r = await api("/v1/chat/completions", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model, messages: chatHistory, stream: true, max_tokens: Number($("chat-max").value) || 64,
        stream_options: { include_usage: true } }),
    });
    if (!r.ok) {
      const j = await r.json().catch(() => ({}));
      throw new Error(`HTTP ${r.status}: ${(j.error && (j.error.message || j.error)) || ""}`);
    }
    await readSSE(r, (data) => {
      if (data === "[DONE]") return;
      const j = JSON.parse(data);
      if (j.error) throw new Error(j.error.message || JSON.stringify(j.error));
      for (const c of j.choices || []) {
        const piece = (c.delta && c.delta.content) || "";
        if (piece) {
          answer += piece;
          out.textContent = answer;
          out.dataset.events = String(Number(out.dataset.events) + 1);
          out.dataset.lengths = (out.dataset.lengths ? out.dataset.lengths + "," : "") + answer.length;
        }
      }
      if (j.usage) out.dataset.completionTokens = j.usage.completion_tokens;
    });
    chatHistory.push({ role: "assistant", content: answer });
    $("chat-log").append(el("div", {}, el("b", {}, model + ": "), answer));
  } catch (e) {
    chatHistory.pop();
    errBox.textContent = e.message;
  } finally {
    out.dataset.done = "true";
    $("chat-send").disabled = false;
  }
});

// A value list for shape (unknown dims -1 become 1), e.g. [1,4] -> "0, 0, 0, 0".
function sampleData(shape, datatype) {
  const n = shape.reduce((a, d) => a * (d > 0 ? d : 1), 1);
  const v = datatype === "BYTES" ? '""' : datatype === "BOOL" ? "false" : "0";
  return Array(Math.min(n, 4096)).fill(v).join(", ");
}

async function loadV2Form() {
  const box = $("v2-inputs"), model = $("v2-model").value;
  box.replaceChildren();
  $("v2-out").textContent = "";
  $("v2-error").textContent = "";
  if (!model) { box.append(el("p", { class: "muted" }, "No tensor model is served.")); return; }
  try {
    const r = await api(`/v2/models/${encodeURIComponent(model)}`);
    const meta = await r.json();
    if (!r.ok) throw new Error(`HTTP ${r.status}: ${meta.error || ""}`);
    for (const inp of meta.inputs || []) {
      const shape = inp.shape.map((d) => (d > 0 ? d : 1));
      box.append(el("fieldset", { "data-input": inp.name, "data-datatype": inp.datatype },
        el("legend", {}, `${inp.name} ${inp.datatype} [${inp.shape.join(", ")}]`),
        el("label", {}, "shape ", el("input", { type: "text", class: "v2-shape", value: shape.join(", ") })),
        el("label", {}, "values (row-major, comma-separated)",
          el("textarea", { class: "v2-data", rows: 2 }, sampleData(shape, inp.datatype)))));
    }
  } catch (e) {
    $("v2-error").textContent = e.message;
  }
}

$("v2-model").addEventListener("change", loadV2Form);

$("v2-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const model = $("v2-model").value;
  $("v2-error").textContent = "";
  $("v2-out").textContent = "";
  try {
    const inputs = [...$("v2-inputs").querySelectorAll("fieldset")].map((f) => {
      const datatype = f.dataset.datatype;
      const shape = f.querySelector(".v2-shape").value.split(",").map((s) => Number(s.trim()));
      if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`${f.dataset.input}: shape must be non-negative integers`);
      const data = JSON.parse("[" + f.querySelector(".v2-data").value + "]");
      return { name: f.dataset.input, shape, datatype, data };
    });
    const r = await api(`/v2/models/${encodeURIComponent(model)}/infer`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ inputs }),
    });
    const j = await r.json();
    if (!r.ok) throw new Error(`HTTP ${r.status}: ${j.error || ""}`);
    $("v2-out").textContent = (j.outputs || []).map((o) => `${o.name} ${o.datatype} [${o.shape.join(", ")}]\n${JSON.stringify(o.data)}`).join("\n\n");
    $("v2-out").dataset.outputs = (j.outputs || []).length;
  } catch (e) {
    $("v2-error").textContent = e.message;
  }
});

refresh();
