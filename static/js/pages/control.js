// The control room (/): every widget on one socket, plus the streamer's controls. The admin token is
// asked once (or taken from `?token=` in the link the server prints, then removed from the address)
// and kept in this browser's localStorage; every control is a REST call that carries it.
import { runPage } from "./run.js";
import { createBoard, mapFromQuery } from "../widgets/board.js";
import { createMoves } from "../widgets/moves.js";
import { createHealth } from "../widgets/health.js";
import { createProgress } from "../widgets/progress.js";
import { createPoll } from "../widgets/poll.js";
import { createLeaderboard } from "../widgets/leaderboard.js";
import { createScorecard } from "../widgets/scorecard.js";
import { createKnobs } from "../widgets/knobs.js";

const KEY = "shogi-showcase-admin-token";
const $ = (id) => document.getElementById(id);

function takeTokenFromAddress() {
  const url = new URL(location.href);
  const token = url.searchParams.get("token");
  if (token) {
    localStorage.setItem(KEY, token);
    url.searchParams.delete("token");
    history.replaceState(null, "", url);  // keep the token out of the address bar and history
  }
}

function showTokenForm(show) {
  $("token-panel").hidden = !show;
}

function log(text, error = false) {
  const li = document.createElement("li");
  li.className = error ? "error" : "";
  const at = document.createElement("span");
  at.className = "at";
  at.textContent = new Date().toLocaleTimeString();
  li.append(at, document.createTextNode(text));
  const list = $("log");
  list.prepend(li);
  while (list.children.length > 30) list.lastChild.remove();
}

/** One admin REST call; the outcome (or the server's reason) goes to the results list. */
async function call(method, path, body, describe) {
  const token = localStorage.getItem(KEY);
  if (!token) {
    showTokenForm(true);
    log("enter the admin token first", true);
    return null;
  }
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (err) {
    log(`${path}: the server did not answer (${err.message})`, true);
    return null;
  }
  let data = null;
  try { data = await response.json(); } catch { /* no body */ }
  if (response.status === 401) {
    localStorage.removeItem(KEY);
    showTokenForm(true);
    log("the server refused the admin token: enter it again", true);
    return null;
  }
  if (!response.ok) {
    const detail = data && data.detail ? (typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail)) : response.statusText;
    log(`${describe}: ${detail}`, true);
    return null;
  }
  log(`${describe}: done`);
  return data;
}

function wire() {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = event.target.token.value.trim();
    if (!token) return;
    localStorage.setItem(KEY, token);
    event.target.reset();
    showTokenForm(false);
    log("admin token saved in this browser");
  });
  $("forget-token").addEventListener("click", () => {
    localStorage.removeItem(KEY);
    showTokenForm(true);
    log("admin token forgotten");
  });
  document.querySelectorAll("[data-action]").forEach((button) => {
    button.addEventListener("click", () => call("POST", `/api/control/${button.dataset.action}`, null, button.textContent));
  });
  const setSpeed = (seconds) => call("PUT", "/api/control/speed", { seconds }, `speed ${seconds} s per move`);
  $("speed-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setSpeed(Number(event.target.seconds.value));
  });
  document.querySelectorAll("[data-speed]").forEach((button) => {
    button.addEventListener("click", () => {
      $("speed-form").seconds.value = button.dataset.speed;
      setSpeed(Number(button.dataset.speed));
    });
  });
  $("predict-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const raw = event.target.window_s.value;
    call("POST", "/api/polls", { kind: "predict", ...(raw ? { window_s: Number(raw) } : {}) }, "predict round");
  });
  document.querySelectorAll("[data-strategy]").forEach((button) => {
    button.addEventListener("click", () => call("POST", "/api/polls", { kind: "strategy", topic: button.dataset.strategy }, button.textContent));
  });
  document.querySelectorAll("[data-poll]").forEach((button) => {
    button.addEventListener("click", () => call("POST", `/api/polls/current/${button.dataset.poll}`, null, button.textContent));
  });
  $("match-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const opponent = event.target.opponent.value;
    if (!opponent) { log("no opponent chosen: the trainer lists them once it is connected", true); return; }
    call("POST", "/api/matches", { opponent }, `match against ${event.target.opponent.selectedOptions[0].textContent}`);
  });
  $("knob-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    if (!form.knob.value || form.value.value === "") { log("choose a knob and a value", true); return; }
    call("POST", "/api/knobs", { knob: form.knob.value, value: Number(form.value.value) },
      `${form.knob.selectedOptions[0].textContent}: set ${form.value.value}`);
  });
  $("knob-challenge").addEventListener("click", () => {
    const knob = $("knob-name").value;
    if (!knob) { log("no knob chosen: the trainer lists them once it is connected", true); return; }
    call("POST", "/api/polls", { kind: "strategy", topic: "knob", knob }, `challenge chat on ${knob}`);
  });
  $("chat-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const text = form.text.value;
    const data = await call("POST", "/api/chat", { user: form.user.value, text }, `chat "${text}"`);
    if (data && data.reply) log(`reply to ${form.user.value}: ${data.reply}`);
    if (data) form.text.value = "";
  });
}

/** The match opponents the trainer offers (each status), as the match form's choices. */
function matchChoices() {
  const select = $("match-opponent");
  let shown = "";
  const fill = (opponents) => {
    const key = opponents.map((o) => `${o.id}:${o.elo}`).join("|");
    if (key === shown) return;
    shown = key;
    const keep = select.value;
    select.replaceChildren(...opponents.map((o) => {
      const option = document.createElement("option");
      option.value = o.id;
      option.textContent = `${o.name} (Elo ${o.elo === null ? "none" : Math.round(o.elo)})`;
      return option;
    }));
    if (opponents.some((o) => o.id === keep)) select.value = keep;
  };
  return {
    fromSnapshot(metrics, snapshot) { if (snapshot.status) fill(snapshot.status.opponents || []); },
    onStatus(d) { fill(d.opponents || []); },
  };
}

/** The knobs the trainer offers (each status), as the knob form's choices with their bounds. */
function knobChoices() {
  const select = $("knob-name");
  const input = $("knob-value");
  let shown = "";
  let offered = [];
  const bounds = () => {
    const k = offered.find((o) => o.name === select.value);
    input.min = k ? String(k.low) : "";
    input.max = k ? String(k.high) : "";
    input.placeholder = k ? `now ${k.value}` : "";
  };
  select.addEventListener("change", bounds);
  const fill = (knobs) => {
    offered = knobs;
    const key = knobs.map((k) => `${k.name}:${k.value}:${k.low}:${k.high}`).join("|");
    if (key === shown) return;
    shown = key;
    const keep = select.value;
    select.replaceChildren(...knobs.map((k) => {
      const option = document.createElement("option");
      option.value = k.name;
      option.textContent = `${k.label} (${k.low} to ${k.high})`;
      return option;
    }));
    if (knobs.some((k) => k.name === keep)) select.value = keep;
    bounds();
  };
  return {
    fromSnapshot(metrics, snapshot) { if (snapshot.status) fill(snapshot.status.knobs || []); },
    onStatus(d) { fill(d.knobs || []); },
  };
}

/** The trainer's own report (each update): what it is doing and what the showcase game is doing. */
function trainerLine() {
  const el = $("trainer-line");
  return {
    onStatus(d) {
      el.textContent = `trainer ${d.state}, update ${d.update}, ${d.samples.toLocaleString()} samples;`
        + ` showcase ${d.showcase}, ${d.move_interval_s} s per move`
        + (d.network ? `; network ${d.network}` : "");
    },
    onTrainerStatus(d) {
      if (!d.connected) el.textContent = "no trainer connected";
    },
  };
}

const MB = 1024 * 1024;

/** The archive's size and what retention last did, from /healthz (every 30 s: it changes slowly). */
export function archiveText(archive) {
  if (!archive || archive.error) return `archive: unreadable (${archive ? archive.error : "no answer"})`;
  const games = Object.values(archive.games).reduce((a, b) => a + b, 0);
  const r = archive.retention;
  const limit = r.max_bytes ? ` of ${(r.max_bytes / MB).toFixed(0)} MB` : "";
  const last = r.last_pass;
  const deleted = last && Object.keys(last.deleted).length
    ? `; last retention deleted ${Object.entries(last.deleted).map(([k, n]) => `${n} ${k}`).join(", ")}`
    : "";
  return `archive: ${(archive.bytes / MB).toFixed(1)} MB in use${limit}, ${games.toLocaleString()} games, ` +
    `${archive.moves.toLocaleString()} moves${deleted}` + (last && last.over_limit ? " (over the limit!)" : "");
}

// The web tier from /healthz's `bus`: one process, or the stream through Redis to viewer workers.
function busText(bus) {
  if (!bus || bus.configured === false) return "web tier: one process (python -m server up --workers N for more)";
  const lost = bus.dropped ? `, ${bus.dropped.toLocaleString()} not relayed` : "";
  return `web tier: Redis ${bus.state}, ${bus.sent.toLocaleString()} messages relayed to viewer workers${lost}, ` +
    `${bus.snapshots_sent.toLocaleString()} snapshots`;
}

async function refreshArchive() {
  const el = $("archive-line");
  try {
    const response = await fetch("/healthz");
    const health = await response.json();
    el.textContent = archiveText(health.archive);
    $("bus-line").textContent = busText(health.bus);
  } catch (err) {
    el.textContent = `archive: /healthz did not answer (${err.message})`;
  }
}

takeTokenFromAddress();
refreshArchive();
setInterval(refreshArchive, 30000);
showTokenForm(!localStorage.getItem(KEY));
wire();
runPage([
  createBoard($("board-widget"), { mapName: mapFromQuery() }),
  createMoves($("moves-widget")),
  createHealth($("health-widget")),
  createProgress($("progress-widget")),
  createPoll($("poll-widget")),
  createLeaderboard($("leaderboard-widget")),
  createScorecard($("scorecard-widget")),
  createKnobs($("knobs-widget"), {
    onRevert: (changeId) => call("POST", "/api/knobs/revert", { change_id: changeId }, `revert change ${changeId}`),
  }),
  trainerLine(),
  matchChoices(),
  knobChoices(),
]);
