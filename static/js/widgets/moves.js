// Moves and value widget: the network's top-5 for the last move (Japanese and western names, bars by
// probability), the move it chose and how long it thought, Black's winning chance over the game
// (uPlot) from the value head and, as a second line, from the analysis engine, the engine's verdict on
// the last move ("engine: X (AI lost N%)"), and the game phase. DOM is built once and updated in place.
import uPlot from "/vendor/uplot/uPlot.esm.js";
import { rationed } from "../charts.js";
import { axis, palette } from "../params.js";
import { createCaption, signed } from "../captions.js";
import { noAnalysis, verdict } from "../engine.js";
import { scheduleDraw } from "../frame.js";

// The widget's markup, fixed: built once per page, then only updated in place.
const ENGINE_COLOUR = "#f2b705";
const TOP_ROW = `<li hidden><span class="jp"></span><span class="we"></span><span class="track"><span class="bar"></span></span><span class="pct"></span></li>`;
const MARKUP = `
<div class="empty">No move yet</div>
<div class="label">The network's top moves</div>
<ol class="top">
  ${TOP_ROW.repeat(5)}
</ol>
<div class="chosen"></div>
<div class="engine-verdict"></div>
<div class="label">Black's winning chance over the game: <i class="k-ai"></i>value head <i class="k-engine"></i>engine <span class="phase"></span></div>
<div class="timeline"></div>
`;

/** The caption from the last move and what the policy thought of it (or the lack of insight). */
function describe(move, match) {
  if (!move) return { plain: "No move yet", technical: "no move yet" };
  const name = move.move.japanese;
  const p = move.chosen_prob;
  const mover = move.sfen_before.split(" ")[1] === "b" ? "black" : "white";
  if (match && mover !== match.agent) {  // a match opponent's move: not the AI's choice
    return { plain: `${match.opponent_name} played ${name}`, technical: `opponent ${match.opponent}: ${move.move.usi}, no insight` };
  }
  const top = move.insight ? move.insight.top : [];
  const rank = top.findIndex((m) => m.usi === move.move.usi);
  let plain = `The AI played ${name}`;
  if (rank === 0) plain += `, its first choice`;
  else if (rank > 0) plain += `, its choice number ${rank + 1}`;
  else if (move.insight) plain += ", a move outside its top five";
  if (p !== null) plain += ` (it gave it ${Math.round(p * 100)}%)`;
  const mass = top.reduce((sum, m) => sum + m.prob, 0);
  const technical = [
    `π(a|s)=${p === null ? "none" : p.toFixed(3)}`,
    move.insight ? `rank ${rank >= 0 ? rank + 1 : ">5"}, top-${top.length} mass ${mass.toFixed(3)}` : "no insight",
    move.insight ? `V(s)=${signed(move.insight.value)} for the mover, ${move.insight.think_ms.toFixed(0)} ms` : null,
  ].filter(Boolean).join("; ");
  return { plain, technical };
}

export function createMoves(root) {
  root.classList.add("moves-widget");
  root.innerHTML = MARKUP;
  const rows = [...root.querySelectorAll(".top li")];
  const chosen = root.querySelector(".chosen");
  const phase = root.querySelector(".phase");
  const empty = root.querySelector(".empty");
  const plot = new uPlot(
    {
      width: 420, height: 110, legend: { show: false }, cursor: { show: false },
      scales: { x: { time: false }, y: { range: [0, 1] } },
      axes: [axis({ size: 26, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500] }), axis({ size: 44, values: (u, v) => v.map((x) => `${Math.round(x * 100)}%`) })],
      series: [
        {},
        { label: "Black's chance (value head)", stroke: palette.ink, width: 2, spanGaps: false },
        { label: "Black's chance (engine)", stroke: ENGINE_COLOUR, width: 2, dash: [5, 3], spanGaps: false, points: { show: true, size: 4, fill: ENGINE_COLOUR } },
      ],
    },
    [[], [], []],
    root.querySelector(".timeline"),
  );
  const setTimeline = rationed(plot);
  const caption = createCaption(root);
  const verdictEl = root.querySelector(".engine-verdict");
  // engine: ply -> the engine's judgement; engineState: whether there is an engine at all
  const state = { plies: [], blackWin: [], last: null, visible: true, engine: new Map(), engineState: null, match: null };
  let scheduled = false;

  function draw() {
    scheduled = false;
    if (!state.visible) return;
    const move = state.last;
    empty.hidden = move !== null;
    const top = move && move.insight ? move.insight.top : [];
    rows.forEach((li, i) => {
      const m = top[i];
      li.hidden = !m;
      if (!m) return;
      li.querySelector(".jp").textContent = m.japanese;
      li.querySelector(".we").textContent = m.western;
      li.querySelector(".bar").style.width = `${(m.prob * 100).toFixed(1)}%`;
      li.querySelector(".pct").textContent = `${(m.prob * 100).toFixed(1)}%`;
      li.classList.toggle("played", m.usi === move.move.usi);
    });
    if (move) {
      const think = move.insight ? `${move.insight.think_ms.toFixed(0)} ms` : "no insight";
      const prob = move.chosen_prob === null ? "" : `, policy ${(move.chosen_prob * 100).toFixed(1)}%`;
      chosen.textContent = `${move.ply}. ${move.move.japanese}  (${move.move.western}${prob}, ${think})`;
      phase.textContent = move.insight ? move.insight.phase : "";
    } else {  // a new game, or a replay back at its start: nothing of an earlier move stays up
      chosen.textContent = "";
      phase.textContent = "";
    }
    const judged = move ? state.engine.get(move.ply) : null;
    verdictEl.textContent = move ? (judged ? verdict(judged) : noAnalysis(state.engineState)) : "";
    verdictEl.dataset.label = judged ? judged.label : "";
    setTimeline([state.plies, state.blackWin, state.plies.map((p) => state.engine.get(p)?.black_chance_after ?? null)]);
    caption.set(describe(move, state.match));
  }

  function schedule() {
    if (!scheduled) { scheduled = true; scheduleDraw(draw); }
  }

  function add(move) {
    state.last = move;
    if (move.analysis) state.engine.set(move.ply, move.analysis);  // archived moves carry theirs
    state.plies.push(move.ply);
    state.blackWin.push(move.insight ? move.insight.black_win : null);  // a gap, not a made-up value
  }

  return {
    state,
    showGame(game, moves) {
      state.plies = []; state.blackWin = []; state.last = null; state.engine = new Map();
      state.match = (game && game.match) || null;
      for (const m of moves) add(m);
      schedule();
    },
    fromSnapshot(metrics, snapshot) {
      state.engineState = snapshot.engine || null;
      for (const a of snapshot.analyses || []) state.engine.set(a.ply, a);
      schedule();
    },
    playMove(move) { add(move); schedule(); },
    onAnalysis(analysis) { state.engine.set(analysis.ply, analysis); schedule(); },
    onEngineState(engine) { state.engineState = engine; schedule(); },
    setVisible(v) { state.visible = v; if (v) schedule(); },
  };
}
