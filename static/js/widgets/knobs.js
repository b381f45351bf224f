// Learning knobs: what chat's parameter challenges and the streamer may change while the AI learns
// (the trainer's `status.knobs`: each knob's value and the config's bounds), this run's changes
// (`knob_change`: applied from an update on, or refused with the trainer's reason), and for the latest
// applied change the PPO health before and after it: KL divergence and policy entropy, averaged over
// up to WINDOW updates on each side, from the trainer's own metrics. Without data it says so.
import { scheduleDraw } from "../frame.js";

export const WINDOW = 5;
const ROWS = 6;
const MARKUP = `
<div class="kn-head">Learning knobs (chat challenges)</div>
<div class="kn-values">No status from the trainer yet</div>
<div class="kn-effect">No knob changed in this run yet</div>
<ol class="kn-changes">${"<li hidden><span class=\"kn-what\"></span><button type=\"button\" class=\"kn-revert small\" hidden>revert</button></li>".repeat(ROWS)}</ol>
`;

const fmt = (x) => (x === null || x === undefined ? "none" : Number(x).toPrecision(3).replace(/\.?0+$/, "").replace(/\.?0+e/, "e"));

/** Mean of the points of `series` ([[update, value], ...]) with lo <= update < hi; null when none. */
export function meanBetween(series, lo, hi) {
  const values = (series || []).filter(([u, v]) => u >= lo && u < hi && v !== null).map(([, v]) => v);
  return values.length ? { mean: values.reduce((a, b) => a + b, 0) / values.length, n: values.length } : null;
}

/** What a change row says. */
export function changeLine(c, labels) {
  const label = labels[c.knob] || c.knob || "a knob";
  if (c.status === "refused") return `refused (${c.source}): ${label} ${fmt(c.new)}: ${c.reason}`;
  const verb = c.revert_of ? "reverted" : "set";
  return `update ${c.update}: ${c.source} ${verb} ${label} ${fmt(c.old)} -> ${fmt(c.new)}`;
}

/** KL and entropy before and after the latest applied change, from the metrics series. */
export function effectLine(change, metrics, labels) {
  if (!change) return "No knob changed in this run yet";
  const u = change.update;
  const part = (key, name) => {
    const before = meanBetween(metrics[key], u - WINDOW, u);
    const after = meanBetween(metrics[key], u, u + WINDOW);
    const text = (m) => (m ? `${fmt(m.mean)} (${m.n} update${m.n === 1 ? "" : "s"})` : "none yet");
    return `${name} ${text(before)} before, ${text(after)} after`;
  };
  const label = labels[change.knob] || change.knob;
  return `Since update ${u} (${label} ${fmt(change.old)} -> ${fmt(change.new)}): ${part("ppo/approx_kl", "KL")}; ${part("losses/entropy", "entropy")}`;
}

export function createKnobs(root, { onRevert = null } = {}) {
  root.classList.add("knobs-widget");
  root.innerHTML = MARKUP;
  const values = root.querySelector(".kn-values");
  const effect = root.querySelector(".kn-effect");
  const rows = [...root.querySelectorAll(".kn-changes li")];
  const state = { knobs: null, changes: [], metrics: {}, visible: true };
  let scheduled = false;

  rows.forEach((li) => {
    const button = li.querySelector(".kn-revert");
    button.addEventListener("click", () => { if (onRevert && button.dataset.change) onRevert(button.dataset.change); });
  });

  function draw() {
    scheduled = false;
    if (!state.visible) return;
    const labels = Object.fromEntries((state.knobs || []).map((k) => [k.name, k.label]));
    values.textContent = state.knobs === null
      ? "No status from the trainer yet"
      : state.knobs.length
        ? state.knobs.map((k) => `${k.label} ${fmt(k.value)} (${fmt(k.low)} to ${fmt(k.high)})`).join(" · ")
        : "This trainer offers no knobs";
    const applied = state.changes.filter((c) => c.status === "applied");
    effect.textContent = effectLine(applied[applied.length - 1] || null, state.metrics, labels);
    const newest = state.changes.slice(-ROWS).reverse();
    const reverted = new Set(state.changes.map((c) => c.revert_of).filter(Boolean));
    rows.forEach((li, i) => {
      const c = newest[i];
      li.hidden = !c;
      if (!c) return;
      li.className = c.status;
      li.querySelector(".kn-what").textContent = changeLine(c, labels);
      const button = li.querySelector(".kn-revert");
      button.hidden = !onRevert || c.status !== "applied" || reverted.has(c.change_id);
      button.dataset.change = c.change_id;
    });
  }

  function schedule() {
    if (!scheduled) { scheduled = true; scheduleDraw(draw); }
  }

  function addPoint(update, key, value) {
    const series = state.metrics[key] || (state.metrics[key] = []);
    if (!series.length || series[series.length - 1][0] < update) series.push([update, value]);
    if (series.length > 300) series.shift();
  }

  return {
    state,
    fromSnapshot(metrics, snapshot) {
      state.metrics = {};
      for (const key of ["ppo/approx_kl", "losses/entropy"]) state.metrics[key] = [...(metrics[key] || [])];
      state.changes = [...(snapshot.knob_changes || [])];
      state.knobs = snapshot.status ? snapshot.status.knobs || [] : null;
      schedule();
    },
    onStatus(d) { state.knobs = d.knobs || []; schedule(); },
    onTrainerStatus(d) { if (!d.connected) { state.knobs = null; schedule(); } },
    onKnobChange(d) { state.changes.push(d); if (state.changes.length > 50) state.changes.shift(); schedule(); },
    onMetrics(d) {
      for (const key of ["ppo/approx_kl", "losses/entropy"]) if (key in d.values) addPoint(d.update, key, d.values[key]);
      schedule();
    },
    setVisible(visible) { state.visible = visible; if (visible) schedule(); },
  };
}
