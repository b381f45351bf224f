// /gae: GAE step by step. One traced self-play training game (GET /api/gae/{id}, the newest by
// default, `?id=` for another): the board before each ply, a strip chart of the numbers PPO's update saw
// (reward, value, TD error, advantage, value target), and the two formulas with that ply's numbers filled
// in. Nothing is recomputed here: every number shown is the trainer's, as it sent it.
import uPlot from "/vendor/uplot/uPlot.esm.js";
import { createBoard } from "../widgets/board.js";
import { axis } from "../params.js";
import { fetchJson } from "../archive.js";
import { scheduleDraw } from "../frame.js";
import { xMarker } from "../charts.js";

const $ = (id) => document.getElementById(id);
const state = { trace: null, index: 0, drawn: null };
let board = null;
let plot = null;
let scheduled = false;

const SERIES = [
  ["reward", "reward r", "#f0b429"],
  ["value", "value V(s)", "#4ea1ff"],
  ["delta", "TD error", "#e0604f"],
  ["advantage", "advantage A", "#8fd16a"],
  ["return", "value target", "#c792ea"],
];

/** Four significant figures, signed, the way the formula shows a number. */
export function num(x) {
  if (x === 0) return "0";
  const text = Number(x).toPrecision(4);
  return text.includes("e") ? text : String(Number(text));
}

/** The formula lines for one row of a trace (the numbers are the row's own). */
export function formulaLines(row, next, gamma, lambda) {
  const side = row.mover === "black" ? "Black" : "White";
  const notTerminal = row.terminated ? 0 : 1;
  const shaping = row.potential !== 0 || row.next_potential !== 0;
  const lines = [
    `Ply ${row.ply}: ${side} plays ${row.usi} (update ${row.update}, step ${row.step} of its rollout)`,
    `reward r = ${num(row.reward)}` + (shaping
      ? `  (the game's result${row.terminated ? "" : " (0: not over)"} + shaping γ·s·φ(s') − φ(s) with φ(s) = ${num(row.potential)}, φ(s') = ${num(row.next_potential)})`
      : ""),
    `TD error δ = r + γ · s · V(s') · (1 − terminated) − V(s)`
      + ` = ${num(row.reward)} + ${gamma} × (${row.next_sign}) × ${num(row.next_value)} × ${notTerminal} − (${num(row.value)}) = ${num(row.delta)}`,
  ];
  if (row.terminated || row.truncated) {
    lines.push(`advantage A = δ = ${num(row.advantage)}  (the game ended here: nothing follows)`);
  } else if (row.segment_end) {
    lines.push(`advantage A = δ = ${num(row.advantage)}  (the rollout ended here: V(s') stood in for the rest, the next update went on)`);
  } else {
    lines.push(`advantage A = δ + γ · λ · s · A' = ${num(row.delta)} + ${gamma} × ${lambda} × (${row.next_sign}) × ${num(next.advantage)} = ${num(row.advantage)}`);
  }
  lines.push(`value target = A + V(s) = ${num(row.advantage)} + (${num(row.value)}) = ${num(row.return)}`);
  return lines;
}

function boardMoves(trace, index) {
  // The board widget reads the wire's move shape: the position after each played move.
  const rows = trace.rows;
  const played = [];
  for (let i = 0; i < index; i += 1) {
    const after = i + 1 < rows.length ? rows[i + 1].sfen : trace.final_sfen;
    played.push({ ply: rows[i].ply, sfen_before: rows[i].sfen, sfen_after: after, move: { usi: rows[i].usi }, insight: null });
  }
  return played;
}

function draw() {
  scheduled = false;
  const trace = state.trace;
  const i = state.index;
  if (i === state.drawn) return;
  const row = trace.rows[i];
  const lines = formulaLines(row, trace.rows[i + 1], trace.gamma, trace.gae_lambda);
  $("formula").replaceChildren(...lines.map((text) => {
    const div = document.createElement("div");
    div.className = "gae-line";
    div.textContent = text;
    return div;
  }));
  $("scrubber").value = String(row.ply);
  $("ply-text").textContent = `ply ${row.ply} of ${trace.plies}`;
  document.body.dataset.ply = String(row.ply);
  state.drawn = i;
  plot.redraw(false, false);
}

function goTo(index) {
  const trace = state.trace;
  state.index = Math.max(0, Math.min(trace.rows.length - 1, index));
  board.showGame({ start_sfen: trace.start_sfen }, boardMoves(trace, state.index));  // the position before the ply
  if (!scheduled) {
    scheduled = true;
    scheduleDraw(draw);
  }
}

function buildChart(trace) {
  const xs = trace.rows.map((r) => r.ply);
  const colour = getComputedStyle(document.documentElement).getPropertyValue("--played").trim();
  const marker = xMarker(colour, () => trace.rows[state.drawn ?? 0].ply);  // the ply on the board
  plot = new uPlot(
    {
      width: 720, height: 240, cursor: { y: false, drag: { x: false } },
      scales: { x: { time: false } },
      axes: [axis({ size: 24, font: "11px sans-serif" }), axis({ size: 48, font: "11px sans-serif" })],
      series: [{ label: "ply" }, ...SERIES.map(([, label, stroke]) => ({ label, stroke, width: 1.5 }))],
      hooks: { draw: [marker] },
    },
    [xs, ...SERIES.map(([key]) => trace.rows.map((r) => r[key]))],
    $("chart"),
  );
  plot.over.addEventListener("click", (event) => {
    const ply = Math.round(plot.posToVal(event.offsetX, "x"));
    goTo(trace.rows.findIndex((r) => r.ply >= ply));
  });
}

const KEYS = { ArrowLeft: (i) => i - 1, ArrowRight: (i) => i + 1, Home: () => 0, End: () => Infinity };

function wire(trace) {
  $("scrubber").min = String(trace.rows[0].ply);
  $("scrubber").max = String(trace.rows.at(-1).ply);
  $("scrubber").addEventListener("input", (event) => goTo(trace.rows.findIndex((r) => r.ply >= Number(event.target.value))));
  document.addEventListener("keydown", (event) => {
    const step = KEYS[event.key];
    if (!step || event.altKey || event.ctrlKey || event.metaKey || event.target.tagName === "SELECT") return;
    event.preventDefault();
    goTo(step(state.index));
  });
}

function resultText(trace) {
  const who = trace.result === "draw" ? "a draw" : `${trace.result === "black" ? "Black" : "White"} won`;
  return `${who} (${trace.reason})`;
}

async function main() {
  let list;
  try {
    list = (await fetchJson("/api/gae")).traces;
  } catch (error) {
    $("summary").textContent = `GET /api/gae failed: ${error.message}`;
    return;
  }
  if (!list.length) {
    $("summary").textContent = "";
    $("none").hidden = false;
    return;
  }
  const wanted = new URLSearchParams(location.search).get("id");
  const id = list.some((t) => t.trace_id === wanted) ? wanted : list[0].trace_id;
  const pick = $("pick");
  pick.replaceChildren(...list.map((t) => new Option(`updates ${t.first_update}-${t.last_update}, ${t.plies} plies`, t.trace_id)));
  pick.value = id;
  pick.parentElement.hidden = list.length < 2;
  pick.addEventListener("change", () => { location.search = `?id=${encodeURIComponent(pick.value)}`; });
  let trace;
  try {
    trace = await fetchJson(`/api/gae/${encodeURIComponent(id)}`);
  } catch (error) {
    $("summary").textContent = `GET /api/gae/${id} failed: ${error.message}`;
    return;
  }
  state.trace = trace;
  $("summary").textContent = `A self-play training game of ${trace.plies} plies, ${resultText(trace)}, in the rollouts of`
    + ` updates ${trace.first_update} to ${trace.last_update}; γ = ${trace.gamma}, λ = ${trace.gae_lambda}.`
    + " s = −1 where the opponent moves next (its value enters negated).";
  $("main").hidden = false;
  board = createBoard($("board-widget"));
  buildChart(trace);
  wire(trace);
  window.showcase = { trace, goTo };
  goTo(0);
}

main();
