// The switchyard dashboard: reads the internal API (relative to this page, so it also works behind a
// path prefix) every two seconds and draws it. Text only ever reaches the page through textContent.
"use strict";

const API = "../api/";
const PER_PAGE = 200;
const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);

async function get(path) {
  const response = await fetch(API + path, { headers: { accept: "application/json" } });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function status(value) {
  return el("span", { class: `status ${value}` }, value || "");
}

function list(values) {
  return (values || []).join(", ");
}

/** Replaces the rows of `tbody` with one row per item (and a row of its errors, if any). */
function fill(tbody, items, cells, columns) {
  const rows = [];
  for (const item of items) {
    rows.push(el("tr", { "data-name": item.name }, cells(item).map((cell) => el("td", {}, cell))));
    if (item.error && item.error.length) {
      rows.push(el("tr", { class: "errors" }, el("td", {}), el("td", { colspan: columns - 1 }, item.error.join("; "))));
    }
  }
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: columns, class: "muted" }, "none")));
  tbody.replaceChildren(...rows);
}

function counted(section, shown) {
  if (!section) return "";
  const parts = [`${section.total}`];
  if (section.warnings) parts.push(`${section.warnings} warning${section.warnings > 1 ? "s" : ""}`);
  if (section.errors) parts.push(`${section.errors} disabled`);
  if (shown !== undefined && shown < section.total) parts.push(`${shown} shown`);
  return `(${parts.join(", ")})`;
}

function card(title, section) {
  return el("div", { class: "card" }, title,
    el("b", {}, section.total),
    section.warnings ? el("span", { class: "warn" }, `${section.warnings} warnings `) : null,
    section.errors ? el("span", { class: "bad" }, `${section.errors} disabled`) : null);
}

function drawOverview(overview) {
  $("generation").textContent = `configuration #${overview.generation}`;
  const cards = [];
  for (const [protocol, sections] of [["HTTP", overview.http], ["TCP", overview.tcp], ["UDP", overview.udp]]) {
    for (const [kind, section] of Object.entries(sections || {})) {
      cards.push(card(`${protocol} ${kind}`, section));
    }
  }
  $("overview-cards").replaceChildren(...cards);
  $("providers").textContent = `providers: ${list(overview.providers) || "none"}`;
}

/** Every element with a problem, found from the overview's counts (no request for clean sections). */
async function drawProblems(overview) {
  const items = (overview.errors || []).map((error) => ({ where: "configuration", status: "disabled", text: error }));
  const wanted = [];
  for (const [protocol, sections] of [["http", overview.http], ["tcp", overview.tcp], ["udp", overview.udp]]) {
    for (const [kind, section] of Object.entries(sections || {})) {
      if (section.errors) wanted.push([protocol, kind, "disabled"]);
      if (section.warnings) wanted.push([protocol, kind, "warning"]);
    }
  }
  const found = await Promise.all(wanted.map(([protocol, kind, state]) =>
    get(`${protocol}/${kind}?status=${state}&per_page=${PER_PAGE}`).then((elements) =>
      elements.map((element) => ({
        where: `${protocol}.${kind}.${element.name}`,
        status: element.status,
        text: list(element.error),
      })))));
  items.push(...found.flat());
  $("problem-count").textContent = items.length ? `(${items.length})` : "";
  // An error names its own key path; the element is named only when it has no error text.
  const rows = items.map((item) => el("li", {}, status(item.status), " ", item.text || el("code", {}, item.where)));
  if (!rows.length) rows.push(el("li", { class: "none" }, "No errors or warnings."));
  $("problem-list").replaceChildren(...rows);
}

function servers(service) {
  const statuses = service.serverStatus || {};
  const urls = ((service.loadBalancer || {}).servers || []).map((server) => server.url || server.address);
  const names = urls.length ? urls : Object.keys(statuses);
  const children = names.map((url) => el("span", { class: `server ${statuses[url] || ""}`, title: statuses[url] || "" }, url));
  const weighted = (service.weighted || {}).services || (service.failover ? [service.failover.service, service.failover.fallback] : []);
  for (const child of weighted) children.push(el("span", { class: "server" }, typeof child === "string" ? child : `${child.name} ×${child.weight ?? 1}`));
  return children.length ? children : el("span", { class: "muted" }, "—");
}

async function drawHttp(overview) {
  const search = $("router-search").value.trim();
  const query = `per_page=${PER_PAGE}` + (search ? `&search=${encodeURIComponent(search)}` : "");
  const [routers, services, middlewares] = await Promise.all([
    get(`http/routers?${query}`),
    get(`http/services?per_page=${PER_PAGE}`),
    get(`http/middlewares?per_page=${PER_PAGE}`),
  ]);
  $("router-count").textContent = counted(overview.http.routers, routers.length);
  fill($("router-rows"), routers, (r) => [
    status(r.status), r.name, el("span", { class: "rule" }, r.rule || ""), r.priority || "",
    list(r.using || r.entryPoints), list(r.middlewares), r.service,
  ], 7);
  $("service-count").textContent = counted(overview.http.services, services.length);
  fill($("service-rows"), services, (s) => [status(s.status), s.name, s.type || "", servers(s), list(s.usedBy)], 5);
  $("middleware-count").textContent = counted(overview.http.middlewares, middlewares.length);
  fill($("middleware-rows"), middlewares, (m) => [status(m.status), m.name, m.type || "", list(m.usedBy)], 4);
}

async function drawStreams(overview) {
  const tcpRouters = overview.tcp.routers.total ? await get(`tcp/routers?per_page=${PER_PAGE}`) : [];
  fill($("tcp-rows"), tcpRouters, (r) => [status(r.status), r.name, el("span", { class: "rule" }, r.rule || ""), list(r.entryPoints), r.service], 5);
  const udpRouters = overview.udp.routers.total ? await get(`udp/routers?per_page=${PER_PAGE}`) : [];
  fill($("udp-rows"), udpRouters, (r) => [status(r.status), r.name, list(r.entryPoints), r.service], 4);
}

async function drawEntryPoints() {
  const entryPoints = await get("entrypoints");
  fill($("entrypoint-rows"), entryPoints, (e) => [e.name, el("code", {}, e.address)], 2);
}

/** Where a configuration sends a request, in a few words. */
function destination(routing) {
  if (routing.router) return `${routing.router} → ${routing.service || "?"}`;
  return routing.status ? `the entrypoint's ${routing.status}` : "nowhere";
}

/** The canary's last report (static `canary`); the section stays hidden when the canary is off. */
async function drawCanary() {
  const response = await fetch(`${API}canary`, { headers: { accept: "application/json" } });
  const section = $("canary");
  if (response.status === 404) {
    section.hidden = true;
    return;
  }
  if (!response.ok) throw new Error(`canary: ${response.status}`);
  const canary = await response.json();
  section.hidden = false;
  const report = canary.report;
  const summary = $("canary-summary");
  if (!report) {
    summary.textContent = `${canary.recorded} recent requests recorded; no configuration change checked yet.`;
    fill($("canary-rows"), [], () => [], 4);
    return;
  }
  const held = report.state === "held"
    ? " It is held: the live configuration serves until POST /api/canary/confirm or /api/canary/discard."
    : "";
  summary.replaceChildren(
    status(report.state),
    ` generation ${report.liveGeneration} → ${report.candidateGeneration}: ${report.moved} of ${report.replayed} recent requests (${report.distinctMoved} distinct) route differently.${held}`,
  );
  fill($("canary-rows"), report.differences.map((d) => ({ ...d, name: `${d.request.method} ${d.request.host}${d.request.path}` })), (d) => [
    el("code", {}, d.name), d.times, destination(d.before), destination(d.after),
  ], 4);
}

let version = null;

async function refresh() {
  if (document.hidden) return;
  try {
    if (version === null) {
      version = await get("version");
      $("version").textContent = `v${version.Version}`;
    }
    const overview = await get("overview");
    drawOverview(overview);
    await Promise.all([drawProblems(overview), drawHttp(overview), drawStreams(overview), drawEntryPoints(), drawCanary()]);
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.loaded = "true";
  } catch (error) {
    $("updated").textContent = `cannot read the API: ${error.message}`;
  }
}

async function explain(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const params = new URLSearchParams();
  for (const [key, value] of form.entries()) {
    if (key === "headers") {
      for (const line of String(value).split("\n")) {
        if (line.includes(":")) params.append("header", line.trim());
      }
    } else if (String(value).trim()) {
      params.append(key, String(value).trim());
    }
  }
  const result = $("explain-result");
  try {
    const response = await fetch(`${API}explain?${params}`, { headers: { accept: "application/json" } });
    const text = await response.text();
    try {
      result.textContent = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      result.textContent = `${response.status}: ${text}`;
    }
  } catch (error) {
    result.textContent = `cannot reach the API: ${error.message}`;
  }
}

let searchTimer = null;
document.addEventListener("DOMContentLoaded", () => {
  $("explain-form").addEventListener("submit", explain);
  $("router-search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(refresh, 250);
  });
  refresh();
  setInterval(refresh, POLL_MS);
});
