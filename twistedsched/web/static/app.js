// twistedsched dashboard: plain JavaScript, no library, no build step.
// Everything shown comes from the JSON API; text goes in with textContent only.
"use strict";

const PAGE = 50;
const SVG = "http://www.w3.org/2000/svg";
const FAILED = new Set(["error", "timeout", "missed"]);
const state = { csrf: null, zone: "UTC", offsets: [0], next: null, q: "", filter: "all",
                job: null, refreshing: null, paused: false };

function $(id) { return document.getElementById(id); }

function el(tag, attrs, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4))
                                      : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) node.setAttribute(key, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(method, path, body) {
  const headers = {};
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    if (state.csrf) headers["X-CSRF-Token"] = state.csrf;
  }
  const response = await fetch(path, { method, headers, credentials: "same-origin",
                                       body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401) { window.location = "/login"; throw new Error("log in"); }
  const data = await response.json();
  if (!response.ok) throw new Error(data.error ? data.error.code + ": " + data.error.message
                                               : "HTTP " + response.status);
  return data;
}

function report(error) { note("error", String(error.message || error)); }

// -- Times ------------------------------------------------------------------

function schedulerTime(iso) {          // the ISO text is in the scheduler's zone already
  return iso ? iso.slice(0, 19).replace("T", " ") : "paused";
}

function viewerTime(iso) {
  return iso ? new Date(iso).toLocaleString() : "paused";
}

function seconds(value) { return value === null || value === undefined ? "-" : value.toFixed(3) + " s"; }

// -- Header, stats, members --------------------------------------------------

async function loadScheduler() {
  const info = await api("GET", "/api/scheduler");
  state.zone = info.timezone;
  state.paused = info.paused;
  $("zone").textContent = "scheduler zone: " + info.timezone + " / yours: "
    + Intl.DateTimeFormat().resolvedOptions().timeZone;
  const badge = $("scheduler-state");
  badge.textContent = info.paused ? "paused" : "running";
  badge.className = "badge" + (info.paused ? " paused" : "");
  $("toggle-scheduler").textContent = info.paused ? "Resume scheduler" : "Pause scheduler";
  $("members").replaceChildren(...info.members.map(m => el("li", { "class": m.alive ? "" : "error" },
    m.id + (m.self ? " (this daemon)" : "") + (m.alive ? "" : " (gone)"))));
}

async function loadStats() {
  const stats = (await api("GET", "/api/stats")).stats;
  $("stats").replaceChildren(...Object.entries(stats).flatMap(([key, value]) =>
    [el("dt", {}, key), el("dd", { id: "stat-" + key }, String(value))]));
}

// -- The jobs table ------------------------------------------------------------

async function loadJobs() {
  const params = new URLSearchParams({ offset: state.offsets[state.offsets.length - 1],
                                       limit: PAGE, last_run: "1", state: state.filter });
  if (state.q) params.set("q", state.q);
  const page = await api("GET", "/api/jobs?" + params);
  state.next = page.next_offset;
  $("jobs-total").textContent = "(" + page.total + " in all)";
  $("prev").disabled = state.offsets.length < 2;
  $("next").disabled = page.next_offset === null;
  $("jobs").tBodies[0].replaceChildren(...page.jobs.map(jobRow));
}

function jobRow(job) {
  const last = job.last_run;
  const failed = last && FAILED.has(last.outcome);
  const row = el("tr", { "data-id": job.id, "class": failed ? "failed" : job.paused ? "paused" : "" },
    el("td", { "class": "id" }, job.id), el("td", {}, job.name), el("td", {}, job.trigger),
    el("td", { "class": "state" }, job.paused ? "paused" : "scheduled"),
    el("td", {}, schedulerTime(job.next_run_time)), el("td", {}, viewerTime(job.next_run_time)),
    el("td", { "class": "last", title: last && last.error ? last.error : "" },
       last ? last.outcome : "-"),
    el("td", {}, el("button", { type: "button", "class": "show" }, "details")));
  row.addEventListener("click", () => showJob(job.id)
    .then(() => $("detail-section").scrollIntoView()).catch(report));
  return row;
}

// -- One job -------------------------------------------------------------------

async function showJob(id) {
  const data = await api("GET", "/api/jobs/" + encodeURIComponent(id));
  const job = data.job;
  state.job = job.id;
  $("detail-section").hidden = false;
  $("detail-id").textContent = job.id;
  const fields = [["name", job.name], ["task", job.task || job.target], ["trigger", job.trigger],
                  ["state", job.paused ? "paused" : "scheduled"],
                  ["next run (scheduler)", schedulerTime(job.next_run_time)],
                  ["next run (yours)", viewerTime(job.next_run_time)],
                  ["args", JSON.stringify(job.args)], ["kwargs", JSON.stringify(job.kwargs)],
                  ["options", JSON.stringify(job.options)]];
  $("detail").replaceChildren(...fields.flatMap(([key, value]) =>
    [el("dt", {}, key), el("dd", { "data-field": key }, value)]));
  $("detail-pause").disabled = job.paused;
  $("detail-resume").disabled = !job.paused;
  drawChart(data.history.slice().reverse());
  $("runs").tBodies[0].replaceChildren(...data.history.map(run => el("tr",
    { "class": FAILED.has(run.outcome) ? "failed" : "" },
    el("td", {}, schedulerTime(run.scheduled_run_time)), el("td", {}, run.outcome),
    el("td", {}, seconds(lateness(run))), el("td", {}, seconds(run.duration)),
    el("td", {}, run.error || ""))));
}

function lateness(run) {
  if (!run.started || !run.scheduled_run_time) return null;
  return (new Date(run.started) - new Date(run.scheduled_run_time)) / 1000;
}

// The run history: one bar per run, oldest left; its height is the
// duration, its colour the outcome; a dot above it marks the lateness.
function drawChart(runs) {
  const width = 640, height = 160, top = 12, bottom = 20, left = 40;
  const plot = height - top - bottom;
  const longest = Math.max(0.001, ...runs.map(r => r.duration || 0));
  const latest = Math.max(0.001, ...runs.map(r => Math.abs(lateness(r) || 0)));
  const step = runs.length ? Math.min(40, (width - left) / runs.length) : 40;
  const svg = el("svg:svg", { id: "history-chart", viewBox: `0 0 ${width} ${height}`,
                              width: width, height: height, role: "img",
                              "aria-label": "run history" });
  svg.append(el("svg:line", { "class": "axis", x1: left, y1: top + plot, x2: width, y2: top + plot }),
             el("svg:text", { x: 0, y: top + 8 }, seconds(longest)),
             el("svg:text", { x: 0, y: top + plot }, "0 s"));
  runs.forEach((run, i) => {
    const x = left + i * step + 2;
    const ran = run.duration !== null && run.duration !== undefined;
    const h = ran ? Math.max(2, plot * run.duration / longest) : plot * 0.15;
    const bar = el("svg:rect", { "class": "run bar-" + run.outcome, "data-outcome": run.outcome,
                                 x: x, y: top + plot - h, width: Math.max(2, step - 4), height: h });
    bar.append(el("svg:title", {}, `${schedulerTime(run.scheduled_run_time)}: ${run.outcome}, `
      + `took ${seconds(run.duration)}, late ${seconds(lateness(run))}`
      + (run.error ? " — " + run.error : "")));
    svg.append(bar);
    const late = lateness(run);
    if (late !== null) {
      svg.append(el("svg:circle", { "class": "late", r: 3, cx: x + Math.max(2, step - 4) / 2,
                                    cy: top + plot - plot * Math.abs(late) / latest }));
    }
  });
  if (!runs.length) svg.append(el("svg:text", { x: left + 10, y: top + plot / 2 }, "no runs yet"));
  $("chart").replaceChildren(svg);
}

// -- The next 24 hours ----------------------------------------------------------

async function loadUpcoming() {
  const data = await api("GET", "/api/upcoming?hours=24&limit=500");
  const start = new Date(data.from).getTime(), span = new Date(data.until).getTime() - start;
  const rows = [...new Set(data.upcoming.map(e => e.job_id))].slice(0, 20);
  const width = 900, left = 160, rowHeight = 18, height = 24 + rowHeight * Math.max(1, rows.length);
  const svg = el("svg:svg", { id: "timeline-chart", viewBox: `0 0 ${width} ${height}`,
                              width: "100%", role: "img", "aria-label": "the next 24 hours" });
  for (let hour = 0; hour <= 24; hour += 3) {
    const x = left + (width - left - 10) * hour / 24;
    svg.append(el("svg:line", { "class": "axis", x1: x, y1: 14, x2: x, y2: height }),
               el("svg:text", { x: x - 8, y: 10 }, "+" + hour + "h"));
  }
  rows.forEach((id, i) => svg.append(el("svg:text", { "class": "row-label", x: 0,
    y: 24 + i * rowHeight + 12 }, id.length > 24 ? id.slice(0, 23) + "…" : id)));
  for (const entry of data.upcoming) {
    const row = rows.indexOf(entry.job_id);
    if (row < 0) continue;
    const x = left + (width - left - 10) * (new Date(entry.time).getTime() - start) / span;
    const tick = el("svg:line", { "class": "tick", x1: x, x2: x, y1: 24 + row * rowHeight + 2,
                                  y2: 24 + row * rowHeight + 16 });
    tick.append(el("svg:title", {}, entry.job_id + ": " + schedulerTime(entry.time)));
    svg.append(tick);
  }
  if (!rows.length) svg.append(el("svg:text", { x: left, y: 34 }, "nothing in the next 24 hours"));
  if (data.truncated) svg.append(el("svg:text", { x: width - 200, y: height - 2 }, "(more not shown)"));
  $("timeline").replaceChildren(svg);
}

// -- Actions --------------------------------------------------------------------

function confirmAction(text) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  dialog.returnValue = "";
  return new Promise(resolve => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
  });
}

async function act(action, question) {
  const id = state.job;
  if (!id || !(await confirmAction(question + " " + id + "?"))) return;
  const path = "/api/jobs/" + encodeURIComponent(id);
  if (action === "remove") {
    await api("DELETE", path);
    state.job = null;
    $("detail-section").hidden = true;
  } else {
    await api("POST", path + "/" + action);
    await showJob(id);
  }
  await refresh();
}

async function toggleScheduler() {
  const pause = !state.paused;
  if (!(await confirmAction((pause ? "Pause" : "Resume") + " the whole scheduler?"))) return;
  await api("POST", "/api/scheduler/" + (pause ? "pause" : "resume"));
  await loadScheduler();
}

// -- Live updates ----------------------------------------------------------------

function note(kind, text) {
  const list = $("events");
  list.prepend(el("li", { "class": kind }, new Date().toLocaleTimeString() + " " + text));
  while (list.children.length > 100) list.lastChild.remove();
}

function describe(event) {
  const parts = [event.event];
  if (event.job_id) parts.push(event.job_id);
  if (event.outcome) parts.push(event.outcome);
  if (event.count) parts.push(event.count + " events missed");
  if (event.error) parts.push(event.error);
  return parts.join(" ");
}

function refresh() {          // at most one refresh at a time; events coalesce into it
  if (!state.refreshing) {
    state.refreshing = new Promise(resolve => setTimeout(resolve, 200))
      .then(() => Promise.all([loadJobs(), loadStats(), loadUpcoming(), loadScheduler()]))
      .catch(report).finally(() => { state.refreshing = null; });
  }
  return state.refreshing;
}

function listen() {
  const source = new EventSource("/api/events");
  source.onopen = () => { $("live").className = "badge"; };
  source.onerror = () => { $("live").className = "badge off"; };
  source.onmessage = message => {
    const event = JSON.parse(message.data);
    note(FAILED.has(event.outcome) || event.event === "job_error" ? "error" : "", describe(event));
    refresh();
    if (state.job && event.job_id === state.job) {
      showJob(state.job).catch(() => { state.job = null; $("detail-section").hidden = true; });
    }
  };
}

// -- Start -------------------------------------------------------------------------

async function start() {
  const session = await api("GET", "/api/session");
  state.csrf = session.csrf_token;
  $("user").textContent = session.auth ? session.user : "";
  $("logout").hidden = session.via !== "session";
  $("logout").addEventListener("click", async () => {
    await api("POST", "/logout");
    window.location = "/login";
  });
  let typing = null;
  $("search").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => { state.q = $("search").value; state.offsets = [0]; loadJobs().catch(report); }, 250);
  });
  $("state").addEventListener("change", () => {
    state.filter = $("state").value; state.offsets = [0]; loadJobs().catch(report);
  });
  $("next").addEventListener("click", () => {
    if (state.next !== null) { state.offsets.push(state.next); loadJobs().catch(report); }
  });
  $("prev").addEventListener("click", () => {
    if (state.offsets.length > 1) { state.offsets.pop(); loadJobs().catch(report); }
  });
  $("toggle-scheduler").addEventListener("click", () => toggleScheduler().catch(report));
  for (const [action, question] of [["pause", "Pause"], ["resume", "Resume"], ["run", "Run now"],
                                    ["remove", "Remove"]]) {
    $("detail-" + action).addEventListener("click", () => act(action, question).catch(report));
  }
  $("detail-close").addEventListener("click", () => { state.job = null; $("detail-section").hidden = true; });
  await Promise.all([loadScheduler(), loadStats(), loadJobs(), loadUpcoming()]);
  listen();
  document.body.dataset.ready = "1";
}

document.addEventListener("DOMContentLoaded", () => start().catch(report));
