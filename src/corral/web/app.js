// corral web UI: sign-in, the shell (navigation, project switcher, live status) and the
// hash router. Pages live in their own modules; each gets a `ctx` with the API client, the
// live event stream and who is signed in. Keys are kept in sessionStorage only.

import { Api, ApiError, Live } from "./api.js";
import { h, fill } from "./dom.js";
import { processesPage, processDetailPage } from "./processes.js";
import {
  hostsPage, instancesPage, stacksPage, apiKeysPage, resourcePage,
} from "./resources.js";
import { settingsPage } from "./settings.js";
import { eventsPage } from "./events.js";

const SESSION_KEY = "corral.session";

const ROUTES = [
  { name: "processes", match: /^(?:processes)?$/, page: processesPage },
  { name: "processes", match: /^processes\/([^/]+)$/, page: processDetailPage },
  { name: "hosts", match: /^hosts$/, page: hostsPage },
  { name: "instances", match: /^instances$/, page: instancesPage },
  { name: "stacks", match: /^stacks$/, page: stacksPage },
  { name: "apikeys", match: /^apikeys$/, page: apiKeysPage },
  { name: "settings", match: /^settings$/, page: settingsPage },
  { name: "events", match: /^events$/, page: eventsPage },
  { name: null, match: /^r\/([A-Za-z]+)\/([^/]+)$/, page: resourcePage },
];

const $ = (id) => document.getElementById(id);

const app = {
  session: null, // {access, secret, projectId}
  api: null,
  live: null,
  isAdmin: false,
  projects: [],
  current: null, // {route, page, key}
};

// ------------------------------------------------------------------ session storage

function loadSession() {
  try {
    const raw = sessionStorage.getItem(SESSION_KEY);
    const s = raw ? JSON.parse(raw) : null;
    return s && s.access && s.secret ? s : null;
  } catch {
    return null;
  }
}

function saveSession() {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(app.session));
}

// ------------------------------------------------------------------ alerts

export function showError(err, context = "") {
  if (err instanceof ApiError && err.status === 401) {
    signOut("The key was refused (HTTP 401): sign in again.");
    return;
  }
  if (err && err.name === "AbortError") return;
  const text = err instanceof ApiError ?
    `${context ? context + ": " : ""}${err.message} (${err.status}${err.code ? " " + err.code : ""})` :
    `${context ? context + ": " : ""}${(err && err.message) || err}`;
  const alerts = $("alerts");
  const box = h("div.alert.error",
    h("p", text),
    h("button.link", { type: "button", onclick: () => box.remove(), "aria-label": "Dismiss this message" }, "Dismiss"));
  alerts.append(box);
  while (alerts.children.length > 3) alerts.firstChild.remove();
}

function clearAlerts() {
  fill($("alerts"));
}

// ------------------------------------------------------------------ sign in / out

function renderSignIn(message = "") {
  $("topbar").hidden = true;
  document.title = "Sign in · corral";
  const access = h("input#access-key", {
    name: "access", autocomplete: "username", required: true, spellcheck: false,
    autocapitalize: "off",
  });
  const secret = h("input#secret-key", {
    name: "secret", type: "password", autocomplete: "current-password", required: true,
  });
  const error = h("p.form-error#signin-error", { role: "alert" }, message);
  const submit = h("button#sign-in", { type: "submit" }, "Sign in");
  const form = h("form.signin.panel", {
    onsubmit: async (e) => {
      e.preventDefault();
      submit.disabled = true;
      error.textContent = "";
      try {
        await startSession({ access: access.value.trim(), secret: secret.value.trim() });
        focusHeading();
      } catch (err) {
        error.textContent = err instanceof ApiError && err.status === 401 ?
          "That access key and secret key were not accepted." :
          `Could not sign in: ${err.message || err}`;
        submit.disabled = false;
        secret.focus();
      }
    },
  },
  h("h1", "Sign in to corral"),
  h("p.hint", "Use an API key: its access key and secret key. They are kept in this browser tab only (session storage) and sent with every request."),
  h("label", { htmlFor: "access-key" }, "Access key"), access,
  h("label", { htmlFor: "secret-key" }, "Secret key"), secret,
  error,
  h("div.actions", submit));
  fill($("main"), form);
  access.focus();
}

async function startSession(session) {
  const api = new Api(session.access, session.secret);
  const root = await api.get("/v1");
  // admin-only collections show up in the API root only for admin keys
  const isAdmin = Boolean(root.links && root.links.processexecutions);
  const { data } = await api.list("/v1/projects");
  const projects = data.filter((p) => p.state !== "removed" && p.state !== "purged");
  if (!projects.length) throw new Error("this key sees no project");
  app.session = { ...session, projectId: session.projectId };
  app.api = api;
  app.isAdmin = isAdmin;
  app.projects = projects;
  if (!projects.some((p) => p.id === app.session.projectId)) {
    app.session.projectId = projects[0].id;
  }
  saveSession();
  renderShell();
  useProject(app.session.projectId);
}

function signOut(message = "") {
  sessionStorage.removeItem(SESSION_KEY);
  unmountPage();
  if (app.live) app.live.close();
  Object.assign(app, { session: null, api: null, live: null, isAdmin: false, projects: [] });
  clearAlerts();
  renderSignIn(message);
}

// ------------------------------------------------------------------ shell

function renderShell() {
  $("topbar").hidden = false;
  const select = $("project-select");
  fill(select, app.projects.map((p) => h("option", { value: p.id }, `${p.name || p.id} (${p.id})`)));
  select.onchange = () => useProject(select.value);
  // a key that sees one project has nothing to switch: show its name instead
  const single = app.projects.length < 2;
  select.hidden = single;
  const only = $("project-only");
  only.hidden = !single;
  only.textContent = single ? `${app.projects[0].name || app.projects[0].id} (${app.projects[0].id})` : "";
  fill($("whoami"), h("span.key", { title: `Access key ${app.session.access}` },
    app.session.access.slice(0, 6) + "…"), " ",
  h(`span.role${app.isAdmin ? ".admin" : ""}`, app.isAdmin ? "admin" : "project key"));
  $("sign-out").onclick = () => signOut();
}

function useProject(projectId) {
  app.session.projectId = projectId;
  saveSession();
  $("project-select").value = projectId;
  app.api.base = `/v1/projects/${encodeURIComponent(projectId)}`;
  if (app.live) app.live.close();
  app.live = new Live(app.api, projectId, { isAdmin: app.isAdmin }).start();
  app.live.onStatus(renderLiveStatus);
  unmountPage();
  route({ focus: false });
}

function renderLiveStatus(status) {
  const el = $("live-status");
  el.dataset.status = status;
  el.querySelector(".text").textContent = status === "live" ? "live" : status;
}

// ------------------------------------------------------------------ router

function parseHash() {
  const raw = window.location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  return { path: decodeURIComponent(path).replace(/\/$/, ""), params: new URLSearchParams(query) };
}

export function navigate(path, params) {
  const qs = params && [...params].length ? `?${params}` : "";
  window.location.hash = `#/${path}${qs}`;
}

/** Change the query of the current page without a navigation (filters as you type). */
export function replaceParams(params) {
  const { path } = parseHash();
  const qs = [...params].length ? `?${params}` : "";
  history.replaceState(null, "", `#/${path}${qs}`);
}

function unmountPage() {
  if (app.current && app.current.page.unmount) {
    try { app.current.page.unmount(); } catch (e) { console.error(e); }
  }
  app.current = null;
}

function ctx() {
  return {
    api: app.api,
    live: app.live,
    isAdmin: app.isAdmin,
    projectId: app.session.projectId,
    project: app.projects.find((p) => p.id === app.session.projectId),
    showError,
    navigate,
    replaceParams,
  };
}

function route({ focus = true } = {}) {
  if (!app.session) return;
  const { path, params } = parseHash();
  let found = null;
  let args = [];
  for (const r of ROUTES) {
    const m = r.match.exec(path);
    if (m) { found = r; args = m.slice(1); break; }
  }
  for (const a of document.querySelectorAll("#nav a")) {
    if (found && a.dataset.page === found.name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const key = found ? `${ROUTES.indexOf(found)}:${args.join("/")}` : "404";
  if (app.current && app.current.key === key && app.current.page.update) {
    app.current.page.update(params);
    return;
  }
  unmountPage();
  const main = $("main");
  fill(main);
  if (!found) {
    document.title = "Not found · corral";
    fill(main, h("h1", { tabIndex: -1 }, "Not found"),
      h("p", "No page here. ", h("a", { href: "#/processes" }, "Go to Processes")));
    return;
  }
  const page = found.page(ctx(), ...args);
  app.current = { key, page };
  document.title = `${page.title || "corral"} · corral`;
  page.mount(main, params);
  if (focus) focusHeading();
}

/** After a navigation the page's heading takes the focus (where keyboard users start). */
function focusHeading() {
  const heading = $("main").querySelector("h1");
  if (heading) {
    heading.tabIndex = -1;
    heading.focus();
  }
}

// ------------------------------------------------------------------ start

function boot() {
  $("skip-link").addEventListener("click", (e) => {
    e.preventDefault();
    $("main").focus();
  });
  window.addEventListener("hashchange", () => route());
  const saved = loadSession();
  if (!saved) {
    renderSignIn();
    return;
  }
  fill($("main"), h("p.loading", "Signing in…"));
  startSession(saved).catch((err) => {
    sessionStorage.removeItem(SESSION_KEY);
    renderSignIn(err instanceof ApiError && err.status === 401 ?
      "The saved key was refused: sign in again." : `Could not sign in: ${err.message || err}`);
  });
}

boot();
