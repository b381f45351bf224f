// /timelapse: SE attention over time. The shipped positions (trainer/timelapse.py) as each checkpoint
// the trainer saved saw them (GET /api/timelapse/{run}; the live run by default, `?run=` for another):
// pick a position, step or play through the checkpoints, and the board shows that checkpoint's
// SE-weighted activation map, top five moves and value. Every number is the trainer's.
import { createBoard } from "../widgets/board.js";
import { fetchJson } from "../archive.js";

const $ = (id) => document.getElementById(id);
const STEP_MS = 900;
const state = { frames: [], key: null, index: 0, timer: null };
let board = null;

/** The caption for frame `f` of `n`: which checkpoint the maps are from. */
export function updateLine(f, index, n) {
  return `Update ${f.update} (${f.samples.toLocaleString("en-US")} samples): checkpoint ${index + 1} of ${n}`;
}

function goTo(index) {
  const n = state.frames.length;
  state.index = Math.max(0, Math.min(n - 1, index));
  const f = state.frames[state.index];
  const p = f.positions.find((x) => x.key === state.key);
  $("scrubber").value = String(state.index);
  $("update-text").textContent = p ? updateLine(f, state.index, n) : `Update ${f.update}: this checkpoint did not see this position`;
  board.showPosition(p ? p.sfen : null, p ? p.insight : null);
}

function play() {
  if (state.timer) { clearInterval(state.timer); state.timer = null; $("play").textContent = "Play"; return; }
  if (state.index >= state.frames.length - 1) goTo(0);
  $("play").textContent = "Pause";
  state.timer = setInterval(() => {
    if (state.index >= state.frames.length - 1) { play(); return; }
    goTo(state.index + 1);
  }, STEP_MS);
}

async function main() {
  const wanted = new URLSearchParams(location.search).get("run") || "current";
  let data;
  try {
    data = await fetchJson(`/api/timelapse/${encodeURIComponent(wanted)}`);
  } catch (error) {
    $("summary").textContent = error.message;
    $("none").hidden = false;
    return;
  }
  state.frames = data.frames;
  const first = data.frames[0], last = data.frames[data.frames.length - 1];
  $("summary").textContent = `${data.frames.length} checkpoints of run ${data.run_id}, updates ${first.update} to ${last.update}.`;
  const positions = last.positions;
  const pick = $("pick");
  pick.replaceChildren(...positions.map((p) => new Option(p.title, p.key)));
  const key = new URLSearchParams(location.search).get("position");
  state.key = positions.some((p) => p.key === key) ? key : positions[0].key;
  pick.value = state.key;
  pick.addEventListener("change", () => { state.key = pick.value; goTo(state.index); });
  $("scrubber").max = String(data.frames.length - 1);
  $("scrubber").addEventListener("input", (e) => goTo(Number(e.target.value)));
  $("play").addEventListener("click", play);
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "SELECT") return;
    const to = { ArrowLeft: state.index - 1, ArrowRight: state.index + 1, Home: 0, End: state.frames.length - 1 }[e.key];
    if (to !== undefined) { e.preventDefault(); goTo(to); }
  });
  $("main").hidden = false;
  board = createBoard($("board-widget"), { mapName: "se_attention_mean" });
  window.showcase = { frames: state.frames, goTo, state };
  goTo(state.frames.length - 1);
}

main();
