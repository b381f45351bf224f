// Style panel: how often the AI built each castle and which rook placement it chose, by training
// stage (ranges of updates), over this run's finished showcase games (GET /api/style; the rules are
// in server/style.py). Each cell is the share of the AI's sides (both sides of a self-play game, its
// own side in a match) that did it, with the count. Read at the start and after each showcase game.
import { scheduleDraw } from "../frame.js";

const MARKUP = `
<div class="st-head">Style by training stage</div>
<table hidden><thead><tr><th></th></tr></thead><tbody></tbody></table>
<div class="st-note"></div>
<div class="st-empty">No finished showcase games in this run yet: no style to show</div>
`;

async function getJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

/** "37% (11)": the share of `sides` that did it and the count; "none" without sides. */
export function cell(count, sides) {
  if (!sides) return "none";
  return `${Math.round((100 * count) / sides)}% (${count})`;
}

function tr(cells, tag = "td") {
  const row = document.createElement("tr");
  for (const [text, cls] of cells) {
    const c = document.createElement(tag);
    c.textContent = text;
    if (cls) c.className = cls;
    row.append(c);
  }
  return row;
}

export function createStyle(root, { fetchJson = getJson } = {}) {
  root.classList.add("style-widget");
  root.innerHTML = MARKUP;
  const table = root.querySelector("table");
  const head = root.querySelector("thead");
  const body = root.querySelector("tbody");
  const note = root.querySelector(".st-note");
  const empty = root.querySelector(".st-empty");
  const state = { runId: null, data: null, visible: true, fetched: 0, error: null };
  let scheduled = false;

  function draw() {
    scheduled = false;
    if (!state.visible) return;
    const d = state.data;
    const stages = d ? d.stages : [];
    table.hidden = stages.length === 0;
    empty.hidden = stages.length > 0;
    empty.textContent = state.error || "No finished showcase games in this run yet: no style to show";
    if (!stages.length) { note.textContent = ""; return; }
    head.replaceChildren(tr([["", "st-name"], ...stages.map((s) => [s.from_update === s.to_update ? `update ${s.from_update}` : `updates ${s.from_update}-${s.to_update}`])], "th"));
    const rows = [tr([["AI sides (games)", "st-name"], ...stages.map((s) => [`${s.sides} (${s.games})`])])];
    rows.push(tr([["Castles", "st-group"], ...stages.map(() => [""])]));
    for (const name of d.castle_names) rows.push(tr([[name, "st-name"], ...stages.map((s) => [cell(s.castles[name], s.sides)])]));
    rows.push(tr([["no castle", "st-name"], ...stages.map((s) => [cell(s.no_castle, s.sides)])]));
    rows.push(tr([["Rook", "st-group"], ...stages.map(() => [""])]));
    for (const name of d.rook_names) rows.push(tr([[name, "st-name"], ...stages.map((s) => [cell(s.rooks[name], s.sides)])]));
    body.replaceChildren(...rows);
    note.textContent = `${d.games} games; castles in the first ${d.opening_plies} plies, rook placement in the first ${d.rook_plies}`;
  }

  function schedule() {
    if (!scheduled) { scheduled = true; scheduleDraw(draw); }
  }

  async function refresh() {
    if (!state.runId) { schedule(); return; }
    try {
      state.data = await fetchJson(`/api/style?run=${encodeURIComponent(state.runId)}`);
      state.error = null;
      state.fetched += 1;
    } catch (err) {
      state.error = `style: /api/style did not answer (${err.message})`;
    }
    schedule();
  }

  return {
    state,
    fromSnapshot(metrics, snapshot) { state.runId = snapshot.trainer.run_id; refresh(); },
    onTrainerStatus(d) {
      if (d.run_id && d.run_id !== state.runId) { state.runId = d.run_id; refresh(); }
    },
    onGameEnd() { refresh(); },
    setVisible(v) { state.visible = v; if (v) schedule(); },
  };
}
