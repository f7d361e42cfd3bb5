// The API client (HTTP Basic with the signed-in key) and the live resource.change stream.

export class ApiError extends Error {
  constructor(status, body) {
    const message = (body && (body.message || body.code)) || `HTTP ${status}`;
    super(message);
    this.status = status;
    this.body = body || {};
    this.code = this.body.code || null;
    this.fieldName = this.body.fieldName || null;
  }
}

function utf8Base64(text) {
  let bin = "";
  for (const byte of new TextEncoder().encode(text)) bin += String.fromCharCode(byte);
  return btoa(bin);
}

// Wire ids are "1" + a per-type prefix + the row number (spec §1).
export const ID_PREFIXES = {
  a: "project", c: "apikey", ag: "agent", h: "host", i: "instance", v: "volume", st: "stack",
  s: "service", pi: "processInstance", pe: "processExecution", ce: "containerEvent",
  se: "serviceEvent",
};

export const PLURALS = {
  account: "accounts", project: "projects", apikey: "apikeys", agent: "agents", host: "hosts",
  instance: "instances", volume: "volumes", stack: "stacks", service: "services",
  processInstance: "processinstances", processExecution: "processexecutions",
  containerEvent: "containerevents", serviceEvent: "serviceevents",
  registrationToken: "registrationtokens", credential: "apikeys",
};

/** "1i23" → {type: "instance", row: 23}; null if it is not a wire id. */
export function parseWireId(id) {
  const m = /^1([a-z]+)([1-9][0-9]{0,17})$/.exec(String(id || "").trim());
  if (!m || !(m[1] in ID_PREFIXES)) return null;
  return { type: ID_PREFIXES[m[1]], row: m[2] };
}

/** The row number behind a wire id ("1i23" → "23"), or the id itself if it is a number. */
export function rowNumber(id) {
  const parsed = parseWireId(id);
  if (parsed) return parsed.row;
  return /^[1-9][0-9]*$/.test(String(id)) ? String(id) : null;
}

export class Api {
  constructor(access, secret) {
    this.access = access;
    this.secret = secret;
    this.authorization = "Basic " + utf8Base64(`${access}:${secret}`);
    this.base = "/v1"; // becomes /v1/projects/<id> once a project is chosen
  }

  url(path, params) {
    const full = path.startsWith("/v1") ? path : `${this.base}${path.startsWith("/") ? "" : "/"}${path}`;
    const url = new URL(full, window.location.origin);
    for (const [key, value] of Object.entries(params || {})) {
      if (value === undefined || value === null || value === "") continue;
      for (const v of Array.isArray(value) ? value : [value]) url.searchParams.append(key, v);
    }
    return url.pathname + url.search;
  }

  async request(method, path, { params, body, signal } = {}) {
    const headers = { Authorization: this.authorization, Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(this.url(path, params), {
      method, headers, signal, cache: "no-store",
      // no cookies, and no browser login prompt on a 401: the key is sent explicitly
      credentials: "omit",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    const text = await res.text();
    if (text) {
      try { data = JSON.parse(text); } catch { data = { message: text.slice(0, 200) }; }
    }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }

  get(path, params, opts = {}) { return this.request("GET", path, { params, ...opts }); }
  post(path, body = {}, params) { return this.request("POST", path, { body, params }); }
  put(path, body) { return this.request("PUT", path, { body }); }
  del(path) { return this.request("DELETE", path); }

  /** A collection's data (one page of at most `limit`). */
  async list(path, params = {}, opts = {}) {
    const out = await this.get(path, { limit: 1000, ...params }, opts);
    return { data: out.data || [], partial: Boolean(out.pagination && out.pagination.partial) };
  }

  resourcePath(type, id) {
    return `/${PLURALS[type] || `${type}s`}/${encodeURIComponent(id)}`;
  }

  action(type, id, name, body = {}) {
    return this.post(this.resourcePath(type, id), body, { action: name });
  }

  remove(type, id) {
    return this.del(this.resourcePath(type, id));
  }

  /** The newest process of a resource (the one an action or delete just started). */
  async latestProcess(type, id) {
    const row = rowNumber(id);
    if (!row) return null;
    const { data } = await this.list("/processinstances", {
      resourceType: type, resourceId: row, sort: "id", order: "desc", limit: 1,
    });
    return data[0] || null;
  }
}

/**
 * One subscribe WebSocket for the session: resource.change events of the chosen project.
 *
 * Browsers cannot set an Authorization header on a WebSocket, so the key goes in the
 * subprotocols: "corral" and "corral.basic.<base64url(access:secret)>" (docs/ui.md).
 * Reconnects with a growing delay; every (re)connect tells listeners so pages re-fetch
 * whatever they may have missed.
 */
export class Live {
  constructor(api, projectId, { isAdmin, keep = 500 } = {}) {
    this.api = api;
    this.projectId = projectId;
    this.isAdmin = isAdmin;
    this.keep = keep;
    this.recent = []; // the last `keep` events, oldest first
    this.listeners = new Set();
    this.statusListeners = new Set();
    this.status = "connecting";
    this.delay = 500;
    this.closed = false;
    this.ws = null;
    this.timer = null;
    this.received = 0;
  }

  start() {
    this.connect();
    return this;
  }

  url() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${window.location.host}/v1/projects/${encodeURIComponent(this.projectId)}` +
      "/subscribe?eventNames=resource.change";
  }

  protocols() {
    const token = utf8Base64(`${this.api.access}:${this.api.secret}`)
      .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    return ["corral", `corral.basic.${token}`];
  }

  connect() {
    if (this.closed) return;
    this.setStatus(this.received ? "reconnecting" : "connecting");
    let ws;
    try {
      ws = new WebSocket(this.url(), this.protocols());
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.delay = 500;
      this.setStatus("live");
      this.emit({ name: "live.connected" });
    };
    ws.onmessage = (msg) => {
      let event;
      try { event = JSON.parse(msg.data); } catch { return; }
      if (!event || event.name === "ping") return;
      if (!this.mine(event)) return;
      this.received += 1;
      event.receivedAt = Date.now();
      this.recent.push(event);
      if (this.recent.length > this.keep) this.recent.splice(0, this.recent.length - this.keep);
      this.emit(event);
    };
    ws.onclose = () => {
      if (this.ws === ws) this.ws = null;
      if (!this.closed) this.retry();
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  /** Admin keys subscribe raw and get every project's changes: keep this project's. */
  mine(event) {
    if (!this.isAdmin) return true;
    const r = (event.data && event.data.resource) || {};
    if (event.resourceType === "project") return event.resourceId === this.projectId;
    return !r.accountId || r.accountId === this.projectId;
  }

  retry() {
    this.setStatus("offline");
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), this.delay);
    this.delay = Math.min(this.delay * 2, 10000);
  }

  setStatus(status) {
    this.status = status;
    for (const fn of this.statusListeners) fn(status);
  }

  emit(event) {
    for (const fn of [...this.listeners]) {
      try { fn(event); } catch (e) { console.error(e); }
    }
  }

  /** Listen to events; returns the function that stops listening. */
  on(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  onStatus(fn) {
    this.statusListeners.add(fn);
    fn(this.status);
    return () => this.statusListeners.delete(fn);
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000, "bye");
    this.listeners.clear();
    this.statusListeners.clear();
  }
}
