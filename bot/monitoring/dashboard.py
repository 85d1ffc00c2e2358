"""The dashboard: a ring buffer of samples and one self-contained HTML page.

Every few seconds ``DashboardSeries.sample`` appends one point (latency p50/p95 of the commands
handled since the previous point, commands, failed commands, exceptions, guilds). The page has no
external resource at all (a Content-Security-Policy forbids it): a small hand-written script draws
the charts on <canvas>, first from the data embedded in the page, then from /dashboard/data every
few seconds. After drawing, each canvas carries ``data-plotted="N"`` (points or bars drawn) and
the body ``data-rendered="1"`` (and ``data-refreshed="N"`` after N successful refreshes), which
the headless-browser test checks.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.monitoring.stats import NBUCKETS, ms, quantile

if TYPE_CHECKING:
    from bot.monitoring.metrics import Metrics

CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'")


class DashboardSeries:
    def __init__(self, metrics: Metrics, guild_count: Callable[[], int | None],
                 clock: Callable[[], float] = time.time, maxlen: int = 720,
                 interval: float = 5.0) -> None:
        self.metrics = metrics
        self.guild_count = guild_count
        self.clock = clock
        self.interval = interval
        self.points: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._hist = [0] * NBUCKETS
        self._count = 0
        self._failed = 0
        self._errors = 0

    def sample(self) -> dict[str, Any]:
        life = self.metrics.slo.lifetime
        hist = list(life.hist)
        delta = [a - b for a, b in zip(hist, self._hist, strict=True)]
        p50 = quantile(delta, 0.5)
        p95 = quantile(delta, 0.95)
        errors_total = self.metrics.errors.total
        try:
            guilds = self.guild_count()
        except Exception:
            guilds = None
        point = {
            "t": round(self.clock(), 3),
            "p50_ms": ms(p50),
            "p95_ms": ms(p95),
            "commands": life.count - self._count,
            "failed": life.errors - self._failed,
            "errors": errors_total - self._errors,
            "guilds": guilds,
        }
        self._hist, self._count, self._failed, self._errors = (
            hist, life.count, life.errors, errors_total)
        self.points.append(point)
        return point

    def data(self, summary: dict[str, Any] | None = None) -> dict[str, Any]:
        totals = sorted(self.metrics.command_totals().items(), key=lambda kv: kv[1], reverse=True)
        return {
            "generated": round(self.clock(), 3),
            "interval": self.interval,
            "points": list(self.points),
            "commands": [{"command": name, "calls": calls} for name, calls in totals],
            "summary": summary or {},
        }


def render_page(data: dict[str, Any]) -> str:
    embedded = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return _PAGE.replace("__INITIAL_DATA__", embedded)


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>guildbot dashboard</title>
<style>
  body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 16px;
         background: #f6f7f9; color: #222; }
  h1 { font-size: 18px; margin: 0 0 8px; }
  #summary { margin: 0 0 12px; color: #444; }
  #summary span { display: inline-block; margin-right: 18px; }
  .grid { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
  .card { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 8px 10px; }
  .card h2 { font-size: 13px; margin: 0 0 4px; font-weight: 600; }
  canvas { width: 100%; height: 300px; display: block; }
  .legend span { margin-right: 12px; font-size: 12px; }
  .legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
</style>
</head>
<body data-rendered="0">
<h1>guildbot</h1>
<div id="summary"></div>
<div class="grid">
  <div class="card"><h2>Command latency (ms)</h2><div class="legend" id="legend-latency"></div>
    <canvas id="plot-latency" data-plotted="0"></canvas></div>
  <div class="card"><h2>Command usage (calls since start)</h2>
    <div class="legend">&nbsp;</div><canvas id="plot-usage" data-plotted="0"></canvas></div>
  <div class="card"><h2>Errors per interval</h2><div class="legend" id="legend-errors"></div>
    <canvas id="plot-errors" data-plotted="0"></canvas></div>
  <div class="card"><h2>Guilds</h2><div class="legend">&nbsp;</div>
    <canvas id="plot-guilds" data-plotted="0"></canvas></div>
</div>
<script id="initial-data" type="application/json">__INITIAL_DATA__</script>
<script>
"use strict";
const COLORS = ["#4e79a7", "#e15759", "#f28e2b", "#59a14f", "#76b7b2", "#edc948", "#b07aa1",
                "#ff9da7", "#9c755f", "#bab0ac"];

function setup(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 560, h = canvas.clientHeight || 300;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.font = "11px sans-serif";
  return [ctx, w, h];
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmtNum(v) {
  if (v >= 1000) return (v / 1000).toFixed(v >= 10000 ? 0 : 1) + "k";
  if (v >= 100 || v === 0) return v.toFixed(0);
  return String(parseFloat(v.toFixed(v >= 10 ? 1 : 3)));
}

function fmtBytes(v) {
  if (v == null) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? String(v) : v.toFixed(1)) + " " + units[i];
}

function fmtTime(t) { return new Date(t * 1000).toTimeString().slice(0, 8); }

function yAxis(ctx, L, T, pw, ph, max) {
  ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = T + ph - ph * i / 4;
    ctx.strokeStyle = i === 0 ? "#888" : "#e3e6ea";
    ctx.beginPath(); ctx.moveTo(L, y); ctx.lineTo(L + pw, y); ctx.stroke();
    ctx.fillStyle = "#555"; ctx.textAlign = "right";
    ctx.fillText(fmtNum(max * i / 4), L - 5, y + 4);
  }
}

function legend(id, series) {
  const el = document.getElementById(id);
  if (!el) return;
  el.textContent = "";
  series.forEach((s, k) => {
    const span = document.createElement("span");
    const sw = document.createElement("i");
    sw.style.background = s.color || COLORS[k];
    span.appendChild(sw);
    span.appendChild(document.createTextNode(s.name));
    el.appendChild(span);
  });
}

function lineChart(canvas, times, series) {
  const [ctx, w, h] = setup(canvas);
  const L = 48, R = 12, T = 10, B = 22, pw = w - L - R, ph = h - T - B;
  let max = 0;
  for (const s of series) for (const v of s.values) if (v != null && v > max) max = v;
  max = niceMax(max);
  yAxis(ctx, L, T, pw, ph, max);
  const n = times.length;
  const t0 = n ? times[0] : 0, t1 = n ? times[n - 1] : 1, span = Math.max(t1 - t0, 1);
  const x = (t) => n === 1 ? L + pw / 2 : L + pw * (t - t0) / span;
  const y = (v) => T + ph - ph * Math.min(v, max) / max;
  ctx.fillStyle = "#555";
  if (n) {
    ctx.textAlign = "left"; ctx.fillText(fmtTime(t0), L, h - 6);
    ctx.textAlign = "right"; ctx.fillText(fmtTime(t1), L + pw, h - 6);
  } else {
    ctx.textAlign = "center"; ctx.fillText("no data yet", L + pw / 2, T + ph / 2);
  }
  let plotted = 0;
  series.forEach((s, k) => {
    const color = s.color || COLORS[k];
    ctx.strokeStyle = color; ctx.fillStyle = color; ctx.lineWidth = 2;
    ctx.beginPath();
    let pen = false;
    s.values.forEach((v, i) => {
      if (v == null) { pen = false; return; }
      const px = x(times[i]), py = y(v);
      if (pen) ctx.lineTo(px, py); else { ctx.moveTo(px, py); pen = true; }
      plotted++;
    });
    ctx.stroke();
    if (n <= 90) {
      s.values.forEach((v, i) => {
        if (v == null) return;
        ctx.beginPath(); ctx.arc(x(times[i]), y(v), 2.5, 0, 2 * Math.PI); ctx.fill();
      });
    }
  });
  canvas.dataset.plotted = String(plotted);
}

function barChart(canvas, labels, values) {
  const [ctx, w, h] = setup(canvas);
  const L = 48, R = 12, T = 10, B = 40, pw = w - L - R, ph = h - T - B;
  const max = niceMax(Math.max(0, ...values));
  yAxis(ctx, L, T, pw, ph, max);
  const n = labels.length;
  if (!n) {
    ctx.fillStyle = "#555"; ctx.textAlign = "center";
    ctx.fillText("no data yet", L + pw / 2, T + ph / 2);
  }
  const slot = pw / Math.max(n, 1), bw = Math.max(2, slot * 0.7);
  let plotted = 0;
  labels.forEach((label, i) => {
    const v = values[i], bh = ph * v / max, bx = L + slot * i + (slot - bw) / 2;
    ctx.fillStyle = COLORS[i % COLORS.length];
    ctx.fillRect(bx, T + ph - bh, bw, bh);
    ctx.fillStyle = "#333"; ctx.textAlign = "center";
    ctx.fillText(label.length > 14 ? label.slice(0, 13) + "\\u2026" : label,
                 bx + bw / 2, T + ph + 14);
    ctx.fillText(fmtNum(v), bx + bw / 2, T + ph - bh - 3);
    plotted++;
  });
  canvas.dataset.plotted = String(plotted);
}

function summary(s) {
  const el = document.getElementById("summary");
  el.textContent = "";
  const items = [
    ["ready", s.ready == null ? "?" : (s.ready ? "yes" : "NO")],
    ["guilds", s.guilds],
    ["commands (5 min)", s.commands_5m],
    ["error rate (5 min)",
     s.error_rate_5m == null ? "-" : (100 * s.error_rate_5m).toFixed(2) + " %"],
    ["p95 (5 min)", s.p95_ms_5m == null ? "-" : s.p95_ms_5m + " ms"],
    ["uptime", s.uptime_seconds == null ? "-" : Math.round(s.uptime_seconds) + " s"],
    ["database", fmtBytes(s.database_bytes)],
  ];
  if (s.offsite_enabled) {
    items.push(["off-host backup age", s.offsite_age_seconds == null ? "none yet"
                : (s.offsite_age_seconds / 3600).toFixed(1) + " h"]);
  }
  for (const [k, v] of items) {
    const span = document.createElement("span");
    span.textContent = k + ": " + (v == null ? "-" : v);
    el.appendChild(span);
  }
}

function render(data) {
  const pts = data.points || [];
  const times = pts.map((p) => p.t);
  const lat = [{name: "p50", values: pts.map((p) => p.p50_ms)},
               {name: "p95", values: pts.map((p) => p.p95_ms)}];
  legend("legend-latency", lat);
  lineChart(document.getElementById("plot-latency"), times, lat);
  const cmds = data.commands || [];
  barChart(document.getElementById("plot-usage"), cmds.map((c) => c.command),
           cmds.map((c) => c.calls));
  const errs = [{name: "failed commands", values: pts.map((p) => p.failed)},
                {name: "exceptions", values: pts.map((p) => p.errors)}];
  legend("legend-errors", errs);
  lineChart(document.getElementById("plot-errors"), times, errs);
  lineChart(document.getElementById("plot-guilds"), times,
            [{name: "guilds", values: pts.map((p) => p.guilds), color: COLORS[3]}]);
  summary(data.summary || {});
  document.body.dataset.rendered = "1";
}

let current = JSON.parse(document.getElementById("initial-data").textContent);
render(current);
const interval = Math.min(10, Math.max(2, current.interval || 5)) * 1000;
let refreshed = 0;
async function refresh() {
  try {
    const res = await fetch("dashboard/data", {cache: "no-store"});
    if (res.ok) {
      current = await res.json();
      render(current);
      document.body.dataset.refreshed = String(++refreshed);
    }
  } catch (e) { /* the bot may be restarting; keep the last picture */ }
}
setInterval(refresh, interval);
window.addEventListener("resize", () => render(current));
</script>
</body>
</html>
"""
