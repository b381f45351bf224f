// Scorecard: the showcase match on now (both players, their ladder Elo) and this run's head-to-head
// record against every opponent the AI has played a match against, read from the archive
// (GET /api/matches) at the start and after each match game. Names and figures are the trainer's
// and the ladder's; without a match it says the AI is playing itself.
import { scheduleDraw } from "../frame.js";
const ROW = `<tr hidden><td class="sc-who"></td><td class="sc-elo"></td><td class="sc-w"></td><td class="sc-d"></td><td class="sc-l"></td></tr>`;
const MARKUP = `
<div class="sc-head">Matches this run</div>
<div class="sc-now">No match on: the AI is playing itself</div>
<table><thead><tr><th>opponent</th><th>Elo</th><th>AI won</th><th>drawn</th><th>AI lost</th></tr></thead>
<tbody>${ROW.repeat(8)}</tbody></table>
<div class="sc-more" hidden></div>
<div class="sc-empty">No matches played in this run yet</div>
`;

const elo = (x) => (x === null || x === undefined ? "none" : String(Math.round(x)));

/** The line about the match on now, from its game_start (null: the AI plays itself). */
export function nowLine(game) {
  const m = game && game.match;
  if (!m) return "No match on: the AI is playing itself";
  const ai = m.agent === "black" ? "Black" : "White";
  return `Now: the AI (${ai}, ladder Elo ${elo(m.agent_elo)}) vs ${m.opponent_name} (Elo ${elo(m.opponent_elo)})`;
}

async function getJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

export function createScorecard(root, { fetchJson = getJson } = {}) {
  root.classList.add("scorecard-widget");
  root.innerHTML = MARKUP;
  const now = root.querySelector(".sc-now");
  const rows = [...root.querySelectorAll("tbody tr")];
  const table = root.querySelector("table");
  const empty = root.querySelector(".sc-empty");
  const more = root.querySelector(".sc-more");
  const state = { game: null, runId: null, record: [], opponents: {}, visible: true, fetched: 0 };
  let scheduled = false;

  function draw() {
    scheduled = false;
    if (!state.visible) return;
    now.textContent = nowLine(state.game);
    const current = state.game && state.game.match ? state.game.match.opponent : null;
    table.hidden = state.record.length === 0;
    empty.hidden = state.record.length > 0;
    more.hidden = state.record.length <= rows.length;
    more.textContent = `and ${state.record.length - rows.length} more opponents (GET /api/matches)`;
    rows.forEach((tr, i) => {
      const r = state.record[i];
      tr.hidden = !r;
      if (!r) return;
      const offered = state.opponents[r.opponent];
      tr.classList.toggle("current", r.opponent === current);
      tr.querySelector(".sc-who").textContent = r.name;
      tr.querySelector(".sc-elo").textContent = elo(offered ? offered.elo : null);
      tr.querySelector(".sc-w").textContent = String(r.wins);
      tr.querySelector(".sc-d").textContent = String(r.draws);
      tr.querySelector(".sc-l").textContent = String(r.losses);
    });
  }

  function schedule() {
    if (!scheduled) { scheduled = true; scheduleDraw(draw); }
  }

  async function refresh() {
    if (!state.runId) return;
    try {
      const data = await fetchJson(`/api/matches?run=${encodeURIComponent(state.runId)}`);
      state.record = data.record || [];
      for (const o of data.opponents || []) state.opponents[o.id] = o;
      state.fetched += 1;
      schedule();
    } catch (err) {
      now.textContent = `scorecard: /api/matches did not answer (${err.message})`;
    }
  }

  return {
    state,
    showGame(game) { state.game = game; schedule(); },
    fromSnapshot(metrics, snapshot) {
      state.runId = snapshot.trainer.run_id;
      for (const o of (snapshot.status && snapshot.status.opponents) || []) state.opponents[o.id] = o;
      refresh();
    },
    onStatus(d) { for (const o of d.opponents || []) state.opponents[o.id] = o; schedule(); },
    onTrainerStatus(d) {
      if (d.run_id && d.run_id !== state.runId) { state.runId = d.run_id; refresh(); }
    },
    onGameEnd() { if (state.game && state.game.match) refresh(); },
    setVisible(v) { state.visible = v; if (v) schedule(); },
  };
}
