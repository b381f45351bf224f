// Leaderboard widget: the predictors' standings (points, exact predictions of all made, current
// streak), from the snapshot and every `leaderboard` message. Names are chat-derived: text only.
import { createCaption } from "../captions.js";
import { scheduleDraw } from "../frame.js";

const ROW = `<tr hidden><td class="rank"></td><td class="who"></td><td class="pts"></td><td class="hits"></td><td class="streak"></td></tr>`;
const MARKUP = `
<div class="lb-head">Top predictors</div>
<table><thead><tr><th>#</th><th>name</th><th>points</th><th>exact</th><th>streak</th></tr></thead>
<tbody>${ROW.repeat(10)}</tbody></table>
<div class="empty">No scored predictions yet: join the next prediction round with !predict</div>
`;

function describe(entries) {
  if (!entries.length) return { plain: "No one has scored yet", technical: "leaderboard empty" };
  const [first] = entries;
  const exact = entries.reduce((n, e) => n + e.correct, 0);
  const made = entries.reduce((n, e) => n + e.total, 0);
  return {
    plain: `${first.user} leads with ${first.points} points`,
    technical: `top ${entries.length}: ${exact}/${made} predictions exact (${made ? Math.round((100 * exact) / made) : 0}%)`,
  };
}

export function createLeaderboard(root, { rows = 10 } = {}) {
  root.classList.add("leaderboard-widget");
  root.innerHTML = MARKUP;
  const trs = [...root.querySelectorAll("tbody tr")].slice(0, rows);
  const empty = root.querySelector(".empty");
  const caption = createCaption(root);
  const state = { entries: [], visible: true };
  let scheduled = false;

  function draw() {
    scheduled = false;
    if (!state.visible) return;
    empty.hidden = state.entries.length > 0;
    root.querySelector("table").hidden = state.entries.length === 0;
    trs.forEach((tr, i) => {
      const e = state.entries[i];
      tr.hidden = !e;
      if (!e) return;
      tr.querySelector(".rank").textContent = String(i + 1);
      tr.querySelector(".who").textContent = e.user;
      tr.querySelector(".pts").textContent = String(e.points);
      tr.querySelector(".hits").textContent = `${e.correct}/${e.total}`;
      tr.querySelector(".streak").textContent = e.streak ? String(e.streak) : "";
    });
    caption.set(describe(state.entries));
  }

  function schedule() {
    if (!scheduled) { scheduled = true; scheduleDraw(draw); }
  }

  return {
    fromSnapshot(metrics, snapshot) { state.entries = snapshot.leaderboard || []; schedule(); },
    onLeaderboard(d) { state.entries = d.entries; schedule(); },
    setVisible(v) { state.visible = v; if (v) schedule(); },
  };
}
