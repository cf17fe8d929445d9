// The Shoal dashboard: polls GET /api/cluster (lualib/shoal/dashboard.lua)
// and fills the panels of index.html. Every value is set as text (never as
// HTML). A failed or late poll keeps the last view and says so at the top.
"use strict";

const POLL_MS = 2000;
const TIMEOUT_MS = 8000;
let refreshes = 0;

function arr(x) { return Array.isArray(x) ? x : []; }
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function row(cells, cls, data) {
  const tr = el("tr", null, cls);
  for (const [k, v] of Object.entries(data || {})) tr.dataset[k] = v;
  for (const c of cells) {
    if (c instanceof Node) { const td = el("td"); td.appendChild(c); tr.appendChild(td); }
    else tr.appendChild(el("td", c === undefined || c === null ? "-" : c));
  }
  return tr;
}
function body(id) { const b = document.querySelector("#" + id + " tbody"); b.replaceChildren(); return b; }
function state(s) { return el("span", s || "?", s || "unavailable"); }
function fields(o) {
  if (!o || typeof o !== "object") return "";
  return Object.keys(o).sort().map(k => k + "=" + (typeof o[k] === "object" ? JSON.stringify(o[k]) : o[k])).join(" ");
}
function none(parent, text) { parent.appendChild(el(parent.tagName === "TBODY" ? "tr" : "li", null, "unavailable")).textContent = text; }

function render(d) {
  const comps = arr(d.components);
  const nodes = arr(d.nodes);

  let b = body("nodes");
  for (const n of nodes) {
    const svc = n.services ? arr(n.services).length : (n.state === "dead" ? "-" : "unavailable");
    b.appendChild(row([n.node, state(n.state), n.addr ? n.addr + ":" + n.port : "-",
      n.age_ms !== undefined ? n.age_ms + " ms" : "-", svc, arr(n.unavailable).join("; ") || "-"],
      "node", { node: n.node, state: n.state }));
  }

  b = body("baseapps");
  for (const c of comps.filter(c => c.type === "baseapp")) {
    const s = c.status || {};
    b.appendChild(row([c.id, c.node, state(c.state), s.online, s.cpu], "baseapp",
      { id: c.id, online: s.online === undefined ? "" : s.online }));
  }
  if (!b.children.length) none(b, "no baseapp registered");

  b = body("cellapps");
  for (const c of comps.filter(c => c.type === "cellapp")) {
    const s = c.status || {};
    b.appendChild(row([c.id, c.node, state(c.state), s.spaces, s.entities], "cellapp", { id: c.id }));
  }
  if (!b.children.length) none(b, "no cellapp registered");
  b = body("spaces");
  const seen = {};
  for (const s of arr(d.spaces)) {
    if (seen[s.space]) continue; // one active cellappmgr answers; a second would repeat its map
    seen[s.space] = true;
    b.appendChild(row([s.space, s.cellapp_id, s.cellapp, s.epoch], "space", { space: s.space, cellapp: s.cellapp_id }));
  }
  if (!b.children.length) none(b, "no space map (no active cellappmgr answered)");

  const fo = document.getElementById("failovers"); fo.replaceChildren();
  const al = document.getElementById("alerts"); al.replaceChildren();
  const ds = document.getElementById("ds"); ds.replaceChildren();
  const sv = document.getElementById("services"); sv.replaceChildren();
  for (const n of nodes) {
    for (const e of arr(n.failovers)) {
      const li = el("li", "node " + n.node + ": " + e.line, "failover");
      li.dataset.event = e.event;
      fo.appendChild(li);
      if (/alert/.test(e.line)) al.appendChild(el("li", "node " + n.node + ": " + e.line, "alert"));
    }
    for (const line of arr(n.ds_alerts)) al.appendChild(el("li", "node " + n.node + ": " + line, "alert"));
    for (const [key, what] of [["ds_controller", "dscontroller"], ["ds_agent", "dsagent"]]) {
      if (n[key]) {
        ds.appendChild(el("h3", "node " + n.node + " " + what));
        ds.appendChild(el("pre", arr(n[key]).join("\n"), "ds"));
      }
    }
    const det = el("details", null, "services");
    det.dataset.node = n.node;
    const list = arr(n.services);
    det.appendChild(el("summary", "node " + n.node + ": " + (n.services ? list.length + " services" : n.state === "dead" ? "dead (not asked)" : "unavailable")));
    if (n.services) {
      const t = el("table");
      t.appendChild(row(["handle", "module", "messages", "queue", "cpu s", "memory"]));
      for (const s of list) t.appendChild(row([s.handle, s.module, s.messages, s.mqlen,
        typeof s.cpu === "number" ? s.cpu.toFixed(3) : s.cpu, s.mem], "service"));
      det.appendChild(t);
    }
    sv.appendChild(det);
  }
  if (!fo.children.length) none(fo, "no failover event");
  if (!al.children.length) none(al, "no alert");
  if (!ds.children.length) ds.appendChild(el("p", "no dsagent or dscontroller answered", "unavailable"));

  b = body("components");
  for (const c of comps) {
    b.appendChild(row([c.type, c.id, c.node, state(c.state), c.age_ms + " ms", fields(c.status)], "component",
      { type: c.type, id: c.id }));
  }
  if (!b.children.length) none(b, "registry unavailable");
  b = body("leases");
  for (const l of arr(d.leases)) {
    const h = l.holder ? l.holder.type + "/" + l.holder.id : "free";
    b.appendChild(row([l.name, l.epoch, h], "lease"));
  }
}

async function poll() {
  const st = document.getElementById("status");
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
  try {
    const r = await fetch("/api/cluster", { signal: ctl.signal, cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    const d = await r.json();
    render(d);
    refreshes++;
    const gaps = arr(d.unavailable);
    st.textContent = "node " + d.node + ", updated " + new Date().toLocaleTimeString() + " (" + d.took_ms + " ms)" +
      (gaps.length ? "; unavailable: " + gaps.join("; ") : "");
    st.className = "ok";
    st.dataset.refreshes = refreshes;
  } catch (e) {
    st.textContent = "API unavailable (" + (e.name === "AbortError" ? "timeout" : e.message) + "); showing the last view";
    st.className = "stale";
  } finally {
    clearTimeout(timer);
    setTimeout(poll, POLL_MS);
  }
}

poll();
