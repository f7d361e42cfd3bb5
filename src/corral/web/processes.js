// Processes: "when something is wrong, look at Processes first" (seed, point 3).
// The list (tabs Running, Delayed, Completed, Failed) and one process's detail with its
// execution log drawn as a timeline of attempts.

import { parseWireId, rowNumber, ApiError } from "./api.js";
import {
  h, fill, fmtTime, fmtDuration, fmtRelative, isoTitle, parseTime, KeyedTable, Refresher,
  stateClass, flash,
} from "./dom.js";

const TABS = [
  { id: "running", label: "Running", hint: "Unfinished and being run now, or due to run" },
  { id: "delayed", label: "Delayed", hint: "Unfinished, waiting for their next attempt" },
  { id: "completed", label: "Completed", hint: "Finished with SUCCESS or CANCELED" },
  { id: "failed", label: "Failed", hint: "Finished with FAILURE" },
];

// Processes do not publish resource.change themselves (their resources do), and a retry
// after a reply timeout changes nothing else: while unfinished processes are on screen the
// list is also re-read every POLL_MS.
const POLL_MS = 1500;
const CHANGE_DEBOUNCE_MS = 250;

/** Running vs Delayed for an unfinished process, at time `now`. */
export function classify(p, now = Date.now()) {
  if (p.endTime) return p.result === "FAILURE" ? "failed" : "completed";
  if (p.runningProcessServerId) return "running";
  const after = parseTime(p.runAfter);
  return after === null || after <= now ? "running" : "delayed";
}

export function resourceLink(type, id) {
  if (!type || !id) return h("span", "—");
  return h("a", { href: `#/r/${type}/${encodeURIComponent(id)}` }, h("span.type", type), " ", id);
}

function exitBadge(p) {
  if (!p.exitReason && !p.result) return h("span.muted", "—");
  const cls = p.result ? stateClass(p.result) : "retry";
  return h(`span.badge.${cls === "neutral" ? "retry" : cls}`, p.exitReason || "—",
    p.result ? h("span.result", ` · ${p.result}`) : null);
}

function runTime(p, now) {
  const start = parseTime(p.startTime);
  if (start === null) return "—";
  const end = parseTime(p.endTime) ?? now;
  return fmtDuration(end - start);
}

function nextAttempt(p, now) {
  if (p.endTime) return h("span.muted", "—");
  if (p.runningProcessServerId) return h("span.badge.busy", "running now");
  const after = parseTime(p.runAfter);
  if (after === null || after <= now) return h("span", { title: isoTitle(p.runAfter) }, "due now");
  return h("span", { title: isoTitle(p.runAfter) }, fmtRelative(p.runAfter, now));
}

/** Resource filter text → query params: "1i5", "instance", "instance:1i5", "host 3", "7". */
export function resourceFilter(text) {
  const t = (text || "").trim();
  if (!t) return {};
  const parts = t.split(/[\s:/]+/).filter(Boolean);
  const out = {};
  for (const part of parts) {
    const wire = parseWireId(part);
    if (wire) {
      out.resourceId = wire.row;
      if (!out.resourceType && wire.type !== "project" && wire.type !== "apikey") out.resourceType = wire.type;
    } else if (/^[1-9][0-9]*$/.test(part)) {
      out.resourceId = part;
    } else if (/^[A-Za-z][A-Za-z0-9]*$/.test(part)) {
      out.resourceType = part;
    } else {
      out.invalid = true;
    }
  }
  return out;
}

// ================================================================== the list

export function processesPage(ctx) {
  const { api, live } = ctx;
  let params = new URLSearchParams();
  let tab = "running";
  let unfinished = [];
  let finished = [];
  let finishedPartial = false;
  let unfinishedPartial = false;
  let loadedAt = null;
  let stopLive = null;
  let ticker = null;
  let poller = null;
  let controller = null;
  const names = new Set();

  const tabLinks = new Map();
  const counts = new Map();
  const tabNav = h("nav.tabs", { "aria-label": "Processes by state" },
    TABS.map((t) => {
      const count = h("span.count", { "aria-hidden": "true" });
      counts.set(t.id, count);
      const a = h("a", { href: `#/processes?tab=${t.id}`, title: t.hint, dataset: { tab: t.id } },
        t.label, " ", count);
      tabLinks.set(t.id, a);
      return a;
    }));

  const nameInput = h("input#filter-name", {
    type: "search", placeholder: "e.g. instance.start", autocomplete: "off", spellcheck: false,
    list: "process-names",
  });
  const resourceInput = h("input#filter-resource", {
    type: "search", placeholder: "e.g. 1i5, instance, host:1h2", autocomplete: "off",
    spellcheck: false,
  });
  const datalist = h("datalist#process-names");
  const filterHint = h("span.hint#filter-hint", "");
  const filters = h("form.filters", { role: "search", "aria-label": "Filter processes", onsubmit: (e) => e.preventDefault() },
    h("label", { htmlFor: "filter-name" }, "Process name"), nameInput, datalist,
    h("label", { htmlFor: "filter-resource" }, "Resource"), resourceInput,
    h("button.secondary", { type: "button", onclick: () => { nameInput.value = ""; resourceInput.value = ""; onFilter(); } }, "Clear"),
    filterHint);

  // one line under the tabs: what is shown (updated every second, so not announced) and
  // the outcome of the last action (announced); it never changes height
  const summary = h("span#process-status", "Loading…");
  const notice = h("span.inline-notice", { "aria-live": "polite" });
  const status = h("p.status", summary, notice);

  const table = new KeyedTable({
    label: "Processes",
    empty: "No processes here.",
    columns: [
      { label: "ID", width: "5.5rem", cls: "mono", render: (p) => h("a.process-link", { href: `#/processes/${p.id}` }, p.id) },
      { label: "Process", width: "15%", cls: "mono", render: (p) => p.processName },
      { label: "Resource", width: "13%", render: (p) => resourceLink(p.resourceType, p.resourceId) },
      { label: "Phase", width: "8rem", render: (p) => p.phase || "—" },
      { label: "Attempts", width: "6.5rem", cls: "num attempts", render: (p) => String(p.executionCount ?? 0) },
      { label: "Started", width: "10rem", cls: "num", render: (p) => h("span", { title: isoTitle(p.startTime) }, fmtTime(p.startTime)) },
      { label: "Run time", width: "7rem", cls: "num", render: (p) => runTime(p, Date.now()) },
      { label: "Next attempt", width: "8.5rem", render: (p) => nextAttempt(p, Date.now()) },
      { label: "Exit reason", width: "13rem", render: exitBadge },
      { label: "", width: "6.5rem", cls: "actions", update: (td, p) => actionCell(td, p) },
    ],
  });

  function actionCell(td, p) {
    let button = td.querySelector("button");
    const can = ctx.isAdmin && !p.endTime && p.actions && p.actions.replay;
    if (!can) {
      if (button) button.remove();
      if (!td.firstChild) td.append(h("span.visually-hidden", "no actions"));
      return;
    }
    if (!button) {
      fill(td);
      button = h("button.small.replay", { type: "button" }, "Replay");
      button.addEventListener("click", () => replay(button.dataset.id, button));
      td.append(button);
    }
    button.dataset.id = p.id;
    button.setAttribute("aria-label", `Replay process ${p.id} (${p.processName}) now`);
  }

  async function replay(id, button) {
    button.disabled = true;
    try {
      const p = await api.action("processInstance", id, "replay");
      notice.textContent = ` · Process ${p.id} (${p.processName}) will run again now, with a fresh attempt count.`;
      refresher.schedule(0);
    } catch (err) {
      ctx.showError(err, `Replay ${id}`);
    } finally {
      button.disabled = false;
    }
  }

  function queryParams() {
    const q = {};
    const name = nameInput.value.trim();
    if (name) q.processName_prefix = name;
    const rf = resourceFilter(resourceInput.value);
    filterHint.textContent = rf.invalid ? "Resource: use an id like 1i5, a type like instance, or both." : "";
    if (rf.resourceType) q.resourceType = rf.resourceType;
    if (rf.resourceId) q.resourceId = rf.resourceId;
    return q;
  }

  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    const signal = controller.signal;
    const q = queryParams();
    try {
      const open = api.list("/processinstances", { ...q, endTime_null: "true", sort: "id", limit: 1000 }, { signal });
      let done = null;
      if (tab === "completed") {
        done = api.list("/processinstances", { ...q, endTime_notnull: "true", result_ne: "FAILURE", sort: "id", order: "desc", limit: 100 }, { signal });
      } else if (tab === "failed") {
        done = api.list("/processinstances", { ...q, result: "FAILURE", sort: "id", order: "desc", limit: 100 }, { signal });
      }
      const [o, d] = await Promise.all([open, done]);
      unfinished = o.data;
      unfinishedPartial = o.partial;
      finished = d ? d.data : [];
      finishedPartial = d ? d.partial : false;
      loadedAt = new Date();
      for (const p of [...unfinished, ...finished]) names.add(p.processName);
      if (datalist.children.length !== names.size) {
        fill(datalist, [...names].sort().map((n) => h("option", { value: n })));
      }
      render();
    } catch (err) {
      if (err.name === "AbortError") return;
      if (err instanceof ApiError && err.status === 422) {
        summary.textContent = `Filter not accepted: ${err.message}`;
        return;
      }
      ctx.showError(err, "Loading processes");
    }
  }

  function visible(now) {
    if (tab === "running" || tab === "delayed") return unfinished.filter((p) => classify(p, now) === tab);
    return finished;
  }

  function render() {
    const now = Date.now();
    const nRunning = unfinished.filter((p) => classify(p, now) === "running").length;
    const nDelayed = unfinished.length - nRunning;
    counts.get("running").textContent = `(${nRunning}${unfinishedPartial ? "+" : ""})`;
    counts.get("delayed").textContent = `(${nDelayed}${unfinishedPartial ? "+" : ""})`;
    for (const [id, a] of tabLinks) {
      if (id === tab) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
      const n = id === "running" ? nRunning : id === "delayed" ? nDelayed : null;
      a.setAttribute("aria-label", n === null ? TABS.find((t) => t.id === id).label :
        `${TABS.find((t) => t.id === id).label}, ${n} process${n === 1 ? "" : "es"}`);
    }
    const rows = visible(now);
    table.setEmpty({
      running: "Nothing is running. Good.",
      delayed: "No process is waiting for a retry.",
      completed: "No completed processes (finished ones are purged after process_instance.purge.after.seconds).",
      failed: "No failed processes.",
    }[tab]);
    table.update(rows);
    const partial = (tab === "completed" || tab === "failed") ? finishedPartial : unfinishedPartial;
    summary.textContent = `${rows.length}${partial ? "+" : ""} shown` +
      ((tab === "completed" || tab === "failed") ? " (newest first)" : " (oldest first)") +
      (loadedAt ? ` · updated ${fmtTime(loadedAt)}` : "");
  }

  const refresher = new Refresher(load);

  function onFilter() {
    const p = new URLSearchParams();
    if (tab !== "running") p.set("tab", tab);
    if (nameInput.value.trim()) p.set("name", nameInput.value.trim());
    if (resourceInput.value.trim()) p.set("resource", resourceInput.value.trim());
    ctx.replaceParams(p);
    for (const [id, a] of tabLinks) {
      const tp = new URLSearchParams(p);
      if (id === "running") tp.delete("tab"); else tp.set("tab", id);
      a.href = `#/processes${[...tp].length ? "?" + tp : ""}`;
    }
    refresher.schedule(200);
  }
  nameInput.addEventListener("input", onFilter);
  resourceInput.addEventListener("input", onFilter);

  function applyParams(p) {
    params = p;
    const t = params.get("tab");
    tab = TABS.some((x) => x.id === t) ? t : "running";
    if (document.activeElement !== nameInput) nameInput.value = params.get("name") || "";
    if (document.activeElement !== resourceInput) resourceInput.value = params.get("resource") || "";
    for (const [id, a] of tabLinks) {
      const tp = new URLSearchParams(params);
      if (id === "running") tp.delete("tab"); else tp.set("tab", id);
      a.href = `#/processes${[...tp].length ? "?" + tp : ""}`;
    }
  }

  return {
    title: "Processes",
    mount(main, p) {
      applyParams(p);
      fill(main,
        h("div.page-head",
          h("h1", "Processes"),
          h("p.lede", "Every change is a process. When something is wrong, look here first.")),
        h("div.toolbar", tabNav, filters),
        status,
        table.el);
      render();
      refresher.run();
      stopLive = live.on((event) => {
        // any change (or a reconnect, after which we may have missed some) → re-read, debounced
        if (event.name === "resource.change" || event.name === "live.connected") refresher.schedule(CHANGE_DEBOUNCE_MS);
      });
      // relative times ("in 2 s", run time) and Running/Delayed move with the clock
      ticker = setInterval(render, 1000);
      poller = setInterval(() => {
        if (document.hidden) return;
        if (tab === "running" || tab === "delayed" || unfinished.length || live.status !== "live") refresher.schedule(0);
      }, POLL_MS);
    },
    update(p) {
      const before = tab;
      applyParams(p);
      if (before !== tab) {
        finished = []; // rows of another tab must not show under this one
        table.update([]);
      }
      render();
      refresher.schedule(0);
    },
    unmount() {
      refresher.stop();
      if (controller) controller.abort();
      if (stopLive) stopLive();
      clearInterval(ticker);
      clearInterval(poller);
    },
  };
}

// ================================================================== one process

export function processDetailPage(ctx, id) {
  const { api, live } = ctx;
  let process = null;
  let executions = null;
  let logNote = "";
  let lastLogJson = "";
  let stopLive = null;
  let poller = null;
  let ticker = null;
  const head = h("div.page-head");
  const facts = h("dl.facts");
  const actions = h("div.actions-row");
  const notice = h("div.side-notice", { "aria-live": "polite" });
  const timeline = h("section.timeline-wrap", { "aria-labelledby": "timeline-title" });

  function renderHead() {
    const p = process;
    fill(head,
      h("p.crumbs", h("a", { href: "#/processes" + (p && !p.endTime ? "" : p && p.result === "FAILURE" ? "?tab=failed" : "?tab=completed") }, "← Processes")),
      h("h1", p ? p.processName : "Process", " ", h("span.id", id)));
    if (!p) return;
    const now = Date.now();
    const state = classify(p, now);
    const row = (label, value) => [h("dt", label), h("dd", value)];
    fill(facts,
      row("State", h(`span.badge.${state === "failed" ? "error" : state === "completed" ? "ok" : "busy"}`, state)),
      row("Resource", resourceLink(p.resourceType, p.resourceId)),
      row("Phase", p.phase || "—"),
      row("Attempts", h("span.attempts", String(p.executionCount ?? 0))),
      row("Exit reason", exitBadge(p)),
      row("Started", h("span", { title: isoTitle(p.startTime) }, fmtTime(p.startTime, { millis: true }))),
      row("Ended", h("span", { title: isoTitle(p.endTime) }, fmtTime(p.endTime, { millis: true }))),
      row("Run time", runTime(p, now)),
      row("Next attempt", nextAttempt(p, now)),
      row("Running on", p.runningProcessServerId || "—"),
      row("Submitted by", p.startProcessServerId || "—"),
      row("Data", p.data && Object.keys(p.data).length ? h("code", JSON.stringify(p.data)) : "—"));
    const canReplay = ctx.isAdmin && !p.endTime && p.actions && p.actions.replay;
    let button = actions.querySelector("button.replay");
    if (canReplay && !button) {
      button = h("button.replay", { type: "button", onclick: () => replay(button) }, "Replay now");
      actions.append(button, h("span.hint", " Runs it again now with a fresh attempt count."));
    } else if (!canReplay && button) {
      fill(actions);
    }
  }

  async function replay(button) {
    button.disabled = true;
    try {
      await api.action("processInstance", id, "replay");
      flash(notice, "Replayed: the process runs again now.", { kind: "ok" });
      refresher.schedule(0);
    } catch (err) {
      ctx.showError(err, "Replay");
    } finally {
      button.disabled = false;
    }
  }

  async function load() {
    try {
      process = await api.get(`/processinstances/${encodeURIComponent(id)}`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        fill(head, h("p.crumbs", h("a", { href: "#/processes" }, "← Processes")), h("h1", "Process ", h("span.id", id)));
        fill(facts, h("p", "This process does not exist in this project (finished processes are purged after a while)."));
        return;
      }
      ctx.showError(err, "Loading the process");
      return;
    }
    if (ctx.isAdmin) {
      try {
        const { data } = await api.list("/processexecutions", { processInstanceId: id, sort: "id", limit: 1000 });
        executions = data;
        logNote = "";
      } catch (err) {
        executions = [];
        logNote = `The execution log could not be read: ${err.message}`;
      }
    } else {
      executions = [];
      logNote = "The execution log (processExecution) is visible to admin keys only.";
    }
    renderHead();
    const json = JSON.stringify([executions.map((e) => e.log), logNote]);
    if (json !== lastLogJson) {
      lastLogJson = json;
      fill(timeline, drawTimeline(process, executions, logNote));
    }
  }

  const refresher = new Refresher(load);

  return {
    title: `Process ${id}`,
    mount(main) {
      fill(main, head, h("div.detail-grid", facts, h("div.side", actions, notice)), timeline);
      renderHead();
      refresher.run();
      stopLive = live.on((event) => {
        if (event.name === "live.connected" ||
            (process && event.resourceType === process.resourceType && event.resourceId === process.resourceId)) {
          refresher.schedule(CHANGE_DEBOUNCE_MS);
        }
      });
      poller = setInterval(() => {
        if (!document.hidden && process && !process.endTime) refresher.schedule(0);
      }, POLL_MS);
      ticker = setInterval(() => { if (process && !process.endTime) renderHead(); }, 1000);
    },
    unmount() {
      refresher.stop();
      if (stopLive) stopLive();
      clearInterval(poller);
      clearInterval(ticker);
    },
  };
}

// ------------------------------------------------------------------ the timeline

const OK_REASONS = new Set(["DONE", "ALREADY_DONE", "CHAIN"]);

function reasonClass(reason) {
  if (!reason) return "busy";
  if (OK_REASONS.has(reason)) return "ok";
  if (reason === "CANCELED") return "off";
  if (reason === "UNKNOWN_EXCEPTION") return "error";
  return "retry";
}

/** Every attempt in the process's executions, in order (one execution per attempt). */
export function collectAttempts(executions) {
  const out = [];
  let truncated = false;
  let dropped = 0;
  for (const ex of executions) {
    const log = ex.log || {};
    truncated = truncated || Boolean(log.truncated);
    dropped += Number(log.droppedAttempts || 0);
    for (const a of log.attempts || []) out.push(a);
  }
  out.sort((a, b) => (a.start || 0) - (b.start || 0) || (a.attempt || 0) - (b.attempt || 0));
  return { attempts: out, truncated, dropped };
}

function secs(t) {
  return typeof t === "number" ? t * 1000 : parseTime(t);
}

function entryView(entry, attemptStart) {
  const at = secs(entry.time);
  const offset = at !== null && attemptStart !== null ? `+${fmtDuration(at - attemptStart)}` : "";
  let kind = entry.type;
  let label;
  let body;
  switch (entry.type) {
    case "transition":
      label = "state";
      body = [h("span.state-from", entry.from || "—"), " → ", h("strong", entry.to || "—")];
      break;
    case "event":
      label = "event sent";
      body = [h("code", entry.name), entry.timeout ? h("span.muted", ` · waits ${fmtDuration(entry.timeout * 1000)} for the reply`) : null,
        entry.id ? h("span.muted.small-id", { title: entry.id }, ` · id ${String(entry.id).slice(0, 8)}`) : null];
      break;
    case "reply": {
      const tr = entry.transitioning;
      kind = tr === "error" ? "reply-error" : tr === "yes" ? "reply-progress" : "reply";
      label = tr === "error" ? "error reply" : tr === "yes" ? "progress" : "reply";
      body = [h("code", entry.name), entry.message ? h("span", ` · ${entry.message}`) : null];
      break;
    }
    case "timeout":
      label = "no reply";
      body = [h("code", entry.name), ` · no reply within ${fmtDuration((entry.timeout || 0) * 1000)}`];
      break;
    case "handler":
      label = "handler";
      body = [h("code", entry.name), entry.result ? ` · ${entry.result}` : null];
      break;
    case "note":
      label = "note";
      body = [entry.text || ""];
      break;
    default:
      label = entry.type || "entry";
      body = [h("code", JSON.stringify(entry))];
  }
  return h(`li.entry.${kind}`,
    h("span.when", { title: at ? new Date(at).toISOString() : "" }, offset),
    h("span.kind", label),
    h("span.what", body));
}

export function drawTimeline(process, executions, note) {
  const title = h("h2#timeline-title", "Timeline");
  if (note) return [title, h("p.muted", note)];
  const { attempts, truncated, dropped } = collectAttempts(executions);
  if (!attempts.length) {
    return [title, h("p.muted", process && process.executionCount ? "No attempt is logged yet." : "Not attempted yet.")];
  }
  const first = secs(attempts[0].start);
  const lastAttempt = attempts[attempts.length - 1];
  const endOf = (a) => secs(a.stop) ?? Date.now();
  const span = Math.max(1, Math.max(...attempts.map(endOf)) - first);

  // the overview: one bar per attempt on a common time axis; gaps are the waits between
  const track = h("ol.track", { "aria-label": "Attempts on a time axis" });
  for (const a of attempts) {
    const start = secs(a.start);
    const left = ((start - first) / span) * 100;
    const width = Math.max(0.8, ((endOf(a) - start) / span) * 100);
    const bar = h(`li.bar.${reasonClass(a.exitReason)}`,
      h("button.bar-button", {
        type: "button",
        title: `Attempt ${a.attempt}: ${a.exitReason || "running"}, ${fmtDuration(endOf(a) - start)}`,
        onclick: () => {
          const target = document.getElementById(`attempt-${a.attempt}-${Math.round(start)}`);
          if (target) { target.scrollIntoView({ block: "start" }); target.focus({ preventScroll: true }); }
        },
      }, h("span.visually-hidden", `Attempt ${a.attempt}, ${a.exitReason || "running"}`), h("span.bar-label", { "aria-hidden": "true" }, String(a.attempt))));
    bar.style.left = `${Math.min(left, 99.2)}%`; // CSSOM: allowed by the CSP
    bar.style.width = `${Math.min(width, 100 - Math.min(left, 99.2))}%`;
    track.append(bar);
  }
  const axis = h("div.axis", h("span", fmtTime(first, { millis: true })),
    h("span", `${fmtDuration(span)} in all`),
    h("span", lastAttempt.stop ? fmtTime(endOf(lastAttempt), { millis: true }) : "now"));

  const legend = h("ul.legend", { "aria-label": "Legend" },
    h("li", h("span.swatch.ok"), "succeeded"), h("li", h("span.swatch.retry"), "retried (timeout, busy, error reply)"),
    h("li", h("span.swatch.error"), "exception"), h("li", h("span.swatch.off"), "canceled"),
    h("li", h("span.swatch.busy"), "running"));

  const sections = [];
  let prev = null;
  let prevNumber = null;
  for (const a of attempts) {
    const start = secs(a.start);
    if (prevNumber !== null && a.attempt > prevNumber + 1) {
      sections.push(h("p.gap", `Attempts ${prevNumber + 1}–${a.attempt - 1} are not kept in the log.`));
    }
    const waited = prev ? start - endOf(prev) : null;
    const duration = a.stop ? secs(a.stop) - start : null;
    const entries = (a.entries || []).map((e) => entryView(e, start));
    if (a.droppedEntries) entries.splice(10, 0, h("li.entry.note", h("span.when"), h("span.kind", "…"), h("span.what", `${a.droppedEntries} entries not kept`)));
    sections.push(h("section.attempt", { id: `attempt-${a.attempt}-${Math.round(start)}`, tabIndex: -1, "aria-label": `Attempt ${a.attempt}` },
      h("h3", h(`span.badge.${reasonClass(a.exitReason)}`, a.exitReason || "running"), ` Attempt ${a.attempt}`),
      h("p.attempt-meta",
        `started ${fmtTime(start, { millis: true })}`,
        duration !== null ? ` · took ${fmtDuration(duration)}` : " · still running",
        waited !== null ? ` · ${fmtDuration(waited)} after the previous attempt` : "",
        a.serverId ? ` · server ${a.serverId}` : ""),
      h("ol.entries", entries.length ? entries : h("li.entry.note", h("span.when"), h("span.kind", "—"), h("span.what", "no entries"))),
      a.exception ? h("details.exception", { open: a === lastAttempt },
        h("summary", "Exception"), h("pre", a.exception)) : null));
    prev = a;
    prevNumber = a.attempt;
  }
  return [
    title,
    truncated || dropped ? h("p.notice", `The log is cut to stay small: ${dropped} attempt${dropped === 1 ? "" : "s"} dropped from the middle.`) : null,
    h("div.overview", track, axis, legend),
    ...sections,
  ];
}

export { rowNumber };
