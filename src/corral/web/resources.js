// Resources of the project: hosts (with their agents' state), instances (with the buttons
// that start processes), stacks and services, API keys, and one resource's detail page.

import { ApiError, rowNumber } from "./api.js";
import {
  h, fill, fmtTime, isoTitle, KeyedTable, Refresher, stateBadge, flash,
} from "./dom.js";
import { resourceLink } from "./processes.js";

const CHANGE_DEBOUNCE_MS = 250;

/** Wire a page to the live stream: re-read (debounced) when a resource of `types` changes. */
function liveRefresh(ctx, refresher, types) {
  const stop = ctx.live.on((event) => {
    if (event.name === "live.connected" || types.includes(event.resourceType)) {
      refresher.schedule(CHANGE_DEBOUNCE_MS);
    }
  });
  // while the stream is down, poll
  const poller = setInterval(() => {
    if (!document.hidden && ctx.live.status !== "live") refresher.schedule(0);
  }, 5000);
  return () => { stop(); clearInterval(poller); };
}

function nameLink(r) {
  return h("a", { href: `#/r/${r.type}/${encodeURIComponent(r.id)}` }, r.name || r.id);
}

function processLink(p) {
  return h("a", { href: `#/processes/${p.id}` }, `${p.processName} (${p.id})`);
}

/**
 * Run an action (or the removal) of a resource, then say which process it started, with a
 * link to it. `name` is an action name or "remove".
 */
async function runAction(ctx, notice, resource, name) {
  const label = resource.name || resource.id;
  try {
    if (name === "remove") await ctx.api.remove(resource.type, resource.id);
    else await ctx.api.action(resource.type, resource.id, name);
  } catch (err) {
    ctx.showError(err, `${name} ${label}`);
    return null;
  }
  let process = null;
  try {
    process = await ctx.api.latestProcess(resource.type, resource.id);
  } catch { /* the action worked; the link is a bonus */ }
  if (process && !process.endTime) {
    flash(notice, `${capital(name)} ${resource.type} ${label}: started process`, { kind: "ok", link: processLink(process) });
  } else {
    flash(notice, `${capital(name)} ${resource.type} ${label}: done.`, { kind: "ok" });
  }
  return process;
}

function capital(s) {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/**
 * A button that asks once more before doing something destructive: the first press turns
 * it into "Confirm …" for a few seconds, the second runs `action`.
 */
function confirmButton(label, confirmLabel, action, attrs = {}) {
  const button = h("button.small.danger", { type: "button", ...attrs }, label);
  let armed = null;
  // data-what names the target ("instance web") for screen readers
  const describe = () => {
    const what = button.dataset.what;
    if (what) button.setAttribute("aria-label", armed ? `${confirmLabel}: ${label.toLowerCase()} ${what}` : `${label} ${what}`);
  };
  const disarm = () => {
    clearTimeout(armed);
    armed = null;
    button.textContent = label;
    button.classList.remove("armed");
    describe();
  };
  button.addEventListener("click", () => {
    if (armed) { disarm(); action(); return; }
    armed = setTimeout(disarm, 4000);
    button.textContent = confirmLabel;
    button.classList.add("armed");
    describe();
  });
  button.addEventListener("blur", () => { if (armed) disarm(); });
  button.describe = describe;
  return button;
}

/**
 * Action buttons that stay in place: every button is always there and only enabled when
 * the action is valid for the resource's current state (no jumping cells).
 */
function actionButtons(ctx, notice, names, onDone) {
  return (td, r) => {
    if (!td.__buttons) {
      fill(td);
      td.__buttons = {};
      const group = h("div.button-group", { role: "group" });
      for (const name of names) {
        const run = async () => {
          const current = td.__resource;
          for (const b of Object.values(td.__buttons)) b.disabled = true;
          await runAction(ctx, notice, current, name);
          onDone();
        };
        const b = name === "remove" ?
          confirmButton("Remove", "Confirm", run) :
          h("button.small", { type: "button", onclick: run }, capital(name));
        b.dataset.action = name;
        td.__buttons[name] = b;
        group.append(b);
      }
      td.append(group);
    }
    td.__resource = r;
    const busy = r.transitioning === "yes";
    for (const [name, b] of Object.entries(td.__buttons)) {
      const ok = name === "remove" ?
        !busy && !["removed", "removing", "purged", "purging"].includes(r.state) :
        Boolean(r.actions && r.actions[name]);
      b.disabled = !ok;
      if (b.describe) {
        b.dataset.what = `${r.type} ${r.name || r.id}`;
        b.describe();
      } else {
        b.setAttribute("aria-label", `${capital(name)} ${r.type} ${r.name || r.id}`);
      }
    }
  };
}

function messageCell(r) {
  if (!r.transitioningMessage) return h("span.muted", "—");
  return h(`span${r.transitioning === "error" ? ".error-text" : ""}`, { title: r.transitioningMessage }, r.transitioningMessage);
}

function created(r) {
  return h("span", { title: isoTitle(r.created) }, fmtTime(r.created));
}

const hidden = (r) => r.state !== "purged";

// ================================================================== hosts

export function hostsPage(ctx) {
  const { api } = ctx;
  let hosts = [];
  let agents = new Map();
  let instances = [];
  let tokens = [];
  let stopLive = null;
  const notice = h("div.notice-area", { "aria-live": "polite" });
  const addHost = h("div.add-host");

  const table = new KeyedTable({
    label: "Hosts",
    empty: "No hosts yet. Register one with the command above.",
    columns: [
      { label: "Name", width: "16%", render: nameLink },
      { label: "ID", width: "5rem", cls: "mono", render: (r) => r.id },
      { label: "State", width: "9rem", render: stateBadge },
      { label: "Agent", width: "6rem", cls: "mono", render: (r) => r.agentId ? (ctx.isAdmin ? h("a", { href: `#/r/agent/${r.agentId}` }, r.agentId) : r.agentId) : "—" },
      { label: "Agent state", width: "10rem", cls: "agent-state", render: (r) => {
        const agent = agents.get(r.agentId);
        if (agent) return stateBadge(agent);
        return r.agentState ? h("span.badge", r.agentState) : h("span.muted", ctx.isAdmin ? "—" : "admin only");
      } },
      { label: "Instances", width: "6.5rem", cls: "num", render: (r) => String(instances.filter((i) => i.hostId === r.id && i.state !== "removed").length) },
      { label: "Message", render: messageCell },
      { label: "Created", width: "10rem", cls: "num", render: created },
    ],
  });

  function renderAddHost() {
    const token = tokens.find((t) => t.state === "active");
    if (token) {
      const code = h("code#register-command", token.command);
      fill(addHost, h("p", "Add a host: run this on it (the token registers one agent per host):"),
        h("div.command", code, h("button.small.secondary", { type: "button", onclick: () => copy(token.command, notice) }, "Copy")));
    } else {
      fill(addHost, h("p", "To add hosts, create a registration token for this project. ",
        h("button.small", { type: "button", onclick: createToken }, "Create registration token")));
    }
  }

  async function createToken() {
    try {
      await api.post("/registrationtokens", {});
      refresher.schedule(0);
    } catch (err) {
      ctx.showError(err, "Creating a registration token");
    }
  }

  async function load() {
    try {
      const requests = [api.list("/hosts"), api.list("/instances"), api.list("/registrationtokens").catch(() => ({ data: [] }))];
      if (ctx.isAdmin) requests.push(api.list("/agents"));
      const [h1, i1, t1, a1] = await Promise.all(requests);
      hosts = h1.data.filter(hidden);
      instances = i1.data;
      tokens = t1.data;
      agents = new Map((a1 ? a1.data : []).map((a) => [a.id, a]));
      table.update(hosts);
      renderAddHost();
    } catch (err) {
      ctx.showError(err, "Loading hosts");
    }
  }
  const refresher = new Refresher(load);

  return {
    title: "Hosts",
    mount(main) {
      fill(main, h("div.page-head", h("h1", "Hosts"), h("p.lede", "Each host runs an agent that receives the events of its instances and replies.")),
        addHost, notice, table.el);
      refresher.run();
      stopLive = liveRefresh(ctx, refresher, ["host", "agent", "instance"]);
    },
    unmount() { refresher.stop(); if (stopLive) stopLive(); },
  };
}

async function copy(text, notice) {
  try {
    await navigator.clipboard.writeText(text);
    flash(notice, "Copied.", { kind: "ok" });
  } catch {
    flash(notice, "Copying is not allowed here: select the text and copy it.", { kind: "info" });
  }
}

// ================================================================== instances

/** "sleep 60", 'sh -c "echo hi"' → ["sleep","60"], ["sh","-c","echo hi"]. */
export function splitCommand(text) {
  const out = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  let m;
  while ((m = re.exec(text)) !== null) {
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : m[2] !== undefined ? m[2] : m[3]);
  }
  return out;
}

export function instancesPage(ctx) {
  const { api } = ctx;
  let hosts = new Map();
  let stopLive = null;
  const notice = h("div.notice-area#instance-notice", { "aria-live": "polite" });

  const table = new KeyedTable({
    label: "Instances",
    empty: "No instances. Create one above.",
    columns: [
      { label: "Name", width: "14%", render: nameLink },
      { label: "ID", width: "5rem", cls: "mono", render: (r) => r.id },
      { label: "State", width: "9.5rem", cls: "state", render: stateBadge },
      { label: "Host", width: "10%", render: (r) => r.hostId ? h("a", { href: `#/r/host/${r.hostId}` }, (hosts.get(r.hostId) || {}).name || r.hostId) : h("span.muted", "—") },
      { label: "Message", render: messageCell },
      { label: "Command", width: "14%", cls: "mono", render: (r) => r.command ? r.command.join(" ") : "—" },
      { label: "Actions", width: "21.5rem", cls: "actions", update: actionButtons(ctx, notice, ["start", "stop", "restart", "remove"], () => refresher.schedule(0)) },
    ],
  });

  const nameInput = h("input#new-instance-name", { required: true, autocomplete: "off", spellcheck: false, placeholder: "web" });
  const commandInput = h("input#new-instance-command", { autocomplete: "off", spellcheck: false, placeholder: "sleep 3600" });
  const hostSelect = h("select#new-instance-host", h("option", { value: "" }, "Any active host"));
  const startBox = h("input#new-instance-start", { type: "checkbox", checked: true });
  const createButton = h("button#create-instance", { type: "submit" }, "Create");
  const form = h("form.create-form", {
    "aria-label": "Create an instance",
    onsubmit: async (e) => {
      e.preventDefault();
      const body = { name: nameInput.value.trim(), startOnCreate: startBox.checked };
      const command = splitCommand(commandInput.value);
      if (command.length) body.command = command;
      if (hostSelect.value) body.hostId = hostSelect.value;
      createButton.disabled = true;
      try {
        const inst = await api.post("/instances", body);
        const p = await api.latestProcess("instance", inst.id).catch(() => null);
        flash(notice, `Created instance ${inst.name || inst.id} (${inst.id}): started process`, { kind: "ok", link: p ? processLink(p) : h("span", "—") });
        nameInput.value = "";
        refresher.schedule(0);
      } catch (err) {
        ctx.showError(err, "Creating the instance");
      } finally {
        createButton.disabled = false;
      }
    },
  },
  h("h2", "New instance"),
  h("div.fields",
    h("div.field", h("label", { htmlFor: "new-instance-name" }, "Name"), nameInput),
    h("div.field.wide", h("label", { htmlFor: "new-instance-command" }, "Command"), commandInput),
    h("div.field", h("label", { htmlFor: "new-instance-host" }, "Host"), hostSelect),
    h("div.field.check", startBox, h("label", { htmlFor: "new-instance-start" }, "Start it")),
    h("div.field.submit", createButton)));

  async function load() {
    try {
      const [i1, h1] = await Promise.all([api.list("/instances"), api.list("/hosts")]);
      hosts = new Map(h1.data.map((x) => [x.id, x]));
      const selected = hostSelect.value;
      const options = [h("option", { value: "" }, "Any active host"),
        ...h1.data.filter((x) => x.state === "active").map((x) => h("option", { value: x.id }, `${x.name || x.id} (${x.id})`))];
      if (hostSelect.options.length !== options.length) {
        fill(hostSelect, options);
        hostSelect.value = selected;
      }
      table.update(i1.data.filter(hidden));
    } catch (err) {
      ctx.showError(err, "Loading instances");
    }
  }
  const refresher = new Refresher(load);

  return {
    title: "Instances",
    mount(main) {
      fill(main, h("div.page-head", h("h1", "Instances"), h("p.lede", "Start, stop and remove run as processes: the link after each action shows its progress.")),
        form, notice, table.el);
      refresher.run();
      stopLive = liveRefresh(ctx, refresher, ["instance", "host"]);
    },
    unmount() { refresher.stop(); if (stopLive) stopLive(); },
  };
}

// ================================================================== stacks and services

export function stacksPage(ctx) {
  const { api } = ctx;
  let stacks = [];
  let services = [];
  let stopLive = null;
  const notice = h("div.notice-area", { "aria-live": "polite" });

  const stackTable = new KeyedTable({
    label: "Stacks",
    empty: "No stacks.",
    columns: [
      { label: "Name", width: "20%", render: nameLink },
      { label: "ID", width: "5rem", cls: "mono", render: (r) => r.id },
      { label: "State", width: "9.5rem", render: stateBadge },
      { label: "Services", width: "6rem", cls: "num", render: (r) => String(services.filter((s) => s.stackId === r.id).length) },
      { label: "Message", render: messageCell },
      { label: "Created", width: "10rem", cls: "num", render: created },
      { label: "Actions", width: "7rem", cls: "actions", update: actionButtons(ctx, notice, ["remove"], () => refresher.schedule(0)) },
    ],
  });
  const serviceTable = new KeyedTable({
    label: "Services",
    empty: "No services.",
    columns: [
      { label: "Name", width: "20%", render: nameLink },
      { label: "ID", width: "5rem", cls: "mono", render: (r) => r.id },
      { label: "Stack", width: "14%", render: (r) => r.stackId ? h("a", { href: `#/r/stack/${r.stackId}` }, (stacks.find((s) => s.id === r.stackId) || {}).name || r.stackId) : "—" },
      { label: "State", width: "9.5rem", render: stateBadge },
      { label: "Scale", width: "5rem", cls: "num", render: (r) => String(r.scale ?? "—") },
      { label: "Message", render: messageCell },
      { label: "Actions", width: "20rem", cls: "actions", update: actionButtons(ctx, notice, ["activate", "deactivate", "remove"], () => refresher.schedule(0)) },
    ],
  });

  const stackName = h("input#new-stack-name", { required: true, autocomplete: "off", placeholder: "frontend" });
  const form = h("form.create-form.inline", {
    "aria-label": "Create a stack",
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        const st = await api.post("/stacks", { name: stackName.value.trim() });
        const p = await api.latestProcess("stack", st.id).catch(() => null);
        flash(notice, `Created stack ${st.name} (${st.id})`, { kind: "ok", link: p ? processLink(p) : null });
        stackName.value = "";
        refresher.schedule(0);
      } catch (err) {
        ctx.showError(err, "Creating the stack");
      }
    },
  }, h("label", { htmlFor: "new-stack-name" }, "New stack"), stackName, h("button", { type: "submit" }, "Create"));

  async function load() {
    try {
      const [s1, s2] = await Promise.all([api.list("/stacks"), api.list("/services")]);
      stacks = s1.data.filter(hidden);
      services = s2.data.filter(hidden);
      stackTable.update(stacks);
      serviceTable.update(services);
    } catch (err) {
      ctx.showError(err, "Loading stacks");
    }
  }
  const refresher = new Refresher(load);

  return {
    title: "Stacks & services",
    mount(main) {
      fill(main, h("div.page-head", h("h1", "Stacks & services")), form, notice,
        h("h2", "Stacks"), stackTable.el, h("h2", "Services"), serviceTable.el);
      refresher.run();
      stopLive = liveRefresh(ctx, refresher, ["stack", "service"]);
    },
    unmount() { refresher.stop(); if (stopLive) stopLive(); },
  };
}

// ================================================================== API keys

export function apiKeysPage(ctx) {
  const { api } = ctx;
  let stopLive = null;
  const notice = h("div.notice-area", { "aria-live": "polite" });
  const secretBox = h("div.secret-area");

  const table = new KeyedTable({
    label: "API keys",
    empty: "No API keys in this project.",
    columns: [
      { label: "Name", width: "18%", render: (r) => r.name || h("span.muted", "(no name)") },
      { label: "ID", width: "5rem", cls: "mono", render: (r) => r.id },
      { label: "Access key", width: "14rem", cls: "mono", render: (r) => r.publicValue },
      { label: "State", width: "8rem", render: stateBadge },
      { label: "Description", render: (r) => r.description || h("span.muted", "—") },
      { label: "Created", width: "10rem", cls: "num", render: created },
      { label: "Actions", width: "20rem", cls: "actions", update: actionButtons(ctx, notice, ["activate", "deactivate", "remove"], () => refresher.schedule(0)) },
    ],
  });

  const nameInput = h("input#new-key-name", { autocomplete: "off", placeholder: "ci" });
  const descInput = h("input#new-key-description", { autocomplete: "off" });
  const form = h("form.create-form", {
    "aria-label": "Create an API key",
    onsubmit: async (e) => {
      e.preventDefault();
      const body = {};
      if (nameInput.value.trim()) body.name = nameInput.value.trim();
      if (descInput.value.trim()) body.description = descInput.value.trim();
      try {
        const key = await api.post("/apikeys", body);
        showSecret(key);
        nameInput.value = "";
        descInput.value = "";
        refresher.schedule(0);
      } catch (err) {
        ctx.showError(err, "Creating the key");
      }
    },
  },
  h("h2", "New API key"),
  h("div.fields",
    h("div.field", h("label", { htmlFor: "new-key-name" }, "Name"), nameInput),
    h("div.field.wide", h("label", { htmlFor: "new-key-description" }, "Description"), descInput),
    h("div.field.submit", h("button#create-key", { type: "submit" }, "Create key"))));

  function showSecret(key) {
    const access = h("input#created-access-key.mono", { readOnly: true, value: key.publicValue });
    const secret = h("input#created-secret-key.mono", { readOnly: true, value: key.secretValue || "" });
    const box = h("section.secret-callout", { "aria-labelledby": "secret-title", tabIndex: -1 },
      h("h2#secret-title", `Key ${key.name || key.id} created`),
      h("p", h("strong", "The secret key is shown only this once."), " Copy it now; it is stored hashed and cannot be read back."),
      h("div.kv", h("label", { htmlFor: "created-access-key" }, "Access key"), access,
        h("button.small.secondary", { type: "button", onclick: () => copy(key.publicValue, notice) }, "Copy")),
      h("div.kv", h("label", { htmlFor: "created-secret-key" }, "Secret key"), secret,
        h("button.small.secondary", { type: "button", onclick: () => copy(key.secretValue, notice) }, "Copy")),
      h("button#dismiss-secret", { type: "button", onclick: () => { fill(secretBox); nameInput.focus(); } }, "I have copied it"));
    fill(secretBox, box);
    box.focus();
  }

  async function load() {
    try {
      const { data } = await api.list("/apikeys");
      table.update(data.filter((k) => k.state !== "removed" && k.state !== "purged"));
    } catch (err) {
      ctx.showError(err, "Loading API keys");
    }
  }
  const refresher = new Refresher(load);

  return {
    title: "API keys",
    mount(main) {
      fill(main, h("div.page-head", h("h1", "API keys"), h("p.lede", "Keys act inside this project. Agent keys are made by the system and are not listed here.")),
        form, secretBox, notice, table.el);
      refresher.run();
      stopLive = liveRefresh(ctx, refresher, ["apikey"]);
    },
    unmount() { refresher.stop(); if (stopLive) stopLive(); },
  };
}

// ================================================================== one resource

const SKIP_FIELDS = new Set(["links", "actions", "type", "baseType", "id", "name", "secretValue",
  "createdTS", "transitioning"]);

/** "externalId" → "External ID", "hostId" (a reference) → "Host". */
function fieldLabel(key, reference) {
  const base = reference ? key.slice(0, -2) : key;
  const words = base.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/\bId$/, "ID");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function resourcePage(ctx, type, id) {
  const { api } = ctx;
  let resource = null;
  let stopLive = null;
  let poller = null;
  let processes = [];
  const head = h("div.page-head");
  const facts = h("dl.facts");
  const buttons = h("div.actions-row");
  const notice = h("div.side-notice", { "aria-live": "polite" });
  const table = new KeyedTable({
    label: "Processes of this resource",
    empty: "No processes (finished ones are purged after a while).",
    columns: [
      { label: "ID", width: "5.5rem", cls: "mono", render: (p) => h("a", { href: `#/processes/${p.id}` }, p.id) },
      { label: "Process", width: "22%", cls: "mono", render: (p) => h("a", { href: `#/processes/${p.id}` }, p.processName) },
      { label: "Attempts", width: "7rem", cls: "num", render: (p) => String(p.executionCount ?? 0) },
      { label: "Started", width: "10rem", cls: "num", render: (p) => fmtTime(p.startTime) },
      { label: "Ended", width: "10rem", cls: "num", render: (p) => p.endTime ? fmtTime(p.endTime) : h("span.badge.busy", "unfinished") },
      { label: "Exit reason", render: (p) => `${p.exitReason || "—"}${p.result ? " · " + p.result : ""}` },
    ],
  });

  function renderAll() {
    const r = resource;
    const back = listPage(type);
    fill(head, h("p.crumbs", h("a", { href: `#/${back}` }, `← ${LIST_LABELS[back]}`)),
      h("h1", r ? (r.name || r.id) : id, " ", h("span.id", `${type} ${id}`)));
    if (!r) return;
    const rows = [["State", stateBadge(r)]];
    if (r.transitioningMessage) rows.push(["Message", h("span.error-text", r.transitioningMessage)]);
    for (const [key, value] of Object.entries(r)) {
      if (SKIP_FIELDS.has(key) || key === "state" || key === "transitioningMessage") continue;
      if (value === null || value === undefined || value === "") continue;
      let shown;
      const reference = key.endsWith("Id") && typeof value === "string" && /^1[a-z]+\d+$/.test(value);
      if (reference) {
        const t = key === "accountId" ? "project" : key.slice(0, -2);
        shown = t === "project" ? value : resourceLink(t, value);
      } else if (typeof value === "object") {
        shown = h("code", JSON.stringify(value));
      } else if (key === "created" || key === "removed") {
        shown = h("span", { title: isoTitle(value) }, fmtTime(value));
      } else {
        shown = String(value);
      }
      rows.push([fieldLabel(key, reference), shown]);
    }
    fill(facts, rows.map(([k, v]) => [h("dt", k), h("dd", v)]));
    // "update" needs a form (use the API); "remove" is the confirming button below
    const names = Object.keys(r.actions || {}).filter((n) => n !== "update" && n !== "remove");
    const canRemove = r.transitioning !== "yes" && !["removed", "removing", "purged", "purging"].includes(r.state) && type !== "processInstance";
    fill(buttons,
      names.map((n) => h("button", { type: "button", dataset: { action: n }, onclick: () => act(n) }, capital(n))),
      canRemove ? confirmButton("Remove", "Confirm remove", () => act("remove"), { "data-action": "remove" }) : null,
      !names.length && !canRemove ? h("span.muted", r.transitioning === "yes" ? "A process is running on this resource." : "No actions now.") : null);
  }

  async function act(name) {
    for (const b of buttons.querySelectorAll("button")) b.disabled = true;
    await runAction(ctx, notice, resource, name);
    refresher.schedule(0);
  }

  async function load() {
    try {
      resource = await api.get(api.resourcePath(type, id));
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        fill(head, h("h1", `${type} ${id}`));
        fill(facts, h("p", "Not found in this project."));
        return;
      }
      ctx.showError(err, `Loading ${type} ${id}`);
      return;
    }
    try {
      const row = rowNumber(id);
      processes = row ? (await api.list("/processinstances", { resourceType: type, resourceId: row, sort: "id", order: "desc", limit: 50 })).data : [];
    } catch {
      processes = [];
    }
    renderAll();
    table.update(processes);
  }
  const refresher = new Refresher(load);

  return {
    title: `${type} ${id}`,
    mount(main) {
      fill(main, head, h("div.detail-grid", facts, h("div.side", buttons, notice)), h("h2", "Processes"), table.el);
      renderAll();
      refresher.run();
      stopLive = ctx.live.on((event) => {
        if (event.name === "live.connected" || (event.resourceType === type && event.resourceId === id)) refresher.schedule(CHANGE_DEBOUNCE_MS);
      });
      poller = setInterval(() => {
        if (!document.hidden && processes.some((p) => !p.endTime)) refresher.schedule(0);
      }, 1500);
    },
    unmount() { refresher.stop(); if (stopLive) stopLive(); clearInterval(poller); },
  };
}

const LIST_LABELS = {
  hosts: "Hosts", instances: "Instances", stacks: "Stacks & services", apikeys: "API keys",
  processes: "Processes",
};

function listPage(type) {
  return { host: "hosts", agent: "hosts", instance: "instances", stack: "stacks", service: "stacks", apikey: "apikeys" }[type] || "processes";
}
