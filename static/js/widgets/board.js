// Board widget: the showcase position (shogiground), the last move, the network's top-5 moves as
// arrows whose width follows their probability, the analysis engine's move for the same position as
// a dashed gold arrow (when it has judged it), a heatmap layer and a value bar from Black's view.
// State is a plain object; drawing happens at most once per animation frame.
import { Shogiground } from "/vendor/shogiground/shogiground.js";
import { createCaption, leaning, signed } from "../captions.js";
import { noAnalysis, verdict } from "../engine.js";
import { scheduleDraw } from "../frame.js";

const RANKS = "abcdefghi";
export const MAPS = {
  se_attention_mean: "SE-weighted activation (mean of blocks)",
  saliency: "Value saliency: where the evaluation is most sensitive",
  policy_mass: "Policy mass: where the network wants to move",
};

/** The heatmap named by `?map=` when it is one we draw, else the SE-weighted activation. */
export function mapFromQuery() {
  const name = new URLSearchParams(location.search).get("map");
  return MAPS[name] ? name : "se_attention_mean";
}

export function squareKey(index) {
  return `${Math.floor(index / 9) + 1}${RANKS[index % 9]}`;
}

// A board move is an arrow; a drop is a circle on its square. (The insight is for the position
// before the last move: a piece dropped then is no longer in hand to draw from.) The labels are ours,
// not shogiground's: placed so that no two overlap (see placeLabels).
function arrowOf(move) {
  const usi = move.usi;
  const dest = usi.slice(2, 4);
  const drop = usi[1] === "*";
  const bucket = Math.min(5, 1 + Math.floor(move.prob * 10));  // width class from the probability
  return { orig: drop ? dest : usi.slice(0, 2), dest, brush: `p${bucket}` };
}

/** Square keys ("7g") of every piece on the board of an SFEN. */
export function occupiedSquares(sfen) {
  if (!sfen) return [];
  const keys = [];
  sfen.split(" ")[0].split("/").forEach((row, r) => {
    let file = 9;
    for (const ch of row) {
      if (/\d/.test(ch)) file -= Number(ch);
      else if (ch !== "+") { keys.push(`${file}${RANKS[r]}`); file -= 1; }
    }
  });
  return keys;
}

function labelOf(move) {
  const pct = `${Math.round(move.prob * 100)}%`;
  return move.usi[1] === "*" ? `${move.usi[0]} ${pct}` : pct;
}

// The heatmap: one 9x9 canvas under the pieces, stretched over the board, instead of 81 class changes.
// Only the HEAT_TOP strongest squares are tinted, at most HEAT_MAX_ALPHA opaque, in a green that no
// piece, arrow or last-move mark uses: every glyph keeps its contrast (a test measures it).
export const HEAT_TOP = 12;
export const HEAT_MAX_ALPHA = 0.3;
const HEAT_RGB = [0, 150, 120];

/** Canvas pixel (x: file 9..1 left to right, y: rank a..i) alpha for each of the 81 map values. */
export function heatAlphas(values) {
  const order = values.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]).slice(0, HEAT_TOP);
  const top = order.length ? order[0][0] : 0;
  const alphas = new Array(81).fill(0);
  if (!(top > 0)) return alphas;
  for (const [v, i] of order) alphas[i] = v > 0 ? HEAT_MAX_ALPHA * Math.min(1, v / top) : 0;
  return alphas;
}

function paintHeat(ctx, image, values) {
  const data = image.data;
  data.fill(0);
  if (values) {
    heatAlphas(values).forEach((a, i) => {
      const px = ((i % 9) * 9 + (8 - Math.floor(i / 9))) * 4;  // row = rank, column = 9 - file
      data[px] = HEAT_RGB[0]; data[px + 1] = HEAT_RGB[1]; data[px + 2] = HEAT_RGB[2];
      data[px + 3] = Math.round(a * 255);
    });
  }
  ctx.putImageData(image, 0, 0);
}

// Square centre in board units (a square is 1 x 1; file 9 is on the left, rank a at the top).
function centre(key) {
  return [9 - Number(key[0]) + 0.5, RANKS.indexOf(key[1]) + 0.5];
}

// Candidate offsets (in label boxes) around the anchor, nearest first: a label moves as little as it
// must to clear the ones already placed and stay on the board.
const OFFSETS = [];
for (let dx = -4; dx <= 4; dx++) for (let dy = -6; dy <= 6; dy++) OFFSETS.push([dx, dy]);
OFFSETS.sort((a, b) => Math.hypot(a[0], a[1] * 0.6) - Math.hypot(b[0], b[1] * 0.6));

/**
 * Boxes for labels `items` ({orig, dest, text}) in pixels of a `width` x `height` board: each starts
 * 55% along its arrow (on the square for a drop) and takes the nearest offset that overlaps no box
 * placed before it (higher probability first), preferring, within two label sizes, a spot that covers
 * no piece's glyph (`occupied`: square keys). Pure: the browser test checks the boxes.
 */
export function placeLabels(items, width, height, box, occupied = []) {
  const sw = width / 9, sh = height / 9;
  const pieces = occupied.map((key) => { const [x, y] = centre(key); return [x * sw, y * sh]; });
  const placed = [];
  const clearOf = (x, y) => placed.every((p) => x + box.w <= p.x || p.x + box.w <= x || y + box.h <= p.y || p.y + box.h <= y);
  // A glyph fills about the middle 64% of its square: a label touching that box hides part of it.
  const gx = 0.32 * sw, gy = 0.32 * sh;
  const hides = (x, y) => pieces.some(([px, py]) => px + gx > x && px - gx < x + box.w && py + gy > y && py - gy < y + box.h);
  return items.map(({ orig, dest }) => {
    const [ox, oy] = centre(orig), [dx, dy] = centre(dest);
    const t = orig === dest ? 0 : 0.55;
    const ax = (ox + (dx - ox) * t) * sw - box.w / 2, ay = (oy + (dy - oy) * t) * sh - box.h / 2;
    let first = null;
    for (const [i, j] of OFFSETS) {
      const x = Math.min(Math.max(ax + i * (box.w * 0.55), 0), width - box.w);
      const y = Math.min(Math.max(ay + j * (box.h * 0.55), 0), height - box.h);
      if (!clearOf(x, y)) continue;
      if (first === null) first = { x, y };
      if (!hides(x, y)) { placed.push({ x, y }); return { x, y }; }
      if (Math.hypot(i, j * 0.6) > 2) break;  // no piece-free spot near: take the nearest clear one
    }
    const spot = first || { x: 0, y: placed.length * box.h };  // the last: unreachable for 6 labels
    placed.push(spot);
    return spot;
  });
}

// The widget's markup, fixed: built once per page, then only updated in place.
const MARKUP = `
<div class="board-row">
  <div class="value-bar" title="Black's winning chance, from the network's value">
    <div class="value-fill"></div>
    <div class="value-text">no evaluation</div>
  </div>
  <div class="board-column">
    <div class="hand hand-top"></div>
    <div class="board"></div>
    <div class="hand hand-bottom"></div>
  </div>
</div>
<div class="empty">Waiting for the first showcase game</div>
<div class="legend">No insight for this position yet</div>
<div class="engine-line"></div>
<div class="style-line"></div>
<div class="sr-move visually-hidden" aria-live="polite" aria-atomic="true"></div>
`;

/** "Black: Mino (本美濃), Fourth File Rook; White: Static Rook" from a move's `style` ("" without). */
export function styleLine(style) {
  if (!style) return "";
  const side = (s) => [s.castle && `${s.castle} (${s.castle_japanese})`, s.rook].filter(Boolean).join(", ") || "no castle yet";
  return `Black: ${side(style.black)}; White: ${side(style.white)}`;
}

/** The line a screen reader announces for a move: "Move 23: Black plays P-7f (▲７六歩)". */
export function announce(move) {
  const side = move.sfen_before.split(" ")[1] === "b" ? "Black" : "White";
  return `Move ${move.ply}: ${side} plays ${move.move.western} (${move.move.japanese})`;
}

function engineArrow(analysis) {
  const usi = analysis.best.usi;
  const dest = usi.slice(2, 4);
  return { orig: usi[1] === "*" ? dest : usi.slice(0, 2), dest, brush: "engine" };
}

/** The caption from the value head's reading of the position shown (or the lack of one). */
function describe({ sfen, insight, mover, mapName }) {
  if (sfen === null) return { plain: "Waiting for the first showcase game", technical: "no showcase game" };
  if (!insight) {
    return { plain: "The AI has not evaluated this position yet", technical: "no insight for this position: V(s) none" };
  }
  const vBlack = 2 * insight.black_win - 1;
  const top = insight.top[0];
  return {
    plain: `The AI thinks ${leaning(insight.black_win)} (Black's chance ${Math.round(insight.black_win * 100)}%)`,
    technical:
      `V(s)=${signed(vBlack)} from Black's view (${signed(insight.value)} for ${mover === "b" ? "Black" : "White"}, who moved)` +
      (top ? `; top move ${top.western} p=${top.prob.toFixed(3)}` : "") + `; map ${mapName}`,
  };
}

export function createBoard(root, { mapName = "se_attention_mean" } = {}) {
  root.classList.add("board-widget");
  root.innerHTML = MARKUP;
  // The insight is the network's look at the position before the last move: `mover` ("b" or "w") is
  // the side it chose for, whose view its value and top moves take.
  const state = {
    sfen: null, lastUsi: null, insight: null, mover: null, mapName, visible: true,
    ply: null, analysis: null, engine: null,  // the engine's judgement of the last move, and its state
    style: null,  // castles and rook style after the last move (showcase moves carry it)
    announce: null,  // the aria-live line for the newest live move, written at the next draw
  };
  const ground = Shogiground(
    { viewOnly: true, scaleDownPieces: false, coordinates: { enabled: false }, animation: { enabled: false } },
    { board: root.querySelector(".board"), hands: { top: root.querySelector(".hand-top"), bottom: root.querySelector(".hand-bottom") } },
  );
  const valueFill = root.querySelector(".value-fill");
  const valueText = root.querySelector(".value-text");
  const legend = root.querySelector(".legend");
  const engineLine = root.querySelector(".engine-line");
  const styleEl = root.querySelector(".style-line");
  const empty = root.querySelector(".empty");
  const spoken = root.querySelector(".sr-move");
  const caption = createCaption(root);
  const boardEl = root.querySelector(".board");
  const heat = document.createElement("canvas");
  heat.width = 9; heat.height = 9; heat.className = "heat-layer";
  const sgBoard = boardEl.querySelector("sg-board");
  sgBoard.insertBefore(heat, sgBoard.querySelector("sg-pieces"));
  const heatCtx = heat.getContext("2d");
  const heatImage = heatCtx.createImageData(9, 9);
  let heatShown = null;  // the values painted, so an unchanged map is not repainted
  const labelLayer = document.createElement("div");
  labelLayer.className = "move-labels";
  boardEl.appendChild(labelLayer);
  const labelEls = [];
  let labelKey = "";
  let scheduled = false;

  // The board's size and the labels' font, read when the board is laid out or resized (a
  // ResizeObserver), never during a draw: reading layout there, after other widgets changed the page,
  // forced a second layout of the whole page in every frame.
  const size = { width: 0, height: 0, font: 14 };
  new ResizeObserver(() => {
    size.width = boardEl.clientWidth;
    size.height = sgBoard.clientHeight || boardEl.clientHeight;
    size.font = parseFloat(getComputedStyle(labelLayer).fontSize) || 14;
    labelKey = "";
    schedule();
  }).observe(boardEl);

  function drawLabels(items) {
    const { width, height, font } = size;
    if (!width || !height) { labelKey = ""; return; }  // not laid out yet (or hidden): placed on resize
    const key = `${width}x${height}|${state.sfen}|` + items.map((l) => `${l.orig}${l.dest}${l.text}${l.engine ? "e" : ""}`).join("|");
    if (key === labelKey) return;
    labelKey = key;
    while (labelEls.length < items.length) {
      const el = document.createElement("span");
      labelLayer.appendChild(el);
      labelEls.push(el);
    }
    // Sizes in the layer's own units: the label box is fixed in CSS (em of the board's square).
    const box = { w: font * 3.4, h: font * 1.5 };
    const spots = placeLabels(items, width, height, box, occupiedSquares(state.sfen));
    labelEls.forEach((el, i) => {
      if (i >= items.length) { el.hidden = true; return; }
      el.hidden = false;
      el.className = items[i].engine ? "move-label engine" : "move-label";
      el.textContent = items[i].text;
      el.style.transform = `translate(${spots[i].x.toFixed(1)}px, ${spots[i].y.toFixed(1)}px)`;
    });
  }

  function draw() {
    scheduled = false;
    if (!state.visible) return;
    if (state.announce !== null) {
      spoken.textContent = state.announce;  // the newest move, once: a burst is not read out move by move
      state.announce = null;
    }
    empty.hidden = state.sfen !== null;
    caption.set(describe(state));
    if (state.sfen === null) return;
    const [board, turn, hands] = state.sfen.split(" ");
    const color = turn === "b" ? "sente" : "gote";
    const last = state.lastUsi;
    ground.set({
      sfen: { board, hands: hands || "-" },  // "-" clears the hands (an empty string would keep the old ones)
      turnColor: color,
      lastDests: last ? (last[1] === "*" ? [last.slice(2, 4)] : [last.slice(0, 2), last.slice(2, 4)]) : [],
    });
    const insight = state.insight;
    const shapes = insight ? insight.top.map(arrowOf) : [];
    const labels = insight ? insight.top.map((m, i) => ({ orig: shapes[i].orig, dest: shapes[i].dest, text: labelOf(m) })) : [];
    if (state.analysis) {
      const e = engineArrow(state.analysis);
      shapes.push(e);
      labels.push({ orig: e.orig, dest: e.dest, text: state.analysis.best.usi[1] === "*" ? `${state.analysis.best.usi[0]} E` : "E", engine: true });
    }
    ground.setAutoShapes(shapes);
    drawLabels(labels);
    if (state.ply === null) {
      engineLine.textContent = "";
    } else if (state.analysis) {
      const black = state.analysis.black_chance_after;
      engineLine.textContent = verdict(state.analysis) + (black === null ? "" : `; Black ${Math.round(black * 100)}% by the engine`);
    } else {
      engineLine.textContent = noAnalysis(state.engine);
    }
    const values = insight ? insight.maps[state.mapName] : null;
    if (values !== heatShown) {
      heatShown = values;
      paintHeat(heatCtx, heatImage, values);
    }
    styleEl.textContent = styleLine(state.style);
    const outlined = state.style
      ? [["black", state.style.black], ["white", state.style.white]].flatMap(([c, s]) => s.squares.map((key) => ({ key, className: `castle-${c}` })))
      : [];
    ground.setSquareHighlights(outlined);
    legend.textContent = insight ? `${MAPS[state.mapName]}; green: its ${HEAT_TOP} strongest squares` : "No insight for this position yet";
    if (insight) {
      valueFill.style.height = `${(insight.black_win * 100).toFixed(1)}%`;
      valueText.textContent = `Black ${Math.round(insight.black_win * 100)}%`;
    } else {
      valueFill.style.height = "50%";
      valueText.textContent = "no evaluation";
    }
  }

  function schedule() {
    if (!scheduled) {
      scheduled = true;
      scheduleDraw(draw);
    }
  }

  return {
    state,
    showGame(game, moves) {
      const lastMove = moves.length ? moves[moves.length - 1] : null;
      state.sfen = game ? (lastMove ? lastMove.sfen_after : game.start_sfen) : null;
      state.lastUsi = lastMove ? lastMove.move.usi : null;
      state.insight = lastMove ? lastMove.insight : null;
      state.mover = lastMove ? lastMove.sfen_before.split(" ")[1] : null;
      state.ply = lastMove ? lastMove.ply : null;
      state.analysis = (lastMove && lastMove.analysis) || null;  // archived moves carry theirs
      state.style = (lastMove && lastMove.style) || null;
      schedule();
    },
    // A position with the network's insight into that position itself (the time-lapse): no last move.
    showPosition(sfen, insight) {
      state.sfen = sfen; state.lastUsi = null; state.insight = insight || null;
      state.mover = sfen ? sfen.split(" ")[1] : null; state.ply = null; state.analysis = null; state.style = null;
      schedule();
    },
    fromSnapshot(metrics, snapshot) {
      state.engine = snapshot.engine || null;
      state.analysis = (snapshot.analyses || []).find((a) => a.ply === state.ply) || null;
      schedule();
    },
    playMove(move) {
      state.announce = announce(move);  // live moves only: a replay's stepping is the user's own
      state.sfen = move.sfen_after;
      state.lastUsi = move.move.usi;
      state.insight = move.insight;
      state.mover = move.sfen_before.split(" ")[1];
      state.ply = move.ply;
      state.analysis = null;
      state.style = move.style || null;
      schedule();
    },
    onAnalysis(analysis) {
      if (analysis.ply === state.ply) { state.analysis = analysis; schedule(); }
    },
    onEngineState(engine) { state.engine = engine; schedule(); },
    setVisible(visible) {
      state.visible = visible;
      if (visible) schedule();
    },
  };
}
