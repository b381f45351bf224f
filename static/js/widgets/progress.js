// Learning progress widget: evaluation scores against the random mover, the greedy mover and the
// previous snapshot over updates with the engine-judged accuracy on the probe positions, the ladder
// Elo (fitted against the calibrated engine rungs, drawn as labelled reference lines) and the chain
// Elo from the previous-snapshot matches over updates (uPlot), value calibration of the showcase games
// (predicted Black chance against the actual result, from /api/calibration) and the milestones
// timeline with links to the games that show them.
//
// Sources: the snapshot's recent metrics, live `metrics` and `eval` messages, and the archive
// (/api/metrics, /api/milestones) for the history the snapshot does not hold (the hub conflates
// `metrics` for slow viewers, and a restarted server remembers nothing live). State is plain objects
// keyed by update, so every source can be merged in any order; drawing is batched per animation frame.
import uPlot from "/vendor/uplot/uPlot.esm.js";
import { axis, palette } from "../params.js";
import { createCaption } from "../captions.js";
import { scheduleDraw } from "../frame.js";

export const SCORE_KEYS = ["eval/vs_random", "eval/vs_greedy", "eval/vs_previous"];
export const ELO_KEY = "eval/elo";
export const LADDER_KEY = "eval/ladder_elo";
export const ACCURACY_KEY = "eval/accuracy";
// Finishing games (per evaluation) and who the training games were against (per update).
export const FINISH_KEYS = ["eval/mate_conversion", "eval/mate_chances", "eval/vs_random_undecided", "eval/vs_greedy_undecided"];
export const MIX_KEYS = ["selfplay/games", "curriculum/games", "curriculum/greedy_games", "pool/games", "pool/opponent_update", "curriculum/greedy_share", "curriculum/greedy_plies"];
const MIX_WINDOW = 20;  // updates summed for the training-games line
const EXTRA_KEYS = [LADDER_KEY, "eval/ladder_elo_error", ACCURACY_KEY, "eval/move_loss", ...FINISH_KEYS, ...MIX_KEYS];
const EVAL_FIELDS = {  // `eval` message field -> metric key
  vs_random: "eval/vs_random", vs_greedy: "eval/vs_greedy", vs_previous: "eval/vs_previous", elo: ELO_KEY,
  ladder_elo: LADDER_KEY, ladder_elo_error: "eval/ladder_elo_error", accuracy: ACCURACY_KEY, move_loss: "eval/move_loss",
  mate_conversion: "eval/mate_conversion", mate_chances: "eval/mate_chances",
  undecided_vs_random: "eval/vs_random_undecided", undecided_vs_greedy: "eval/vs_greedy_undecided",
};
const ACC_COLOUR = "#f2b705";
const RUNG_COLOUR = "rgba(160, 160, 160, 0.7)";
const COLOURS = { "eval/vs_random": "#3fa7ff", "eval/vs_greedy": "#f0932b", "eval/vs_previous": "#b07cd8" };
const NAMES = { "eval/vs_random": "vs random", "eval/vs_greedy": "vs greedy", "eval/vs_previous": "vs previous" };
const MILESTONES_SHOWN = 5;
const WIDTH = 440;

const pct = (x) => `${Math.round(x * 100)}%`;
const fixed = (x, digits) => (x === null || x === undefined ? "none" : x.toFixed(digits));

// The widget's markup, fixed: built once per page, then only updated in place.
const KEY_ROW = SCORE_KEYS.map(
  (k) => `<span class="key" data-key="${k}"><i style="background:${COLOURS[k]}"></i>${NAMES[k]} <b>none</b></span>`,
).join("") + `<span class="key" data-key="${ACCURACY_KEY}"><i style="background:${ACC_COLOUR}"></i>accuracy <b>none</b></span>`;
const MILESTONE_ROW = `<li hidden><span class="m-update"></span><span class="m-text"><a class="m-title"></a><span class="m-title"></span><span class="m-detail"></span></span></li>`;
const MARKUP = `
<div class="progress-head"><span class="title">Learning progress</span><span class="evals"></span></div>
<div class="empty">No evaluation yet</div>
<div class="label">Score per evaluation (win 1, draw 0.5) by update</div>
<div class="keys">${KEY_ROW}</div>
<div class="scores"></div>
<div class="label finish">Finishing games: <b class="conversion">none</b> <span class="undecided"></span></div>
<div class="label mix">Training games: <b class="mix-text">none yet</b></div>
<div class="label">Ladder Elo (random mover = 0, fitted against the engine rungs) <b class="elo-value">none</b></div>
<div class="ladder-note"></div>
<div class="elo"></div>
<div class="calibration">
  <div class="calib-plot"></div>
  <div class="calib-text">
    <div class="label">Value calibration (showcase games)</div>
    <div class="calib-note">loading...</div>
    <div class="calib-axes">x: predicted Black chance, y: Black's actual score; on the dashed line the value head is calibrated</div>
  </div>
</div>
<div class="label">Milestones</div>
<div class="milestones-empty">No milestone yet</div>
<ol class="milestones">${MILESTONE_ROW.repeat(MILESTONES_SHOWN)}</ol>
<div class="history-note" hidden></div>
`;

async function getJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

export function createProgress(root) {
  root.classList.add("progress-widget");
  root.innerHTML = MARKUP;
  const scoresPlot = new uPlot(
    {
      width: WIDTH, height: 108, legend: { show: false }, cursor: { show: false },
      scales: { x: { time: false }, y: { range: [0, 1] } },
      axes: [axis({ size: 26 }), axis({ size: 44, values: (u, v) => v.map(pct) })],
      series: [
        {},
        ...SCORE_KEYS.map((k) => ({ label: NAMES[k], stroke: COLOURS[k], width: 2, spanGaps: true, points: { show: true, size: 5, fill: COLOURS[k] } })),
        { label: "accuracy", stroke: ACC_COLOUR, width: 2, dash: [5, 3], spanGaps: true, points: { show: true, size: 4, fill: ACC_COLOUR } },
      ],
    },
    [[], [], [], [], []],
    root.querySelector(".scores"),
  );
  // The rungs in view as dashed lines with their names; the y range covers the agent's points and
  // the rungs just below and above them.
  const drawRungs = (u) => {
    const ctx = u.ctx;
    const [lo, hi] = [u.scales.y.min, u.scales.y.max];
    ctx.save();
    ctx.font = `${Math.round(11 * devicePixelRatio)}px sans-serif`;
    ctx.textAlign = "right";
    let lastLabel = Infinity;  // canvas y of the last name written: names closer than a line are skipped
    for (const r of state.rungs) {
      if (r.elo < lo || r.elo > hi) continue;
      const y = u.valToPos(r.elo, "y", true);
      ctx.strokeStyle = RUNG_COLOUR;
      ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
      ctx.beginPath();
      ctx.moveTo(u.bbox.left, y);
      ctx.lineTo(u.bbox.left + u.bbox.width, y);
      ctx.stroke();
      if (lastLabel - y < 12 * devicePixelRatio) continue;  // rungs come in rising order: y falls
      ctx.fillStyle = palette.muted;
      ctx.fillText(`${r.name} ${Math.round(r.elo)}`, u.bbox.left + u.bbox.width - 2, y - 2 * devicePixelRatio);
      lastLabel = y;
    }
    ctx.restore();
  };
  const eloPlot = new uPlot(
    {
      width: WIDTH, height: 100, legend: { show: false }, cursor: { show: false },
      scales: { x: { time: false }, y: { range: (u, min, max) => eloRange(min, max) } },
      axes: [axis({ size: 26 }), axis({ size: 44 })],
      series: [
        {},
        { label: "ladder Elo", stroke: "#2ecc71", width: 2, spanGaps: true, points: { show: true, size: 5, fill: "#2ecc71" } },
        { label: "chain Elo", stroke: palette.muted, width: 1, dash: [2, 3], spanGaps: true, points: { show: false } },
      ],
      hooks: { draw: [drawRungs] },
    },
    [[], [], []],
    root.querySelector(".elo"),
  );
  const calibPlot = new uPlot(
    {
      width: 180, height: 160, legend: { show: false }, cursor: { show: false },
      scales: { x: { time: false, range: [0, 1] }, y: { range: [0, 1] } },
      axes: [axis({ size: 26, values: (u, v) => v.map(pct) }), axis({ size: 44, values: (u, v) => v.map(pct) })],
      series: [
        {},
        { label: "calibrated", stroke: palette.muted, width: 1, dash: [4, 4], points: { show: false } },
        { label: "actual", stroke: "#f0932b", width: 2, spanGaps: false, points: { show: true, size: 7, fill: "#f0932b" } },
      ],
    },
    [[0, 1], [0, 1], [null, null]],
    root.querySelector(".calib-plot"),
  );
  const caption = createCaption(root);
  const el = {
    evals: root.querySelector(".evals"),
    empty: root.querySelector(".empty"),
    keys: Object.fromEntries(SCORE_KEYS.map((k) => [k, root.querySelector(`.key[data-key="${k}"] b`)])),
    elo: root.querySelector(".elo-value"),
    ladderNote: root.querySelector(".ladder-note"),
    accuracy: root.querySelector(`.key[data-key="${ACCURACY_KEY}"] b`),
    calibNote: root.querySelector(".calib-note"),
    milestonesEmpty: root.querySelector(".milestones-empty"),
    milestones: [...root.querySelectorAll(".milestones li")],
    historyNote: root.querySelector(".history-note"),
    conversion: root.querySelector(".finish .conversion"),
    undecided: root.querySelector(".finish .undecided"),
    mix: root.querySelector(".mix .mix-text"),
  };

  const state = {
    runId: null,
    series: Object.fromEntries([...SCORE_KEYS, ELO_KEY, ...EXTRA_KEYS].map((k) => [k, new Map()])),  // key -> update -> value
    rungs: [],  // the calibrated ladder (/api/ladder): {name, elo, error, games}
    engineStatus: null,  // the trainer's word on its engines (e.g. none installed), from `eval`
    games: null,  // games per opponent in the newest evaluation (from `eval` messages)
    milestones: new Map(),  // "kind:update" -> milestone
    calibration: null,  // the /api/calibration answer
    calibrationError: null,
    historyError: null,
    visible: true,
  };
  let generation = 0;  // bumps when the run changes: answers for an older run are dropped
  let calibrationBusy = false;
  let calibrationAgain = false;
  let scheduled = false;

  function put(key, update, value) {
    if (!(key in state.series)) return false;
    state.series[key].set(update, value);
    return true;
  }

  function addMilestone(m) {
    state.milestones.set(`${m.kind}:${m.update}`, m);
  }

  function reset(runId) {
    generation += 1;
    state.runId = runId;
    for (const points of Object.values(state.series)) points.clear();
    state.milestones.clear();
    state.games = null;
    state.calibration = null;
    state.historyError = null;
  }

  async function backfill() {
    const token = generation;
    try {
      let run = state.runId;
      if (run === null) {  // a restarted server knows no run until the trainer says hello: the newest archived
        const runs = (await getJson("/api/runs")).runs;
        if (token !== generation) return;
        if (!runs.length) return;
        run = state.runId = runs[0].id;
      }
      const q = `run=${encodeURIComponent(run)}`;
      const answers = await Promise.all([
        ...[...SCORE_KEYS, ELO_KEY, ...EXTRA_KEYS].map((k) => getJson(`/api/metrics?key=${encodeURIComponent(k)}&${q}`)),
        getJson(`/api/milestones?${q}`),
      ]);
      if (token !== generation) return;
      for (const answer of answers.slice(0, -1)) {
        for (const [update, value] of answer.points) {
          if (!state.series[answer.key].has(update)) put(answer.key, update, value);
        }
      }
      for (const m of answers[answers.length - 1].milestones) addMilestone(m);
      state.historyError = null;
    } catch (error) {
      if (token === generation) state.historyError = `history not loaded: ${error.message}`;
    } finally {
      if (token === generation) {
        schedule();
        refreshCalibration();
      }
    }
  }

  async function refreshCalibration() {
    if (calibrationBusy) { calibrationAgain = true; return; }
    calibrationBusy = true;
    const token = generation;
    try {
      const run = state.runId === null ? "" : `&run=${encodeURIComponent(state.runId)}`;
      const answer = await getJson(`/api/calibration?bins=10${run}`);
      if (token === generation) { state.calibration = answer; state.calibrationError = null; }
    } catch (error) {
      if (token === generation) state.calibrationError = `calibration not loaded: ${error.message}`;
    } finally {
      calibrationBusy = false;
      schedule();
      if (calibrationAgain) { calibrationAgain = false; refreshCalibration(); }
    }
  }

  async function loadLadder() {
    try {
      state.rungs = (await getJson("/api/ladder")).rungs;
    } catch (error) {
      state.rungs = [];
      state.historyError = `ladder not loaded: ${error.message}`;
    }
    schedule();
  }

  function eloRange(min, max) {
    const agent = sorted(LADDER_KEY).map((p) => p[1]);
    if (!agent.length) return [Number.isFinite(min) ? min - 50 : 0, Number.isFinite(max) ? max + 50 : 500];
    let lo = Math.min(...agent), hi = Math.max(...agent);
    const below = state.rungs.filter((r) => r.elo <= lo).map((r) => r.elo);
    const above = state.rungs.filter((r) => r.elo >= hi).map((r) => r.elo);
    if (below.length) lo = Math.max(...below);
    if (above.length) hi = Math.min(...above);
    return [lo - 40, hi + 40];
  }

  function sorted(key) {
    return [...state.series[key].entries()].filter(([, v]) => v !== null).sort((a, b) => a[0] - b[0]);
  }

  function latestEvaluation() {
    const updates = [...state.series[SCORE_KEYS[0]].keys(), ...state.series[ELO_KEY].keys()];
    if (!updates.length) return null;
    const update = Math.max(...updates);
    const at = (key) => (state.series[key].has(update) ? state.series[key].get(update) : null);
    return {
      update, random: at("eval/vs_random"), greedy: at("eval/vs_greedy"), previous: at("eval/vs_previous"), elo: at(ELO_KEY),
      ladder: at(LADDER_KEY), ladderError: at("eval/ladder_elo_error"), accuracy: at(ACCURACY_KEY),
      conversion: at("eval/mate_conversion"), undecided: at("eval/vs_random_undecided"),
    };
  }

  function drawScores() {
    const xs = [...new Set(SCORE_KEYS.flatMap((k) => [...state.series[k].keys()]))].sort((a, b) => a - b);
    const ys = SCORE_KEYS.map((k) => xs.map((u) => (state.series[k].has(u) ? state.series[k].get(u) : null)));
    const acc = state.series[ACCURACY_KEY];
    scoresPlot.setData([xs, ...ys, xs.map((u) => (acc.has(u) && acc.get(u) !== null ? acc.get(u) / 100 : null))]);
    const elo = sorted(ELO_KEY);
    const ladder = state.series[LADDER_KEY];
    const eloXs = [...new Set([...state.series[ELO_KEY].keys(), ...ladder.keys()])].sort((a, b) => a - b);
    const at = (series, u) => (series.has(u) ? series.get(u) : null);
    eloPlot.setData([eloXs, eloXs.map((u) => at(ladder, u)), eloXs.map((u) => at(state.series[ELO_KEY], u))]);
    const accPoints = sorted(ACCURACY_KEY);
    const loss = sorted("eval/move_loss");
    el.accuracy.textContent = accPoints.length
      ? `${accPoints[accPoints.length - 1][1].toFixed(1)}%` + (loss.length ? `, loss ${loss[loss.length - 1][1].toFixed(1)} pts` : "")
      : "none";
    for (const k of SCORE_KEYS) {
      const points = sorted(k);
      el.keys[k].textContent = points.length ? pct(points[points.length - 1][1]) : "none";
    }
    const ladderPoints = sorted(LADDER_KEY);
    const err = sorted("eval/ladder_elo_error");
    el.elo.textContent = ladderPoints.length
      ? `${ladderPoints[ladderPoints.length - 1][1].toFixed(0)}` + (err.length ? ` ± ${err[err.length - 1][1].toFixed(0)}` : "")
      : "none";
    el.ladderNote.textContent = state.engineStatus
      ? state.engineStatus
      : ladderPoints.length
      ? `dashed: the ladder's rungs; dotted: the chain Elo from the previous-snapshot matches (now ${elo.length ? elo[elo.length - 1][1].toFixed(0) : "none"})`
      : (state.rungs.length ? "no ladder evaluation yet" : "no calibrated ladder") +
        (elo.length ? `; chain Elo from the previous-snapshot matches ${elo[elo.length - 1][1].toFixed(0)} (dotted)` : "");
    const evaluations = state.series[SCORE_KEYS[0]].size;
    el.empty.hidden = xs.length > 0 || elo.length > 0;
    drawFinish();
    el.evals.textContent = evaluations
      ? `${evaluations} evaluation${evaluations === 1 ? "" : "s"}${state.games ? `, ${state.games} games each` : ""}`
      : "";
  }

  function latest(key) {
    const points = sorted(key);
    return points.length ? points[points.length - 1] : null;
  }

  // Mate-in-one conversion and the undecided share of the newest evaluation; then the opponents of
  // the training games over the last MIX_WINDOW updates with metrics.
  function drawFinish() {
    const conv = latest("eval/mate_conversion");
    const chances = latest("eval/mate_chances");
    el.conversion.textContent = conv
      ? `mate in one played ${pct(conv[1])}` + (chances && chances[0] === conv[0] ? ` of ${chances[1]} chances` : "")
      : chances && chances[1] === 0 ? "no mate-in-one chance in the last evaluation" : "none";
    const ur = latest("eval/vs_random_undecided");
    const ug = latest("eval/vs_greedy_undecided");
    el.undecided.textContent = ur || ug
      ? `· undecided (ply cap or repetition): ${ur ? `${pct(ur[1])} vs random` : ""}${ur && ug ? ", " : ""}${ug ? `${pct(ug[1])} vs greedy` : ""}`
      : "";
    const updates = [...new Set(MIX_KEYS.slice(0, 4).flatMap((k) => [...state.series[k].keys()]))].sort((a, b) => a - b);
    const recent = updates.slice(-MIX_WINDOW);
    if (!recent.length) { el.mix.textContent = "none yet"; return; }
    const sum = (key) => recent.reduce((acc, u) => acc + (state.series[key].get(u) ?? 0), 0);
    const opp = latest("pool/opponent_update");
    const past = sum("pool/games");
    const greedy = sum("curriculum/greedy_games");
    const share = latest("curriculum/greedy_share");  // the opponent mix (a knob, or greedy_share_auto)
    const plies = latest("curriculum/greedy_plies");  // the training greedy mover (the evaluation's is one-ply)
    const greedyName = plies !== null && plies[1] === 2 ? "the two-ply greedy mover" : "the greedy mover";
    const pastName = opp === null ? "" : opp[1] < 0 ? " (a frozen copy of itself)" : ` (its update ${opp[1].toFixed(0)})`;
    el.mix.textContent =
      `last ${recent.length} update${recent.length === 1 ? "" : "s"}: ${sum("selfplay/games")} against itself, ` +
      `${sum("curriculum/games")} against the random mover` +
      (greedy || state.series["curriculum/greedy_games"].size ? `, ${greedy} against ${greedyName}` : "") +
      (past || state.series["pool/opponent_update"].size ? `, ${past} against a past self${pastName}` : "") +
      (share === null ? "" : ` · the curriculum's games now ${pct(share[1])} against ${greedyName}`);
  }

  function drawCalibration() {
    const c = state.calibration;
    const filled = c ? c.bins.filter((b) => b.count > 0) : [];
    const xs = [0, ...filled.map((b) => b.predicted), 1];
    calibPlot.setData([xs, xs, [null, ...filled.map((b) => b.actual), null]]);
    if (state.calibrationError) {
      el.calibNote.textContent = state.calibrationError;
    } else if (!c) {
      el.calibNote.textContent = "loading...";
    } else if (!filled.length) {
      el.calibNote.textContent = "no finished showcase games with evaluations yet";
    } else {
      const left = c.truncated_skipped ? `; ${c.truncated_skipped} truncated game${c.truncated_skipped === 1 ? "" : "s"} left out` : "";
      el.calibNote.textContent =
        `${c.positions} positions from ${c.games} finished game${c.games === 1 ? "" : "s"}, Brier ${c.brier.toFixed(3)}${left}`;
    }
  }

  function drawMilestones() {
    const all = [...state.milestones.values()].sort((a, b) => a.update - b.update);
    const shown = all.slice(-MILESTONES_SHOWN);
    el.milestonesEmpty.hidden = shown.length > 0;
    el.milestones.forEach((li, i) => {
      const m = shown[i];
      li.hidden = !m;
      if (!m) return;
      li.dataset.kind = m.kind;
      li.querySelector(".m-update").textContent = `update ${m.update}`;
      const [link, plain] = li.querySelectorAll(".m-title");
      link.hidden = !m.game_id;
      plain.hidden = !!m.game_id;
      if (m.game_id) {
        link.textContent = m.title;
        link.href = `/replays/${encodeURIComponent(m.game_id)}`;
      } else {
        link.removeAttribute("href");
        plain.textContent = m.title;
      }
      li.querySelector(".m-detail").textContent = m.detail;
    });
  }

  function describe() {
    const e = latestEvaluation();
    if (!e) {
      return {
        plain: "No evaluation yet: the AI has not been tested against its benchmark opponents",
        technical: "no eval/* values yet",
      };
    }
    const against = [
      e.random !== null ? `${pct(e.random)} against a random player` : null,
      e.greedy !== null ? `${pct(e.greedy)} against a greedy one` : null,
      e.previous !== null ? `${pct(e.previous)} against its earlier self` : null,
    ].filter(Boolean);
    let plain = `Latest test (update ${e.update}): the AI scores ${against.join(", ") || "nothing yet"}`;
    if (e.ladder !== null) {
      const near = state.rungs.filter((r) => r.elo <= e.ladder).pop();
      plain += `; rated ${e.ladder.toFixed(0)} Elo on the engine ladder` + (near ? `, above ${near.name}` : "");
    } else if (e.elo !== null) {
      plain += `; rating ${e.elo.toFixed(0)} Elo above random`;
    }
    if (e.accuracy !== null) plain += `; move accuracy ${e.accuracy.toFixed(0)}% by the engine`;
    if (e.conversion !== null) plain += `; it played ${pct(e.conversion)} of the mates in one it had`;
    const c = state.calibration;
    const brier = c && c.brier !== null ? `; calibration Brier ${c.brier.toFixed(3)} (${c.positions} positions)` : "";
    return {
      plain,
      technical:
        `update ${e.update}: vs_random ${fixed(e.random, 3)}, vs_greedy ${fixed(e.greedy, 3)}, ` +
        `vs_previous ${fixed(e.previous, 3)}, chain Elo ${fixed(e.elo, 0)}, ladder Elo ${fixed(e.ladder, 0)}` +
        (e.ladderError !== null ? ` ± ${e.ladderError.toFixed(0)}` : "") + `, accuracy ${fixed(e.accuracy, 1)}` +
        (state.games ? ` (n=${state.games} games each)` : "") + brier +
        (e.conversion !== null ? `, mate-in-one conversion ${fixed(e.conversion, 3)}` : "") +
        (e.undecided !== null ? `, undecided vs random ${fixed(e.undecided, 3)}` : ""),
    };
  }

  function draw() {
    scheduled = false;
    if (!state.visible) return;
    drawScores();
    drawCalibration();
    drawMilestones();
    el.historyNote.hidden = !state.historyError;
    el.historyNote.textContent = state.historyError || "";
    caption.set(describe());
  }

  function schedule() {
    if (!scheduled) { scheduled = true; scheduleDraw(draw); }
  }

  return {
    state,
    fromSnapshot(metrics, snapshot) {
      const run = snapshot.trainer.run_id;
      if (run !== state.runId || run === null) reset(run);
      for (const key of Object.keys(state.series)) {
        for (const [update, value] of metrics[key] || []) put(key, update, value);
      }
      for (const m of snapshot.milestones) addMilestone(m);
      schedule();
      backfill();
      if (!state.rungs.length) loadLadder();
    },
    onTrainerStatus(d) {
      if (d.run_id && d.run_id !== state.runId) {
        reset(d.run_id);
        schedule();
        backfill();
      }
    },
    onMetrics(d) {
      let changed = false;
      for (const [key, value] of Object.entries(d.values)) changed = put(key, d.update, value) || changed;
      if (changed) schedule();  // most updates carry no evaluation: nothing here to redraw
    },
    onEval(d) {
      // A field the message lacks (an older trainer) leaves what the metrics said; an explicit null is "none".
      for (const [field, key] of Object.entries(EVAL_FIELDS)) if (d[field] !== undefined) put(key, d.update, d[field]);
      state.games = d.games;
      state.engineStatus = d.engine_status ?? null;
      schedule();
    },
    onMilestone(m) { addMilestone(m); schedule(); },
    onGameEnd() { refreshCalibration(); },
    setVisible(v) { state.visible = v; if (v) schedule(); },
  };
}
