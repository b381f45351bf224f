// Board widget: the showcase position (shogiground), the last move, the network's top-5 moves as
// arrows whose width follows their probability, the analysis engine's move for the same position as
// a dashed gold arrow (when it has judged it), a heatmap layer and a value bar from Black's view.
// State is a plain object; drawing happens at most once per animation frame.
import { Shogiground } from "/vendor/shogiground/shogiground.js";
import { createCaption, leaning, signed } from "../captions.js";
import { noAnalysis, verdict } from "../engine.js";

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

// A board move is an arrow; a drop is a circle on its square labelled with the piece. (The insight is
// for the position before the last move: a piece dropped then is no longer in hand to draw from.)
function arrowOf(move) {
  const usi = move.usi;
  const dest = usi.slice(2, 4);
  const drop = usi[1] === "*";
  const bucket = Math.min(5, 1 + Math.floor(move.prob * 10));  // width class from the probability
  const pct = `${Math.round(move.prob * 100)}%`;
  return { orig: drop ? dest : usi.slice(0, 2), dest, brush: `p${bucket}`, description: drop ? `${usi[0]} ${pct}` : pct };
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
`;

function engineArrow(analysis) {
  const usi = analysis.best.usi;
  const dest = usi.slice(2, 4);
  return { orig: usi[1] === "*" ? dest : usi.slice(0, 2), dest, brush: "engine", description: usi[1] === "*" ? `${usi[0]} E` : "E" };
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
  };
  const ground = Shogiground(
    { viewOnly: true, scaleDownPieces: false, coordinates: { enabled: false }, animation: { enabled: false } },
    { board: root.querySelector(".board"), hands: { top: root.querySelector(".hand-top"), bottom: root.querySelector(".hand-bottom") } },
  );
  const valueFill = root.querySelector(".value-fill");
  const valueText = root.querySelector(".value-text");
  const legend = root.querySelector(".legend");
  const engineLine = root.querySelector(".engine-line");
  const empty = root.querySelector(".empty");
  const caption = createCaption(root);
  let scheduled = false;

  function draw() {
    scheduled = false;
    if (!state.visible) return;
    empty.hidden = state.sfen !== null;
    caption.set(describe(state));
    if (state.sfen === null) return;
    const [board, turn, hands] = state.sfen.split(" ");
    const color = turn === "b" ? "sente" : "gote";
    const last = state.lastUsi;
    ground.set({
      sfen: { board, hands: hands === "-" ? "" : hands },
      turnColor: color,
      lastDests: last ? (last[1] === "*" ? [last.slice(2, 4)] : [last.slice(0, 2), last.slice(2, 4)]) : [],
    });
    const insight = state.insight;
    const shapes = insight ? insight.top.map(arrowOf) : [];
    if (state.analysis) shapes.push(engineArrow(state.analysis));
    ground.setAutoShapes(shapes);
    if (state.ply === null) {
      engineLine.textContent = "";
    } else if (state.analysis) {
      const black = state.analysis.black_chance_after;
      engineLine.textContent = verdict(state.analysis) + (black === null ? "" : `; Black ${Math.round(black * 100)}% by the engine`);
    } else {
      engineLine.textContent = noAnalysis(state.engine);
    }
    const values = insight ? insight.maps[state.mapName] : null;
    ground.setSquareHighlights(
      values ? values.map((v, i) => ({ key: squareKey(i), className: `heat heat-${Math.min(9, Math.floor(v * 10))}` })) : [],
    );
    legend.textContent = insight ? MAPS[state.mapName] : "No insight for this position yet";
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
      requestAnimationFrame(draw);
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
      schedule();
    },
    fromSnapshot(metrics, snapshot) {
      state.engine = snapshot.engine || null;
      state.analysis = (snapshot.analyses || []).find((a) => a.ply === state.ply) || null;
      schedule();
    },
    playMove(move) {
      state.sfen = move.sfen_after;
      state.lastUsi = move.move.usi;
      state.insight = move.insight;
      state.mover = move.sfen_before.split(" ")[1];
      state.ply = move.ply;
      state.analysis = null;
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
