// Training thumbnails: a sampled handful of the trainer's parallel games as small boards, from each
// `training_games` message (a low, bounded rate set by the trainer), each labelled with who plays and
// showing the result once when its game ends. Boards are plain 9x9 grids of kanji, built once and
// updated cell by cell.
import { createCaption } from "../captions.js";
import { scheduleDraw } from "../frame.js";

const KANJI = { P: "歩", L: "香", N: "桂", S: "銀", G: "金", B: "角", R: "飛", K: "玉",
  "+P": "と", "+L": "杏", "+N": "圭", "+S": "全", "+B": "馬", "+R": "龍" };

/** The 81 cells of an SFEN board, row by row from rank a, file 9 first: null or {piece, gote}. */
export function parseBoard(sfen) {
  const cells = [];
  const board = sfen.split(" ")[0];
  for (const row of board.split("/")) {
    for (let i = 0; i < row.length; i++) {
      const ch = row[i];
      if (/\d/.test(ch)) { for (let k = 0; k < Number(ch); k++) cells.push(null); continue; }
      let piece = ch;
      if (ch === "+") { i++; piece = `+${row[i]}`; }
      const upper = piece.toUpperCase();
      cells.push({ piece: upper, gote: piece !== upper });
    }
  }
  return cells;
}

function who(g) {
  if (g.opponent === "self") return "AI vs itself";
  const side = g.agent === "black" ? "Black" : "White";
  return `AI (${side}) vs ${g.opponent_name}`;
}

function resultText(g) {
  const by = g.reason ? ` (${g.reason.replaceAll("_", " ")})` : "";
  return g.result === "draw" ? `Draw${by}` : `${g.result === "black" ? "Black" : "White"} wins${by}`;
}

const THUMB = `<div class="thumb" hidden><div class="thumb-board">${"<i></i>".repeat(81)}</div>
  <div class="thumb-who"></div><div class="thumb-ply"></div><div class="thumb-result" hidden></div></div>`;

export function createTraining(root, { slots = 6 } = {}) {
  root.classList.add("training-widget");
  root.innerHTML = `<div class="training-head">Training games right now</div>
    <div class="thumbs">${THUMB.repeat(slots)}</div><div class="empty">No training games yet</div>`;
  const thumbs = [...root.querySelectorAll(".thumb")].map((el) => ({
    el, cells: [...el.querySelectorAll(".thumb-board i")], who: el.querySelector(".thumb-who"),
    ply: el.querySelector(".thumb-ply"), result: el.querySelector(".thumb-result"), shown: [],
  }));
  const empty = root.querySelector(".empty");
  const caption = createCaption(root);
  const state = { training: null, connected: false, visible: true };
  let scheduled = false;

  function draw() {
    scheduled = false;
    if (!state.visible) return;
    const games = state.connected && state.training ? state.training.games : [];
    empty.hidden = games.length > 0;
    thumbs.forEach((t, i) => {
      const g = games[i];
      t.el.hidden = !g;
      if (!g) return;
      const cells = parseBoard(g.sfen);
      cells.forEach((c, k) => {
        const key = c ? `${c.gote ? "g" : "s"}${c.piece}` : "";
        if (t.shown[k] === key) return;  // only changed squares are touched
        t.shown[k] = key;
        const cell = t.cells[k];
        cell.textContent = c ? KANJI[c.piece] : "";
        cell.className = c ? `${c.gote ? "gote" : "sente"}${c.piece[0] === "+" ? " promoted" : ""}` : "";
      });
      t.who.textContent = who(g);
      t.ply.textContent = `ply ${g.ply}`;
      t.result.hidden = !g.result;
      t.result.textContent = g.result ? resultText(g) : "";
      t.el.classList.toggle("ended", Boolean(g.result));
    });
    const kinds = new Set(games.map((g) => g.opponent_name));
    caption.set({
      plain: games.length ? `${games.length} of the games the AI is learning from, against ${[...kinds].join(", ")}` : "No training games yet",
      technical: games.length ? `update ${state.training.update}: ${games.length} watched envs (${[...kinds].join(", ")})` : "no training_games message",
    });
  }

  function schedule() {
    if (!scheduled) { scheduled = true; scheduleDraw(draw); }
  }

  return {
    fromSnapshot(metrics, snapshot) { state.connected = snapshot.trainer.connected; state.training = snapshot.training || null; schedule(); },
    onTrainerStatus(d) { state.connected = d.connected; schedule(); },
    onTraining(d) { state.connected = true; state.training = d; schedule(); },
    setVisible(v) { state.visible = v; if (v) schedule(); },
  };
}
