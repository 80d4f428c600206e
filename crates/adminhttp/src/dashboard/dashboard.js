// What the dashboards (the node's and the proxy's) share, served at /dashboard.js: formatting,
// fetching, the per-series sample history and the SVG line charts. Each page keeps its own
// tick() that records samples and draws.
"use strict";
const PERIOD_MS = 2000, WINDOW = 150; // 5 minutes of samples
const COLORS = ["#58a6ff", "#3fb950", "#d29922", "#f778ba", "#a371f7", "#39c5cf", "#ff7b72", "#e3b341"];
const history = new Map(); // series id (node, backend) -> [{t, ...figures}]
const color = new Map();   // series id -> color
const $ = (id) => document.getElementById(id);

function colorOf(id) {
  if (!color.has(id)) color.set(id, COLORS[color.size % COLORS.length]);
  return color.get(id);
}
function fmt(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  if (n >= 1e9) return (n / 1e9).toFixed(1) + "G";
  if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (n >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return String(Math.round(n * 100) / 100);
}
function ms(n) {
  if (n === null || n === undefined) return "–";
  return n < 1 ? n.toFixed(3) : n.toFixed(1);
}
function bytes(n) {
  if (!n) return "0";
  const u = ["B", "KB", "MB", "GB", "TB"]; let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return n.toFixed(i ? 1 : 0) + u[i];
}
function el(tag, text, cls) {
  const e = document.createElement(tag);
  e.textContent = text;
  if (cls) e.className = cls;
  return e;
}
async function json(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}

/** Appends a sample for series `id`, keeping the last WINDOW. */
function record(id, sample) {
  const h = history.get(id) || [];
  h.push(Object.assign({ t: Date.now() }, sample));
  while (h.length > WINDOW) h.shift();
  history.set(id, h);
}

/** Shows `found` ([level, text] pairs; level "warn" or "bad") in the #alerts box. */
function showAlerts(found) {
  const box = $("alerts");
  box.replaceChildren();
  if (!found.length) box.append(el("div", "none", "none"));
  for (const [level, text] of found) box.append(el("div", text, level === "warn" ? "warn" : ""));
}

/** Fills the legend `containerId` with one swatch per [id, label]. */
function legendOf(containerId, items) {
  const legend = $(containerId);
  legend.replaceChildren();
  for (const [id, label] of items) {
    const item = el("span", label);
    const swatch = el("i", ""); swatch.style.background = colorOf(id); item.prepend(swatch);
    legend.append(item);
  }
}

function drawChart(svgId, key) {
  const svg = $(svgId);
  const series = [...history.entries()];
  let top = 0;
  for (const [, h] of series) for (const p of h) if (p[key] > top) top = p[key];
  const max = top > 0 ? top * 1.1 : 1; // the chart's scale: a margin above the top value
  const now = Date.now(), span = WINDOW * PERIOD_MS;
  svg.replaceChildren();
  for (const [id, h] of series) {
    const pts = h.filter((p) => p[key] !== null && p[key] !== undefined)
      .map((p) => `${(300 * (1 - (now - p.t) / span)).toFixed(1)},${(118 - 114 * p[key] / max).toFixed(1)}`);
    if (pts.length < 2) continue;
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", pts.join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", colorOf(id));
    line.setAttribute("stroke-width", "1.5");
    line.setAttribute("vector-effect", "non-scaling-stroke");
    svg.append(line);
  }
  const label = document.createElementNS("http://www.w3.org/2000/svg", "text");
  label.setAttribute("x", "4"); label.setAttribute("y", "12");
  label.setAttribute("fill", "#8a96a3"); label.setAttribute("font-size", "10");
  label.textContent = "max " + fmt(top);
  svg.append(label);
}

