// The edged dashboard: reads /dashboard/state and /analytics once a second
// (same origin, same credentials as the page) and draws them. No build
// step, no libraries (docs/dashboard.md).
"use strict";

const $ = (id) => document.getElementById(id);
let last = null; // the previous state, for rates

function fmtBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return n.toFixed(i ? 1 : 0) + " " + units[i];
}

function pct(part, whole) {
  if (!(whole > 0)) return "–";
  const p = 100 * part / whole;
  return p > 0 && p < 0.1 ? "<0.1%" : p.toFixed(1) + "%";
}

function fmtMs(ms) {
  return ms < 1 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0);
}

function sum(obj) {
  return Object.values(obj || {}).reduce((a, b) => a + b, 0);
}

// fill replaces the rows of table id with one row per item.
function fill(id, items, cells) {
  const body = $(id).tBodies[0];
  const rows = items.map((it) => {
    const tr = document.createElement("tr");
    for (const c of cells(it)) {
      const td = document.createElement("td");
      if (c instanceof Node) td.append(c); else td.textContent = c;
      tr.append(td);
    }
    return tr;
  });
  body.replaceChildren(...rows);
}

function health(o) {
  const s = document.createElement("span");
  s.className = o.health === "up" ? "up" : (o.health === "unchecked" ? "" : "down");
  s.textContent = o.health;
  return s;
}

function drawState(s) {
  const total = sum(s.requests);
  $("requests-total").textContent = total;
  if (last) {
    const dt = (Date.parse(s.time) - Date.parse(last.time)) / 1000;
    if (dt > 0) $("rps").textContent = ((total - sum(last.requests)) / dt).toFixed(1);
  }
  const r = s.requests || {};
  const hits = (r.hit || 0) + (r.stale || 0) + (r.revalidated || 0) + (r["stale-if-error"] || 0);
  $("hit-ratio").textContent = pct(hits, total);
  const th = s.tier_hits || {};
  $("tier-hits").textContent = "from memory " + pct(th.memory || 0, total) + ", disk " + pct(th.disk || 0, total);
  const sc = s.status || {};
  const errs = (sc["4xx"] || 0) + (sc["5xx"] || 0);
  $("errors").textContent = pct(errs, total);
  $("errors").className = "big " + (sc["5xx"] ? "down" : "");
  $("errors-detail").textContent = "4xx " + (sc["4xx"] || 0) + ", 5xx " + (sc["5xx"] || 0) + " since start";
  const b = s.served_bytes || {};
  const bytes = sum(b);
  $("tiers").textContent = "bytes from memory " + pct(b.memory || 0, bytes) +
    ", disk " + pct(b.disk || 0, bytes) + ", upstream " + pct(b.none || 0, bytes);
  const st = s.store;
  $("memory").textContent = pct(st.memory_bytes, st.memory_limit);
  $("memory-detail").textContent = st.memory_entries + " objects, " + fmtBytes(st.memory_bytes) + " of " + fmtBytes(st.memory_limit);
  $("disk").textContent = pct(st.disk_bytes, st.disk_limit);
  $("disk-detail").textContent = st.disk_entries + " objects, " + fmtBytes(st.disk_bytes) + " of " + fmtBytes(st.disk_limit);
  const p = s.purge;
  $("purge-state").textContent = !p.connected ? "disconnected" : (p.behind ? "behind" : "connected");
  $("purge-state").className = "big " + (p.connected && !p.behind ? "up" : "down");
  $("purge-seq").textContent = p.applied_sequence;
  $("purge-stream-seq").textContent = p.stream_sequence;
  $("purge-pending").textContent = p.pending + (p.problem ? " — " + p.problem : "");
  const figures = (o) => [o.in_flight, o.requests, o.ejections || 0, o.p95_ms ? fmtMs(o.p95_ms) : "–"];
  fill("origins", s.origins, (o) => [o.pool, o.url, health(o), ...figures(o)]);
  fill("shields", s.shields || [], (o) => [o.url, health(o), ...figures(o)]);
  last = s;
}

function drawAnalytics(a) {
  fill("routes", a.routes, (r) => [r.route, r.requests, pct(r.hits, r.requests), fmtMs(r.p50_ms), fmtMs(r.p95_ms), fmtMs(r.p99_ms)]);
  const codes = Object.keys(a.status).sort();
  fill("status", codes, (c) => [c, a.status[c]]);
  for (const tr of $("status").tBodies[0].rows) {
    if (Number(tr.cells[0].textContent) >= 400) tr.className = "down";
  }
  fill("top-urls", a.top_urls, (c) => [c.key, c.count]);
  fill("top-clients", a.top_clients, (c) => [c.key, c.count]);
  fill("top-errors", a.top_error_clients, (c) => [c.key, c.count]);
}

async function getJSON(path) {
  const resp = await fetch(path, { cache: "no-store", credentials: "same-origin" });
  if (!resp.ok) throw new Error(path + ": " + resp.status);
  return resp.json();
}

async function refresh() {
  try {
    const [s, a] = await Promise.all([getJSON("state"), getJSON("../analytics")]);
    drawState(s);
    drawAnalytics(a);
    $("updated").textContent = "updated " + new Date(s.time).toLocaleTimeString();
  } catch (e) {
    $("updated").textContent = "error: " + e.message;
  }
  setTimeout(refresh, 1000);
}

// The purge form calls the purge API itself, with the token typed here.
$("purge-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const out = $("purge-result");
  out.textContent = "purging…";
  try {
    const resp = await fetch("../purge", {
      method: "POST",
      headers: { "Authorization": "Bearer " + $("purge-token").value, "Content-Type": "application/json" },
      body: JSON.stringify({ urls: [$("purge-url").value] }),
    });
    const body = await resp.json();
    out.textContent = resp.ok ? "purged " + body.count + " object(s), sequence " + body.seq : "failed: " + body.error;
  } catch (e) {
    out.textContent = "failed: " + e.message;
  }
});

refresh();
