// Buffer usage: for the latest PPO update, which game phase its samples, its clipped samples and its
// highest-advantage samples came from (three bars split opening / middlegame / endgame), and Black
// versus White in self-play: win rates of the games that ended in the rollout, the policy's entropy,
// the clip rate and the mean value with each side to move. Every figure is the trainer's metric
// (docs/metrics.md, trainer/usage.py); without one it says so.
import { scheduleDraw } from "../frame.js";

export const PHASES = ["opening", "middlegame", "endgame"];
const BARS = [
  ["samples", "buffer/samples_", "samples in the rollout"],
  ["clipped", "buffer/clipped_", "clipped in the update"],
  ["high_adv", "buffer/high_adv_", "top 10% by |advantage|"],
];
const SIDE_ROWS = [
  ["win rate", "selfplay/black_win_rate", "selfplay/white_win_rate", (x) => `${Math.round(x * 100)}%`],
  ["policy entropy", "side/black_entropy", "side/white_entropy", (x) => `${x.toFixed(2)} nats`],
  ["clip rate", "side/black_clip_rate", "side/white_clip_rate", (x) => `${(x * 100).toFixed(1)}%`],
  ["mean value", "side/black_value", "side/white_value", (x) => (x >= 0 ? "+" : "") + x.toFixed(3)],
];

const MARKUP = `
<div class="bu-head">How the update used its buffer <span class="bu-update"></span></div>
<div class="bu-bars">${BARS.map(([k, , label]) => `<div class="bu-row" data-bar="${k}"><span class="bu-label">${label}</span><div class="bu-bar">${PHASES.map((p) => `<i class="bu-${p}"></i>`).join("")}</div><span class="bu-text"></span></div>`).join("")}</div>
<div class="bu-key">${PHASES.map((p) => `<span class="bu-${p}">${p}</span>`).join("")}</div>
<table class="bu-sides"><thead><tr><th>self-play</th><th>Black</th><th>White</th></tr></thead><tbody>
${SIDE_ROWS.map(([label]) => `<tr><td>${label}</td><td></td><td></td></tr>`).join("")}</tbody></table>
<div class="bu-empty">No PPO update yet: no buffer to show</div>
`;

/** The phase shares of one bar (opening, middlegame, endgame), or null when the update has none. */
export function shares(values, prefix) {
  const xs = PHASES.map((p) => values[prefix + p]);
  if (xs.some((x) => x === null || x === undefined)) return null;
  return xs;
}

export function createBuffer(root) {
  root.classList.add("buffer-widget");
  root.innerHTML = MARKUP;
  const state = { update: null, values: {}, visible: true };
  const empty = root.querySelector(".bu-empty");
  const parts = [root.querySelector(".bu-bars"), root.querySelector(".bu-key"), root.querySelector(".bu-sides")];
  let scheduled = false;

  function draw() {
    scheduled = false;
    if (!state.visible) return;
    const has = state.update !== null;
    empty.hidden = has;
    parts.forEach((el) => { el.hidden = !has; });
    root.querySelector(".bu-update").textContent = has ? `(update ${state.update})` : "";
    if (!has) return;
    for (const [key, prefix] of BARS) {
      const row = root.querySelector(`[data-bar="${key}"]`);
      const xs = shares(state.values, prefix);
      row.querySelectorAll(".bu-bar i").forEach((el, i) => { el.style.width = xs ? `${(xs[i] * 100).toFixed(1)}%` : "0%"; });
      row.querySelector(".bu-text").textContent = xs ? xs.map((x) => Math.round(x * 100)).join(" / ") : "none";
    }
    root.querySelectorAll(".bu-sides tbody tr").forEach((tr, i) => {
      const [, black, white, fmt] = SIDE_ROWS[i];
      const cells = tr.querySelectorAll("td");
      for (const [cell, key] of [[cells[1], black], [cells[2], white]]) {
        const x = state.values[key];
        cell.textContent = x === null || x === undefined ? "none" : fmt(x);
      }
    });
  }

  function schedule() {
    if (!scheduled) { scheduled = true; scheduleDraw(draw); }
  }

  const KEYS = [...BARS.flatMap(([, prefix]) => PHASES.map((p) => prefix + p)), ...SIDE_ROWS.flatMap(([, b, w]) => [b, w])];

  return {
    state,
    fromSnapshot(metrics) {
      // The latest update that has the breakdown, and each figure as of that update.
      const series = metrics["buffer/samples_opening"] || [];
      state.update = series.length ? series[series.length - 1][0] : null;
      state.values = {};
      for (const key of KEYS) {
        const point = (metrics[key] || []).find((p) => p[0] === state.update);
        state.values[key] = point ? point[1] : null;
      }
      schedule();
    },
    onMetrics(d) {
      if (!("buffer/samples_opening" in d.values)) return;
      state.update = d.update;
      state.values = {};
      for (const key of KEYS) state.values[key] = key in d.values ? d.values[key] : null;
      schedule();
    },
    setVisible(v) { state.visible = v; if (v) schedule(); },
  };
}
