// The framepipe dashboard: one Server-Sent Event a second, tiles, plain canvas charts, a preview.
"use strict";

const HISTORY = 120; // points kept per chart: two minutes
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

// Lines on a canvas, scaled to the largest value shown; the last series may be a dashed limit.
function draw(canvas, series, dashedLast = false) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  const top = Math.max(1e-9, ...series.flat()) * 1.1;
  const span = Math.max(1, ...series.map((values) => values.length - 1)); // fills the width
  ctx.fillStyle = "#8a96a3";
  ctx.font = "11px system-ui";
  ctx.fillText(fmt(top, top < 10 ? 2 : 0), 2, 11);
  series.forEach((values, i) => {
    ctx.strokeStyle = COLORS[i];
    ctx.lineWidth = 1.5;
    ctx.setLineDash(dashedLast && i === series.length - 1 ? [5, 4] : []);
    ctx.beginPath();
    values.forEach((value, x) => {
      const px = (x / span) * width;
      const py = height - (value / top) * (height - 4);
      if (x === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
    });
    ctx.stroke();
  });
}

function refreshPreview() {
  const next = new Image();
  next.onload = () => { $("preview").src = next.src; };
  next.src = "/frame.jpg?t=" + Date.now();
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

  document.querySelectorAll(".pipeline").forEach((el) => { el.hidden = !run; });
  $("no-pipeline").hidden = !!run;
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

const events = new EventSource("/events");
events.onmessage = (event) => show(JSON.parse(event.data));
events.onerror = () => {
  $("state").textContent = "disconnected";
  $("state").className = "badge bad";
};
