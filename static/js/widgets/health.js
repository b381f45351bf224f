// PPO health widget: KL divergence coloured by fixed thresholds, clip fraction with a plain reading,
// entropy and KL trends (uPlot), losses, explained variance, samples/s and the advantage histograms.
// A metric the trainer did not send is shown as "none", never as a number.
import uPlot from "/vendor/uplot/uPlot.esm.js";
import { rationed } from "../charts.js";
import { axis } from "../params.js";
import { createCaption } from "../captions.js";
import { scheduleDraw } from "../frame.js";

// Documented thresholds (docs/metrics.md): PPO is healthy below 0.02 KL per update, worth watching up
// to 0.05, and above that the policy is moving too far in one step.
export const KL_AMBER = 0.02;
export const KL_RED = 0.05;
const KEEP = 300;
// The trends' keys. The server conflates `metrics` for a viewer that falls behind, so a burst can skip
// updates; a gap in the update numbers is filled from the archive (GET /api/metrics).
const TREND_KEYS = ["ppo/approx_kl", "losses/entropy"];

export function klLevel(kl) {
  if (kl === null || kl === undefined) return "none";
  return kl < KL_AMBER ? "ok" : kl < KL_RED ? "watch" : "high";
}

function fmt(value, digits = 3) {
  return value === null || value === undefined || Number.isNaN(value) ? "none" : value.toFixed(digits);
}

function trend(el, label, stroke) {
  return new uPlot(
    {
      width: 260, height: 90, legend: { show: false }, cursor: { show: false },
      scales: { x: { time: false } }, axes: [{ show: false }, axis({ size: 40 })],
      series: [{}, { label, stroke, width: 2, spanGaps: false }],
    },
    [[], []],
    el,
  );
}

function drawHistogram(el, counts) {
  if (!counts) { el.textContent = "none"; return; }
  const max = Math.max(1, ...counts);
  if (el.children.length !== counts.length) {  // build once, then only resize the bars
    el.replaceChildren(...counts.map(() => document.createElement("i")));
  }
  counts.forEach((c, i) => { el.children[i].style.height = `${(100 * c) / max}%`; });
}

// The widget's markup, fixed: built once per page, then only updated in place.
const MARKUP = `
<div class="empty">No PPO update yet</div>
<div class="row">
  <div class="kl" data-level="none">
    <div class="label">KL divergence per update</div>
    <div class="kl-value">none</div>
    <div class="kl-trend"></div>
  </div>
  <div class="entropy">
    <div class="label">Policy entropy (nats, legal moves)</div>
    <div class="entropy-value">none</div>
    <div class="entropy-trend"></div>
  </div>
</div>
<div class="clip">
  <div class="label">Clip fraction</div>
  <div class="clip-bar"><div class="clip-fill"></div></div>
  <div class="clip-text">none yet</div>
</div>
<div class="numbers">
  <span>policy loss <b class="policy-loss">none</b></span>
  <span>value loss <b class="value-loss">none</b></span>
  <span>explained variance <b class="explained">none</b></span>
  <span>samples/s <b class="sps">none</b></span>
</div>
<div class="row">
  <div><div class="label">Advantages (raw)</div><div class="hist adv-raw"></div></div>
  <div><div class="label">Advantages (normalised)</div><div class="hist adv-norm"></div></div>
</div>
`;

const PLAIN_KL = {
  none: "No KL divergence reported for the last update",
  ok: "Learning is steady: each update changes the AI's play only a little",
  watch: "The AI's play is changing quickly: worth watching",
  high: "The last update changed the AI a lot: training may be unstable",
};

/** The caption from the newest update's values; `latest(key)` is null where there was none. */
function describe(latest, update) {
  if (update === null) return { plain: "No training update yet", technical: "no PPO update yet" };
  const kl = latest("ppo/approx_kl");
  return {
    plain: PLAIN_KL[klLevel(kl)],
    technical:
      `update ${update}: KL ${fmt(kl, 4)} (k3), clipfrac ${fmt(latest("ppo/clipfrac"), 3)}, ` +
      `entropy ${fmt(latest("losses/entropy"), 2)} nats, EV ${fmt(latest("ppo/explained_variance"), 2)}`,
  };
}

export function createHealth(root) {
  root.classList.add("health-widget");
  root.innerHTML = MARKUP;
  const series = new Map();  // key -> [[update...], [value...]]
  const histograms = {};
  const klPlot = rationed(trend(root.querySelector(".kl-trend"), "KL", "#c0392b"));
  const entropyPlot = rationed(trend(root.querySelector(".entropy-trend"), "entropy", "#2e86c1"));
  const caption = createCaption(root);
  let scheduled = false;
  let visible = true;
  let runId = null;

  function add(key, update, value) {
    if (!series.has(key)) series.set(key, [[], []]);
    const [xs, ys] = series.get(key);
    if (xs.length && update <= xs[xs.length - 1]) return;
    xs.push(update);
    ys.push(value);
    if (xs.length > KEEP) { xs.shift(); ys.shift(); }
  }

  /** Put archived points into a series in update order (the live ones win where both exist). */
  function merge(key, points) {
    if (!series.has(key)) series.set(key, [[], []]);
    const [xs, ys] = series.get(key);
    const byUpdate = new Map(points.map(([u, v]) => [u, v]));
    xs.forEach((u, i) => byUpdate.set(u, ys[i]));
    const updates = [...byUpdate.keys()].sort((a, b) => a - b).slice(-KEEP);
    xs.length = 0; ys.length = 0;
    for (const u of updates) { xs.push(u); ys.push(byUpdate.get(u)); }
  }

  let backfilling = false;
  async function backfill(since, run) {
    if (backfilling) return;
    backfilling = true;
    try {
      for (const key of TREND_KEYS) {
        const query = new URLSearchParams({ key, since: String(since), ...(run ? { run } : {}) });
        const response = await fetch(`/api/metrics?${query}`);
        if (response.ok) merge(key, (await response.json()).points);
      }
      schedule();
    } catch {
      // the live feed goes on; the gap stays visible as a straight segment
    } finally {
      backfilling = false;
    }
  }

  function latest(key) {
    const s = series.get(key);
    return s && s[1].length ? s[1][s[1].length - 1] : null;
  }

  function draw() {
    scheduled = false;
    if (!visible) return;
    const kl = latest("ppo/approx_kl");
    const klBox = root.querySelector(".kl");
    klBox.dataset.level = klLevel(kl);
    root.querySelector(".kl-value").textContent = fmt(kl, 4);
    const clip = latest("ppo/clipfrac");
    root.querySelector(".clip-fill").style.width = clip === null ? "0%" : `${(clip * 100).toFixed(1)}%`;
    root.querySelector(".clip-text").textContent =
      clip === null ? "none yet" : `${(clip * 100).toFixed(1)}% of samples hit the clip (how often updates were clipped)`;
    for (const [sel, key, digits] of [
      [".entropy-value", "losses/entropy", 2], [".policy-loss", "losses/policy", 4], [".value-loss", "losses/value", 4],
      [".explained", "ppo/explained_variance", 3], [".sps", "perf/sps", 0],
    ]) {
      root.querySelector(sel).textContent = fmt(latest(key), digits);
    }
    const klSeries = series.get("ppo/approx_kl");
    if (klSeries) klPlot(klSeries);
    const entSeries = series.get("losses/entropy");
    if (entSeries) entropyPlot(entSeries);
    drawHistogram(root.querySelector(".adv-raw"), histograms["adv/hist_raw"]);
    drawHistogram(root.querySelector(".adv-norm"), histograms["adv/hist_norm"]);
    root.querySelector(".empty").hidden = series.size > 0;
    const updates = [...series.values()].map(([xs]) => xs[xs.length - 1]).filter((u) => u !== undefined);
    caption.set(describe(latest, updates.length ? Math.max(...updates) : null));
  }

  function schedule() {
    if (!scheduled) { scheduled = true; scheduleDraw(draw); }
  }

  return {
    series,
    fromSnapshot(metrics, snapshot) {
      runId = snapshot ? snapshot.trainer.run_id : null;
      series.clear();
      for (const [key, points] of Object.entries(metrics)) for (const [u, v] of points) add(key, u, v);
      schedule();
    },
    onMetrics(d) {
      const known = series.get(TREND_KEYS[0]);
      const last = known && known[0].length ? known[0][known[0].length - 1] : null;
      if (last !== null && d.update > last + 1) backfill(last + 1, runId);
      for (const [key, value] of Object.entries(d.values)) add(key, d.update, value);
      for (const [key, h] of Object.entries(d.histograms || {})) histograms[key] = h.counts;
      schedule();
    },
    setVisible(v) { visible = v; if (v) schedule(); },
  };
}
