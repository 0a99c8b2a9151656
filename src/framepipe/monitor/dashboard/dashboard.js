// The framepipe dashboard: one Server-Sent Event a second, tiles, plain canvas charts, a preview.
"use strict";

const HISTORY = 600; // points kept per chart: ten minutes at one a second
const COLORS = ["#4fc3f7", "#ffb74d", "#ef5350"];
const history = { fps: [], p50: [], p99: [], budget: [], queue: [], capacity: [], cpu: [], memory: [] };
const $ = (id) => document.getElementById(id);

function push(name, value) {
  const values = history[name];
  values.push(value);
  if (values.length > HISTORY) values.shift();
}

function fmt(value, digits = 1) {
  return value === null || value === undefined ? "-" : Number(value).toFixed(digits);
}

// Lines on a canvas from 0 up to the largest value shown, one point a second, the newest at the
// right; the axes say the bounds and how many seconds ago the left edge is. The last series may
// be a dashed limit.
function draw(canvas, series, dashedLast = false) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  const top = Math.max(1e-9, ...series.flat()) * 1.1;
  const span = Math.max(1, ...series.map((values) => values.length - 1)); // fills the width
  const plot = height - 14; // room for the time axis
  ctx.fillStyle = "#8a96a3";
  ctx.font = "11px system-ui";
  ctx.fillText(fmt(top, top < 10 ? 2 : 0), 2, 11);
  ctx.fillText("0", 2, plot - 2);
  ctx.fillText(`${span} s ago`, 2, height - 2);
  ctx.fillText("now", width - 24, height - 2);
  series.forEach((values, i) => {
    ctx.strokeStyle = COLORS[i];
    ctx.lineWidth = 1.5;
    ctx.setLineDash(dashedLast && i === series.length - 1 ? [5, 4] : []);
    ctx.beginPath();
    const offset = span - (values.length - 1); // a shorter series ends at "now" too
    values.forEach((value, x) => {
      const px = ((x + offset) / span) * width;
      const py = plot - (value / top) * (plot - 4);
      if (x === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
    });
    ctx.stroke();
  });
}

// Several streams: one row per stream (tiles, then FPS, frame ms and CPU charts), built once.
const STREAM_TILES = [
  ["fps", "FPS"], ["frames", "frames processed"], ["frame-ms", "frame ms p50 / p99"],
  ["misses", "budget misses"], ["drops", "frames dropped"], ["memory", "memory MB"],
  ["cpu", "CPU % of one core"],
];
const STREAM_CHARTS = [
  ["fps", "FPS"],
  ["frame", 'frame ms: <em class="c0">p50</em> <em class="c1">p99</em> <em class="c2">budget</em>'],
  ["cpu", "CPU % of one core"],
];
const rows = new Map(); // stream name -> {element, history}

function element(tag, className, html) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (html !== undefined) el.innerHTML = html;
  return el;
}

function streamRow(name) {
  let row = rows.get(name);
  if (row) return row;
  const el = element("section", "stream");
  el.dataset.stream = name;
  const title = element("h2");
  title.append(element("span", "name"), element("span", "badge"), element("small", "where"));
  title.querySelector(".name").textContent = name;
  const tiles = element("div", "tiles");
  for (const [key, label] of STREAM_TILES) {
    const tile = element("div", "tile");
    const value = element("b", "", "-");
    value.dataset.key = key;
    tile.append(value, element("span", "", label));
    tiles.append(tile);
  }
  const charts = element("div", "charts");
  for (const [key, caption] of STREAM_CHARTS) {
    const figure = element("figure");
    const canvas = element("canvas");
    canvas.dataset.chart = key;
    figure.append(canvas, element("figcaption", "", caption));
    charts.append(figure);
  }
  const preview = element("img", "stream-preview");
  preview.alt = `latest frame of ${name}`;
  const link = element("a");
  link.href = `/streams/${encodeURIComponent(name)}/stream.mjpg`;
  link.textContent = "live MJPEG";
  const side = element("div", "stream-side");
  side.append(preview, link);
  el.append(title, tiles, charts, side);
  $("streams").append(el);
  row = { el, history: { fps: [], p50: [], p99: [], budget: [], cpu: [] } };
  rows.set(name, row);
  return row;
}

function showStream(entry) {
  const row = streamRow(entry.stream), h = row.history;
  const set = (key, value) => { row.el.querySelector(`[data-key="${key}"]`).textContent = value; };
  const badge = row.el.querySelector(".badge");
  badge.textContent = entry.state;
  badge.className = "badge " + (entry.state === "running" ? "ok" : "bad");
  const restarts = entry.restart_count ? `${entry.restart_count} restarts` : null;
  const where = [entry.source, entry.pid === null ? null : "pid " + entry.pid, entry.node, restarts];
  row.el.querySelector(".where").textContent = where.filter((part) => part).join(" · ");
  set("fps", fmt(entry.fps));
  set("frames", entry.frames_processed);
  set("frame-ms", `${fmt(entry.frame_ms.p50)} / ${fmt(entry.frame_ms.p99)}`);
  set("misses", entry.budget_misses);
  set("drops", entry.frames_dropped);
  set("memory", fmt(entry.memory_mb));
  set("cpu", fmt(entry.cpu_percent));
  const add = (name, value) => { h[name].push(value); if (h[name].length > HISTORY) h[name].shift(); };
  add("fps", entry.fps); add("p50", entry.frame_ms.p50); add("p99", entry.frame_ms.p99);
  add("budget", entry.budget_ms); add("cpu", entry.cpu_percent || 0);
  const chart = (key) => row.el.querySelector(`[data-chart="${key}"]`);
  draw(chart("fps"), [h.fps]);
  draw(chart("frame"), [h.p50, h.p99, h.budget], true);
  draw(chart("cpu"), [h.cpu]);
  if (entry.frames_processed > 0) {
    refreshImage(row.el.querySelector(".stream-preview"),
      `/streams/${encodeURIComponent(entry.stream)}/frame.jpg`);
  }
}

function showStreams(entries) {
  entries.forEach(showStream);
  // A stream removed from a running set leaves the page with its row and its charts' history.
  const present = new Set(entries.map((entry) => entry.stream));
  for (const [name, row] of rows) {
    if (!present.has(name)) {
      row.el.remove();
      rows.delete(name);
    }
  }
  const running = entries.filter((entry) => entry.state === "running").length;
  const badge = $("state");
  badge.textContent = `${running} / ${entries.length} running`;
  badge.className = "badge " + (running === entries.length ? "ok" : "bad");
  $("source").textContent = `${entries.length} streams`;
}

// A new picture replaces the shown one only once it has loaded: no flicker, no broken image.
function refreshImage(img, url) {
  const next = new Image();
  next.onload = () => { img.src = next.src; };
  next.src = url + "?t=" + Date.now();
}

function refreshPreview() {
  refreshImage($("preview"), "/frame.jpg");
}

function show(doc) {
  const log = doc.logging, run = doc.pipeline;
  $("queue").textContent = `${log.queue_size} / ${log.queue_maxsize}`;
  $("log-dropped").textContent = log.dropped;
  $("memory").textContent = fmt(doc.memory_mb);
  $("cpu").textContent = fmt(doc.cpu_percent);
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  push("queue", log.queue_size); push("capacity", log.queue_maxsize);
  push("cpu", doc.cpu_percent); push("memory", doc.memory_mb);
  draw($("chart-queue"), [history.queue, [], history.capacity], true);
  draw($("chart-cpu"), [history.cpu]);
  draw($("chart-memory"), [[], history.memory]);

  // With several streams the rows below replace the single stream's tiles, charts and preview
  // (a worker's frames stay in its process); the links stay.
  const several = Array.isArray(doc.streams);
  document.querySelectorAll(".pipeline").forEach((el) => {
    el.hidden = !run || (several && !el.classList.contains("preview"));
  });
  $("preview").hidden = several;
  $("mjpeg-link").hidden = several; // a worker's frames stay in its process
  // With several streams this process is the supervisor: its own memory and CPU, not a stream's.
  $("memory-label").textContent = several ? "supervisor memory MB" : "memory MB";
  $("cpu-label").textContent = several ? "supervisor CPU % of one core" : "CPU % of one core";
  $("no-pipeline").hidden = !!run;
  if (several) {
    showStreams(doc.streams);
    return;
  }
  const badge = $("state");
  if (!run) {
    badge.textContent = log.listener_running ? "logging" : "no log writer";
    badge.className = "badge " + (log.listener_running ? "ok" : "");
    return;
  }
  badge.textContent = run.state;
  badge.className = "badge " + (run.state === "running" ? "ok" : "bad");
  $("source").textContent = run.source;
  $("fps").textContent = fmt(run.fps);
  $("frames").textContent = run.frames_processed;
  $("frame-ms").textContent = `${fmt(run.frame_ms.p50)} / ${fmt(run.frame_ms.p99)}`;
  $("budget").textContent = fmt(run.budget_ms);
  $("misses").textContent = run.budget_misses;
  $("age-ms").textContent = `${fmt(run.frame_age_ms.p50)} / ${fmt(run.frame_age_ms.p99)}`;
  $("drops").textContent = run.frames_dropped;
  push("fps", run.fps); push("p50", run.frame_ms.p50); push("p99", run.frame_ms.p99);
  push("budget", run.budget_ms);
  draw($("chart-fps"), [history.fps]);
  draw($("chart-frame"), [history.p50, history.p99, history.budget], true);
  if (run.frames_processed > 0) refreshPreview();
}

// The end of a run comes as an "end" event with the final reading: shown, and no reconnecting.
// A server that goes away without one is tried again a few times, each wait twice the last,
// then the page says so and offers a reload.
const RETRIES = 3;
let failures = 0;
let ended = false;

function setBadge(text, kind) {
  $("state").textContent = text;
  $("state").className = "badge " + kind;
}

function connect() {
  const events = new EventSource("/events");
  events.onopen = () => { failures = 0; };
  events.onmessage = (event) => show(JSON.parse(event.data));
  events.addEventListener("end", (event) => {
    ended = true;
    events.close();
    show(JSON.parse(event.data));
    setBadge("ended", "");
    $("updated").textContent = "run ended " + new Date().toLocaleTimeString();
  });
  events.onerror = () => {
    events.close(); // the browser's own retry would go on forever
    if (ended) return;
    failures += 1;
    if (failures > RETRIES) {
      setBadge("server gone", "bad");
      $("gone").hidden = false;
      return;
    }
    setBadge(`disconnected, retry ${failures} of ${RETRIES}`, "bad");
    setTimeout(connect, 1000 * 2 ** (failures - 1));
  };
}

// A page opened mid-run starts with what the server kept (ten minutes at one point a second).
function loadHistory(points) {
  for (const point of points) {
    push("queue", point.queue_size); push("capacity", point.queue_maxsize);
    push("cpu", point.cpu_percent); push("memory", point.memory_mb);
    if (point.pipeline) {
      push("fps", point.pipeline.fps); push("p50", point.pipeline.p50);
      push("p99", point.pipeline.p99); push("budget", point.pipeline.budget_ms);
    }
    for (const [name, s] of Object.entries(point.streams || {})) {
      const h = streamRow(name).history;
      const add = (key, value) => { h[key].push(value); if (h[key].length > HISTORY) h[key].shift(); };
      add("fps", s.fps); add("p50", s.p50); add("p99", s.p99); add("budget", s.budget_ms);
      add("cpu", s.cpu_percent || 0);
    }
  }
}

$("reload").onclick = () => window.location.reload();
fetch("/history")
  .then((reply) => (reply.ok ? reply.json() : []))
  .then(loadHistory, () => {})
  .finally(connect);
