// The network as a live diagram, for the showcase's current move: the input planes, the stem, each
// residual block (how strongly it fired: mean |activation|, as a bar against the strongest block; what
// its SE gates did: their mean, range, the share of channels open and the three widest-open channels),
// and the two heads with what they output (the policy's top move and entropy over the legal moves, the
// value head's number and the winning chance shown). All from the move's insight (`insight.network`);
// a move without it reads "none".
import { scheduleDraw } from "../frame.js";

const MARKUP = `
<div class="nw-head">Inside the network</div>
<div class="nw-empty">No move with network insight yet</div>
<ol class="nw-layers" hidden></ol>
`;

const f = (x, digits = 3) => (x === null || x === undefined ? "none" : Number(x).toFixed(digits));
const pct = (x) => `${Math.round(x * 100)}%`;

/** The rows of the diagram for one move's insight: [kind, title, detail, bar 0-1 or null]. */
export function layers(insight) {
  const n = insight && insight.network;
  if (!n) return [];
  const peak = Math.max(...n.blocks.map((b) => b.act_mean), n.stem_act_mean || 0, 1e-9);
  const rows = [
    ["input", `input: ${n.planes} planes, 9 x 9`, "the position as the rules see it: pieces, hands, attacks, mates in one", null],
  ];
  if (n.stem_act_mean !== null) {
    rows.push(["stem", `stem: 3 x 3 convolution to ${n.width} channels`, `mean |activation| ${f(n.stem_act_mean)}`, n.stem_act_mean / peak]);
  }
  n.blocks.forEach((b, i) => {
    const gates = b.gate_mean === null
      ? "no SE gates"
      : `SE gates mean ${f(b.gate_mean, 2)} (${f(b.gate_min, 2)} to ${f(b.gate_max, 2)}), ${pct(b.gates_open)} of channels open, widest ${b.top_channels.join(", ")}`;
    rows.push(["block", `block ${i + 1}`, `mean |activation| ${f(b.act_mean)} (max ${f(b.act_max, 2)}); ${gates}`, b.act_mean / peak]);
  });
  const best = insight.top[0];
  rows.push([
    "head",
    "policy head: 13,527 move logits",
    `top move ${best ? `${best.western} ${pct(n.top_prob)}` : "none"} of ${n.legal_moves} legal; entropy ${f(n.policy_entropy, 2)} nats`,
    null,
  ]);
  const head = insight.value_head === null || insight.value_head === undefined ? "none" : f(insight.value_head);
  rows.push(["head", "value head: one number (tanh)", `head ${head}; shown value ${f(insight.value)} for the side to move, Black ${pct(insight.black_win)}`, null]);
  return rows;
}

export function createNetwork(root) {
  root.classList.add("network-widget");
  root.innerHTML = MARKUP;
  const empty = root.querySelector(".nw-empty");
  const list = root.querySelector(".nw-layers");
  const state = { insight: null, visible: true };
  let scheduled = false;

  function draw() {
    scheduled = false;
    if (!state.visible) return;
    const rows = layers(state.insight);
    empty.hidden = rows.length > 0;
    list.hidden = rows.length === 0;
    while (list.children.length < rows.length) {
      const li = document.createElement("li");
      li.innerHTML = `<div class="nw-title"></div><div class="nw-bar"><i></i></div><div class="nw-detail"></div>`;
      list.appendChild(li);
    }
    [...list.children].forEach((li, i) => {
      const row = rows[i];
      li.hidden = !row;
      if (!row) return;
      const [kind, title, detail, bar] = row;
      li.className = `nw-${kind}`;
      li.querySelector(".nw-title").textContent = title;
      li.querySelector(".nw-detail").textContent = detail;
      li.querySelector(".nw-bar").hidden = bar === null;
      if (bar !== null) li.querySelector(".nw-bar i").style.width = `${(bar * 100).toFixed(1)}%`;
    });
  }

  function schedule() {
    if (!scheduled) { scheduled = true; scheduleDraw(draw); }
  }

  return {
    state,
    showGame(game, moves) {
      const last = moves.length ? moves[moves.length - 1] : null;
      state.insight = last ? last.insight : null;
      schedule();
    },
    playMove(move) { state.insight = move.insight; schedule(); },
    setVisible(visible) { state.visible = visible; if (visible) schedule(); },
  };
}
