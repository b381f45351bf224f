// /replays: the archive, newest first, filtered by kind and result, paged on with the API's cursor.
// The filters live in the query string so a reload or a shared link shows the same list.
import "../params.js";  // the theme (`?theme=`) the replay pages share with the overlays
import { fetchJson, resultText, themed, timeText } from "../archive.js";

const form = document.getElementById("filters");
const tbody = document.querySelector("#games tbody");
const note = document.getElementById("note");
const older = document.getElementById("older");
const query = new URLSearchParams(location.search);  // as the page was opened
const limit = Math.min(200, Math.max(1, Number(query.get("limit")) || 50));
const state = { cursor: null, generation: 0 };

function filters() {
  const params = new URLSearchParams();
  for (const name of ["kind", "result"]) {
    if (form.elements[name].value) params.set(name, form.elements[name].value);
  }
  return params;
}

function cell(row, text) {
  const td = row.insertCell();
  td.textContent = text;  // API strings are text, never markup
  return td;
}

function gameRow(game) {
  const row = document.createElement("tr");
  row.dataset.id = game.id;
  cell(row, timeText(game.started_at));
  cell(row, game.kind);
  cell(row, game.black).className = "player";
  cell(row, game.white).className = "player";
  cell(row, resultText(game.result));
  cell(row, game.reason ?? "");
  cell(row, String(game.plies)).className = "num";
  const link = document.createElement("a");
  link.href = themed(`/replays/${encodeURIComponent(game.id)}`);
  link.textContent = "replay";
  cell(row, "").append(link);
  return row;
}

function say(text) {
  note.textContent = text;
  note.hidden = text === "";
}

async function loadPage() {
  // A filter change while a page is on its way makes that page stale: drop it when it lands.
  const generation = state.generation;
  const params = filters();
  params.set("limit", String(limit));
  if (state.cursor) params.set("cursor", state.cursor);
  older.disabled = true;
  try {
    const page = await fetchJson(`/api/games?${params}`);
    if (generation !== state.generation) return;
    tbody.append(...page.games.map(gameRow));
    state.cursor = page.next_cursor;
    older.hidden = page.next_cursor === null;
    const none = filters().size ? "No games match these filters." : "No games recorded yet.";
    say(tbody.rows.length ? "" : none);
  } catch (error) {
    if (generation === state.generation) say(`Could not load the games: ${error.message}`);
  } finally {
    older.disabled = false;
  }
}

function restart() {
  state.generation += 1;
  state.cursor = null;
  tbody.replaceChildren();
  older.hidden = true;
  say("");
  // The address keeps every other parameter (`?theme=`, `?limit=`); only the filters change.
  const address = new URLSearchParams(location.search);
  for (const name of ["kind", "result"]) {
    if (form.elements[name].value) address.set(name, form.elements[name].value);
    else address.delete(name);
  }
  history.replaceState(null, "", address.size ? `?${address}` : location.pathname);
  loadPage();
}

for (const name of ["kind", "result"]) form.elements[name].value = query.get(name) ?? "";
form.addEventListener("change", restart);
older.addEventListener("click", loadPage);
loadPage();
