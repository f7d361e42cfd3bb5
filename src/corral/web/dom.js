// Small DOM and formatting helpers shared by every page. No framework: elements are built
// with h() and tables are updated in place by KeyedTable so rows never jump.

/** h("a.cls#id", {href, onclick, ...}, ...children) → Element. */
export function h(spec, props, ...children) {
  const m = /^([a-z0-9]+)?((?:[.#][\w-]+)*)$/i.exec(spec);
  const el = document.createElement((m && m[1]) || "div");
  if (m && m[2]) {
    for (const part of m[2].match(/[.#][\w-]+/g)) {
      if (part[0] === ".") el.classList.add(part.slice(1));
      else el.id = part.slice(1);
    }
  }
  if (props && (typeof props !== "object" || props instanceof Node || Array.isArray(props))) {
    children.unshift(props);
    props = null;
  }
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key in el && !key.includes("-") && key !== "list" && key !== "form") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/** Replace the children of el with the given nodes. */
export function fill(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

// ---------------------------------------------------------------- formatting

const pad = (n, w = 2) => String(n).padStart(w, "0");

export function parseTime(value) {
  if (value === null || value === undefined || value === "") return null;
  if (typeof value === "number") return value > 1e11 ? value : value * 1000; // ms or s
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : t;
}

/** 14:03:07 today, else 2026-11-27 14:03:07 (local time). */
export function fmtTime(value, { millis = false } = {}) {
  const t = parseTime(value);
  if (t === null) return "—";
  const d = new Date(t);
  const now = new Date();
  const clock = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` +
    (millis ? `.${pad(d.getMilliseconds(), 3)}` : "");
  if (d.toDateString() === now.toDateString()) return clock;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock}`;
}

export function isoTitle(value) {
  const t = parseTime(value);
  return t === null ? "" : new Date(t).toISOString();
}

/** A duration in ms as "850 ms", "12.3 s", "4 m 05 s", "2 h 03 m", "3 d 4 h". */
export function fmtDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  ms = Math.max(0, ms);
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${pad(Math.floor(s % 60))} s`;
  const hr = Math.floor(m / 60);
  if (hr < 48) return `${hr} h ${pad(m % 60)} m`;
  return `${Math.floor(hr / 24)} d ${hr % 24} h`;
}

/** "in 3.0 s" / "due" / "5 s ago" relative to now. */
export function fmtRelative(value, now = Date.now()) {
  const t = parseTime(value);
  if (t === null) return "—";
  const diff = t - now;
  if (Math.abs(diff) < 250) return "now";
  return diff > 0 ? `in ${fmtDuration(diff)}` : `${fmtDuration(-diff)} ago`;
}

// ---------------------------------------------------------------- small widgets

/** A state badge: state text plus the transitioning marker. */
export function stateBadge(resource) {
  if (!resource) return h("span.badge", "—");
  const state = resource.state || "—";
  const tr = resource.transitioning;
  const cls = tr === "error" ? "error" : tr === "yes" ? "busy" : stateClass(state);
  return h(`span.badge.${cls}`, { title: tr === "yes" ? `${state} (a process is running)` :
    tr === "error" ? `${state} (the last attempt failed; retrying)` : state }, state,
  tr === "yes" ? h("span.spinner", { "aria-hidden": "true" }) : null,
  tr === "error" ? h("span.visually-hidden", " (error)") : null);
}

export function stateClass(state) {
  switch (state) {
    case "running": case "active": case "SUCCESS": case "DONE": return "ok";
    case "error": case "FAILURE": case "erroring": return "error";
    case "stopped": case "inactive": case "removed": case "purged": case "CANCELED": return "off";
    default: return "neutral";
  }
}

/** Debounce: run fn once, delay ms after the last call. */
export function debounce(fn, delay) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => { timer = null; fn(...args); }, delay);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

/**
 * Runs an async load at most once at a time; a request while one runs queues exactly one
 * more. schedule(delay) coalesces requests (the "debounced re-fetch on change").
 */
export class Refresher {
  constructor(load) {
    this.load = load;
    this.running = false;
    this.again = false;
    this.timer = null;
    this.stopped = false;
  }

  schedule(delay = 0) {
    if (this.stopped) return;
    if (this.timer !== null) return;
    this.timer = setTimeout(() => { this.timer = null; this.run(); }, delay);
  }

  async run() {
    if (this.stopped) return;
    if (this.running) { this.again = true; return; }
    this.running = true;
    try {
      await this.load();
    } finally {
      this.running = false;
      if (this.again && !this.stopped) { this.again = false; this.schedule(50); }
    }
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}

/**
 * A table whose rows are keyed by id and updated in place: cells change only when their
 * content does, rows are inserted/removed without rebuilding the others, so focus, scroll
 * position and layout stay put while data streams in. Columns have fixed widths
 * (table-layout: fixed), so changing text never moves a column.
 *
 * columns: [{key, label, width, cls, render(row) → Node|string, update?(td, row)}]
 */
export class KeyedTable {
  constructor({ columns, caption, empty = "Nothing here.", rowKey = (r) => r.id, label }) {
    this.columns = columns;
    this.rowKey = rowKey;
    this.emptyText = empty;
    this.rows = new Map();
    this.table = h("table.data", label ? { "aria-label": label } : null);
    if (caption) this.table.append(h("caption.visually-hidden", caption));
    const colgroup = h("colgroup");
    for (const c of columns) {
      const col = h("col");
      if (c.width) col.style.width = c.width; // CSSOM, allowed by the page's CSP
      colgroup.append(col);
    }
    this.table.append(colgroup);
    this.table.append(h("thead", h("tr", columns.map((c) => h("th", { scope: "col", className: (c.cls || "").split(" ").includes("num") ? "num" : "" }, c.label)))));
    this.tbody = h("tbody");
    this.emptyRow = h("tr.empty", h("td", { colSpan: columns.length }, empty));
    this.tbody.append(this.emptyRow);
    this.table.append(this.tbody);
    this.el = h("div.table-wrap", { tabIndex: -1 }, this.table);
  }

  setEmpty(text) {
    this.emptyRow.firstChild.textContent = text;
  }

  update(list) {
    const seen = new Set();
    let prev = null;
    for (const row of list) {
      const key = String(this.rowKey(row));
      seen.add(key);
      let tr = this.rows.get(key);
      if (!tr) {
        tr = h("tr", { dataset: { key } });
        for (const c of this.columns) tr.append(h("td", { className: c.cls || "" }));
        this.rows.set(key, tr);
      }
      this.columns.forEach((c, i) => this.fillCell(tr.children[i], c, row));
      const want = prev ? prev.nextSibling : this.tbody.firstChild;
      if (want !== tr) this.tbody.insertBefore(tr, want);
      prev = tr;
    }
    for (const [key, tr] of this.rows) {
      if (!seen.has(key)) {
        if (tr.contains(document.activeElement)) this.el.focus({ preventScroll: true });
        tr.remove();
        this.rows.delete(key);
      }
    }
    this.emptyRow.hidden = list.length > 0;
    if (this.emptyRow.parentNode !== this.tbody || this.tbody.lastChild !== this.emptyRow) {
      this.tbody.append(this.emptyRow);
    }
  }

  fillCell(td, column, row) {
    if (column.update) {
      column.update(td, row);
      return;
    }
    let content = column.render ? column.render(row) : row[column.key];
    if (content === null || content === undefined || content === "") content = "—";
    const node = content instanceof Node ? content : document.createTextNode(String(content));
    const html = node instanceof Element ? node.outerHTML : escapeText(node.textContent);
    if (td.__html !== html) {
      td.__html = html;
      fill(td, node);
      // a title shows the whole value when the cell cuts it off
      const text = td.textContent;
      if (text && text.length > 12 && !td.querySelector("[title]")) td.title = text;
      else td.removeAttribute("title");
    }
  }
}

function escapeText(text) {
  return text.replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" }[c]));
}

/** A status line (aria-live) that shows a message and optionally a link. */
export function flash(region, message, { kind = "info", link = null } = {}) {
  fill(region, h(`p.flash.${kind}`, message, link ? [" ", link] : null));
}
