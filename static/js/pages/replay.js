// /replays/{id}: one archived game. The board and moves widgets show the game up to the scrubbed ply
// (the same insight the overlay showed for that move), an evaluation graph covers the whole game, and
// the scrubber, the keyboard, the move list and the graph all move the same `state.index`. Our own DOM
// is drawn at most once per animation frame; the widgets batch their drawing the same way.
import uPlot from "/vendor/uplot/uPlot.esm.js";
import { createBoard, MAPS, mapFromQuery } from "../widgets/board.js";
import { createMoves } from "../widgets/moves.js";
import { axis, palette } from "../params.js";
import { fetchJson, resultText, themed, timeText } from "../archive.js";
import { scheduleDraw } from "../frame.js";
import { xMarker } from "../charts.js";

const $ = (id) => document.getElementById(id);
const gameId = decodeURIComponent(location.pathname.split("/").pop());
// index: how many of the game's moves are on the board (0: the start position); drawn: the index our
// own DOM shows. The ply number is `plyAt(index)`.
const state = { game: null, moves: [], index: 0, drawn: null };
let boardWidget = null;
let movesWidget = null;
let plot = null;
let scheduled = false;

/** Archive rows carry the move's names flat; the widgets read the wire's `move {usi, western, japanese}`. */
function wireMove(row) {
  return { ...row, move: { usi: row.usi, western: row.western, japanese: row.japanese } };
}

function showHeader(game) {
  document.querySelector("a.back").href = themed("/replays");
  document.title = `Shogi Showcase: replay ${game.id}`;
  $("title").textContent = `${game.black} (Black) vs ${game.white} (White)`;
  $("summary").textContent =
    `${game.kind} game, started ${timeText(game.started_at)}, weights version ${game.weights_version}, ${game.plies} plies`;
  const reason = game.reason ? ` (${game.reason})` : "";
  $("outcome").textContent = game.result === null
    ? "Not finished when this page was loaded."
    : `Result: ${resultText(game.result)}${reason}`;
  for (const link of $("exports").querySelectorAll("a")) {
    link.href = `/api/games/${encodeURIComponent(game.id)}/export?format=${link.dataset.format}`;
  }
  $("exports").hidden = false;
}

/** The ply number after `index` moves (the same unless the archive lost a move). */
function plyAt(index) {
  return index === 0 ? 0 : state.moves[index - 1].ply;
}

function moveButton(index, text, hasInsight) {
  const li = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.dataset.index = String(index);
  button.textContent = text;
  button.classList.toggle("no-insight", !hasInsight);
  li.append(button);
  return li;
}

function buildMoveList() {
  $("move-list").replaceChildren(
    moveButton(0, "start position", true),
    ...state.moves.map((m, i) => moveButton(i + 1, `${m.ply}. ${m.move.japanese} ${m.move.western}`, m.insight !== null)),
  );
}

function buildGraph() {
  const xs = state.moves.map((m) => m.ply);
  const ys = state.moves.map((m) => (m.insight ? m.insight.black_win : null));  // null: a gap, never a guess
  if (ys.every((y) => y === null)) {
    $("graph-note").textContent = "No move of this game has recorded insight, so there is no evaluation to plot.";
    $("graph-note").hidden = false;
  }
  const markColour = getComputedStyle(document.documentElement).getPropertyValue("--played").trim();
  const markPly = xMarker(markColour, () => plyAt(state.drawn ?? 0));  // the scrubbed ply as a vertical line
  plot = new uPlot(
    {
      width: 520, height: 170, legend: { show: false }, cursor: { y: false, points: { show: false }, drag: { x: false } },
      scales: { x: { time: false, range: [0, Math.max(1, state.game.plies, xs.at(-1) ?? 0)] }, y: { range: [0, 1] } },
      axes: [axis({ size: 24, font: "11px sans-serif" }), axis({ size: 44, font: "11px sans-serif", values: (u, v) => v.map((x) => `${Math.round(x * 100)}%`) })],
      // Points as well as the line: a move with insight between two without is otherwise invisible.
      series: [{}, { label: "Black's chance", stroke: palette.ink, width: 2, spanGaps: false, points: { show: true, size: 4, fill: palette.ink } }],
      hooks: { draw: [markPly] },
    },
    [xs, ys],
    $("graph"),
  );
  plot.over.addEventListener("click", (event) => {
    const ply = plot.posToVal(event.offsetX, "x");
    goTo(state.moves.filter((m) => m.ply <= ply + 0.5).length);
  });
}

function insightText(index) {
  if (index === 0) return "The start position.";
  const m = state.moves[index - 1];
  if (m.insight === null) return `No insight was recorded for move ${m.ply} (${m.move.western}): no top moves, no value, no maps.`;
  const win = (m.insight.black_win * 100).toFixed(1);
  return `Move ${m.ply}: Black's winning chance ${win}% (value ${m.insight.value.toFixed(3)} for the side that moved), ` +
    `${m.insight.phase}. The arrows and the heatmap are the network's view of the position before this move.`;
}

function draw() {
  scheduled = false;
  const index = state.index;
  if (index === state.drawn) return;
  const list = $("move-list");
  list.querySelector("button.current")?.classList.remove("current");
  const current = list.querySelector(`button[data-index="${index}"]`);
  current.classList.add("current");
  // Scroll the list itself, never the page: keep the current move in view.
  const li = current.parentElement;
  if (li.offsetTop < list.scrollTop) list.scrollTop = li.offsetTop;
  else if (li.offsetTop + li.offsetHeight > list.scrollTop + list.clientHeight) list.scrollTop = li.offsetTop + li.offsetHeight - list.clientHeight;
  $("scrubber").value = String(index);
  const ply = plyAt(index);
  $("ply-text").textContent = `ply ${ply} of ${state.game.plies}`;
  $("insight-note").textContent = insightText(index);
  document.body.dataset.ply = String(ply);
  state.drawn = index;
  plot.redraw(false, false);
  history.replaceState(null, "", `${location.pathname}${location.search}#ply=${ply}`);
}

/** Go to the position after `index` moves (0: the start); everything redraws on the next frame. */
function goTo(index) {
  state.index = Math.max(0, Math.min(state.moves.length, index));
  const played = state.moves.slice(0, state.index);
  boardWidget.showGame(state.game, played);
  movesWidget.showGame(state.game, played);
  if (!scheduled) {
    scheduled = true;
    scheduleDraw(draw);
  }
}

const KEYS = { ArrowLeft: (i) => i - 1, ArrowRight: (i) => i + 1, Home: () => 0, End: () => Infinity };

function onKey(event) {
  const step = KEYS[event.key];
  if (!step || event.altKey || event.ctrlKey || event.metaKey || event.target.tagName === "SELECT") return;
  event.preventDefault();  // also stops the focused range input from stepping a second time
  goTo(step(state.index));
}

function wireControls() {
  const select = $("map");
  select.replaceChildren(...Object.entries(MAPS).map(([name, text]) => new Option(text, name)));
  select.value = boardWidget.state.mapName;
  select.addEventListener("change", () => {
    boardWidget.state.mapName = select.value;  // the widget's state is a plain object: set it, redraw
    goTo(state.index);
    const query = new URLSearchParams(location.search);
    query.set("map", select.value);  // a reload or a shared link keeps the map
    history.replaceState(null, "", `${location.pathname}?${query}${location.hash}`);
  });
  $("scrubber").max = String(state.moves.length);
  $("scrubber").addEventListener("input", (event) => goTo(Number(event.target.value)));
  $("move-list").addEventListener("click", (event) => {
    const index = event.target.closest("button")?.dataset.index;
    if (index !== undefined) goTo(Number(index));
  });
  document.addEventListener("keydown", onKey);
}

/** `#ply=N` in the address opens the game there; without it the replay opens at the end. */
function startIndex() {
  const ply = Number(new URLSearchParams(location.hash.slice(1)).get("ply"));
  if (!location.hash.includes("ply=") || !Number.isInteger(ply)) return state.moves.length;
  return state.moves.filter((m) => m.ply <= ply).length;
}

function showError(error) {
  $("title").textContent = error.status === 404 ? "No such game" : "Cannot show this replay";
  $("error").textContent = error.status === 404
    ? `There is no game with the id "${gameId}" in the archive (the server said: ${error.message}).`
    : `Loading game "${gameId}" failed: ${error.message}`;
  $("error").hidden = false;
}

async function main() {
  let game;
  try {
    game = await fetchJson(`/api/games/${encodeURIComponent(gameId)}`);
  } catch (error) {
    showError(error);
    return;
  }
  state.game = game;
  state.moves = game.moves.map(wireMove);
  showHeader(game);
  $("replay").hidden = false;  // shown before the widgets are built, so they measure a laid-out page
  boardWidget = createBoard($("board-widget"), { mapName: mapFromQuery() });
  movesWidget = createMoves($("moves-widget"));
  buildMoveList();
  buildGraph();
  wireControls();
  goTo(startIndex());
}

main();
