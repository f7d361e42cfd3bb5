// Events: a live tail of resource.change (spec §9) for this project, with a filter.

import { h, fill, fmtTime, stateBadge } from "./dom.js";
import { resourceLink } from "./processes.js";

const SHOWN = 300;

export function eventsPage(ctx) {
  const { live } = ctx;
  let paused = false;
  let stopLive = null;
  let stopStatus = null;
  let missed = 0;
  const filterInput = h("input#events-filter", { type: "search", autocomplete: "off", spellcheck: false, placeholder: "e.g. instance, 1i5, running" });
  const pause = h("button.secondary#events-pause", { type: "button", "aria-pressed": "false" }, "Pause");
  const clearButton = h("button.secondary#events-clear", { type: "button" }, "Clear");
  const status = h("p.status#events-status", { "aria-live": "off" });
  const tbody = h("tbody");
  const empty = h("tr.empty", h("td", { colSpan: 7 }, "Waiting for changes… (create, start or stop something)"));
  tbody.append(empty);
  const table = h("table.data.events", { "aria-label": "resource.change events, oldest first" },
    h("colgroup", ["9rem", "5rem", "9rem", "12rem", "18%", "10rem", ""].map((w) => {
      const col = h("col");
      if (w) col.style.width = w;
      return col;
    })),
    h("thead", h("tr", ["Time", "Seq", "Type", "Resource", "Name", "State", "Message"].map((t) => h("th", { scope: "col" }, t)))),
    tbody);
  const scroller = h("div.table-wrap.tail", { tabIndex: 0, "aria-label": "Event tail (scrolls)" }, table);

  function matches(event, q) {
    if (!q) return true;
    const r = (event.data && event.data.resource) || {};
    const hay = [event.resourceType, event.resourceId, r.name, r.state, r.transitioning === "yes" ? "transitioning" : "",
      r.transitioningMessage, r.kind].filter(Boolean).join(" ").toLowerCase();
    return q.split(/\s+/).every((word) => hay.includes(word));
  }

  function row(event) {
    const r = (event.data && event.data.resource) || {};
    return h("tr", { dataset: { type: event.resourceType || "", id: event.resourceId || "" } },
      h("td.num", { title: event.time ? new Date(event.time).toISOString() : "" }, fmtTime(event.time || event.receivedAt, { millis: true })),
      h("td.num", event.seq !== undefined ? String(event.seq) : "—"),
      h("td.mono", event.resourceType || "—"),
      h("td", resourceLink(event.resourceType, event.resourceId)),
      h("td", r.name || "—"),
      h("td", stateBadge(r)),
      h("td", { title: r.transitioningMessage || "" }, r.transitioningMessage || ""));
  }

  function atBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 30;
  }

  function rebuild() {
    const q = filterInput.value.trim().toLowerCase();
    const shown = live.recent.filter((e) => matches(e, q)).slice(-SHOWN);
    fill(tbody, shown.map(row));
    empty.hidden = false;
    if (!shown.length) tbody.append(empty);
    scroller.scrollTop = scroller.scrollHeight;
    renderStatus();
  }

  function renderStatus() {
    const q = filterInput.value.trim();
    const n = tbody.querySelectorAll("tr:not(.empty)").length;
    status.textContent = `${n} event${n === 1 ? "" : "s"} shown${q ? ` matching “${q}”` : ""}` +
      ` · ${live.recent.length} kept · stream ${live.status}` + (paused ? ` · paused, ${missed} new not shown` : "");
  }

  function onEvent(event) {
    if (event.name !== "resource.change") return;
    if (paused) { missed += 1; renderStatus(); return; }
    if (!matches(event, filterInput.value.trim().toLowerCase())) { renderStatus(); return; }
    const follow = atBottom();
    if (empty.parentNode) empty.remove();
    tbody.append(row(event));
    while (tbody.children.length > SHOWN) tbody.firstChild.remove();
    if (follow) scroller.scrollTop = scroller.scrollHeight;
    renderStatus();
  }

  pause.addEventListener("click", () => {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    pause.setAttribute("aria-pressed", String(paused));
    if (!paused) { missed = 0; rebuild(); } else renderStatus();
  });
  clearButton.addEventListener("click", () => {
    live.recent.length = 0;
    missed = 0;
    rebuild();
  });
  filterInput.addEventListener("input", () => {
    const q = filterInput.value.trim();
    ctx.replaceParams(new URLSearchParams(q ? { q } : {}));
    rebuild();
  });

  return {
    title: "Events",
    mount(main, params) {
      filterInput.value = params.get("q") || "";
      fill(main,
        h("div.page-head", h("h1", "Events"), h("p.lede", "A live tail of resource.change: one event after each state change of a resource (at most one per resource per second).")),
        h("div.toolbar", h("form.filters", { role: "search", onsubmit: (e) => e.preventDefault() },
          h("label", { htmlFor: "events-filter" }, "Filter"), filterInput, pause, clearButton)),
        status, scroller);
      rebuild();
      stopLive = live.on(onEvent);
      stopStatus = live.onStatus(renderStatus);
    },
    unmount() { if (stopLive) stopLive(); if (stopStatus) stopStatus(); },
  };
}
