// Poll widget: a pause-and-predict round (countdown, chat's live distribution, then the reveal: the
// AI's move with its top-5 probabilities beside chat's share for each) or a strategy poll (choices
// with live bars, then what chat chose), and the latest chat highlights. Every chat-derived string
// (names, labels) goes in as text. DOM is built once; drawing happens at most once per frame; the
// countdown ticks only while a poll is open.
import { createCaption } from "../captions.js";
import { scheduleDraw } from "../frame.js";

const BAR_ROW = `<li hidden><span class="name"></span><span class="track"><span class="bar"></span></span><span class="count"></span></li>`;
const REVEAL_ROW = `<tr hidden><td class="name"></td><td class="ai"></td><td class="chat"></td></tr>`;
const CHAT_ROW = `<li hidden><span class="src"></span><span class="who"></span><span class="what"></span></li>`;
const MARKUP = `
<div class="poll-head"><span class="kind"></span><span class="clock"></span></div>
<div class="question"></div>
<div class="idle">No poll running. Type <b>!help</b> in chat to see how to play.</div>
<ol class="bars">${BAR_ROW.repeat(6)}</ol>
<div class="reveal" hidden>
  <div class="answer"></div>
  <div class="engine-choice"></div>
  <table><thead><tr><th>move</th><th>AI</th><th>chat</th></tr></thead><tbody>${REVEAL_ROW.repeat(6)}</tbody></table>
  <div class="winners"></div>
</div>
<div class="status"></div>
<ol class="chat">${CHAT_ROW.repeat(4)}</ol>
`;

const pct = (x) => `${Math.round(x * 100)}%`;

/** The plain and technical captions of the poll state. */
function describe(s) {
  const poll = s.poll;
  if (!poll) return { plain: "No poll running", technical: "poll engine idle" };
  const total = s.tally ? s.tally.total_votes : 0;
  const leader = s.tally && s.tally.choices.length && s.tally.choices[0].votes ? s.tally.choices[0] : null;
  if (s.reveal && poll.kind === "predict" && s.reveal.answer) {
    const answer = s.reveal.answer;
    const ai = s.reveal.ai_top.find((m) => m.usi === answer.usi);
    const got = s.reveal.winners.length;
    return {
      plain: `The AI played ${answer.japanese}; ${got} of ${total} predictors got it`,
      technical: `a=${answer.usi}, π(a|s)=${ai ? ai.prob.toFixed(3) : "none"}; exact ${got}/${total};`
        + ` chat mode ${leader ? leader.key : "none"}`,
    };
  }
  if (s.reveal) {
    return { plain: `Chat chose: ${leader ? leader.label : "nothing"}`, technical: `strategy poll: ${total} votes, winner ${leader ? leader.key : "none"}` };
  }
  const lead = leader ? `, most for ${leader.label}` : "";
  return {
    plain: poll.kind === "predict" ? `Chat is guessing the AI's next move: ${total} votes${lead}` : `${poll.question} ${total} votes${lead}`,
    technical: `${poll.kind} poll ${poll.poll_id}: ${total} votes, ${s.tally ? s.tally.choices.filter((c) => c.votes).length : 0} distinct choices`,
  };
}

/** The line under a closed poll: why it was cancelled, or where a parameter challenge stands. */
export function statusLine(closed, approved = false) {
  if (!closed) return "";
  if (closed.outcome === "cancelled") return `Poll cancelled${closed.reason ? `: ${closed.reason}` : ""}`;
  if (closed.outcome === "awaiting_approval") return `Chat chose ${closed.reason}: waiting for the streamer's approval`;
  if (approved) return `Approved by the streamer: ${closed.reason}, from the AI's next training update`;
  return "";
}

export function createPoll(root) {
  root.classList.add("poll-widget");
  root.innerHTML = MARKUP;
  const $ = (sel) => root.querySelector(sel);
  const bars = [...root.querySelectorAll(".bars li")];
  const revealRows = [...root.querySelectorAll(".reveal tr[hidden]")];
  const chatRows = [...root.querySelectorAll(".chat li")];
  const caption = createCaption(root);
  const state = { poll: null, tally: null, reveal: null, closed: null, approved: false, chat: [], visible: true };
  let scheduled = false;
  let ticking = null;

  function drawBars() {
    const choices = state.tally ? state.tally.choices : state.poll ? state.poll.choices : [];
    const total = Math.max(1, state.tally ? state.tally.total_votes : 0);
    bars.forEach((li, i) => {
      const c = choices[i];
      li.hidden = !c;
      if (!c) return;
      const prefix = state.poll && state.poll.kind === "strategy" ? `${c.key}. ` : "";
      li.querySelector(".name").textContent = prefix + c.label;
      li.querySelector(".bar").style.width = pct(c.votes / total);
      li.querySelector(".count").textContent = String(c.votes);
    });
  }

  function drawReveal() {
    const r = state.reveal;
    const predict = r && r.answer;
    $(".reveal").hidden = !r;
    if (!r) return;
    const total = state.tally ? state.tally.total_votes : r.choices.reduce((n, c) => n + c.votes, 0);
    const chatShare = (usi) => {
      const c = r.choices.find((x) => x.key === usi);
      return total ? pct((c ? c.votes : 0) / total) : "no votes";
    };
    if (predict) {
      $(".answer").textContent = `The AI played ${r.answer.japanese} (${r.answer.western})`;
      const e = r.engine_move;
      const engine = (r.engine || "engine").split(/[ ,]/)[0];
      $(".engine-choice").textContent = e
        ? `${engine} would play ${e.japanese} (${e.western}): chat ${chatShare(e.usi)}` + (e.usi === r.answer.usi ? ", the same as the AI" : "")
        : r.engine ? `engine: no choice (${r.engine})` : "engine: no choice";
      revealRows.forEach((tr, i) => {
        const m = r.ai_top[i];
        tr.hidden = !m;
        if (!m) return;
        tr.querySelector(".name").textContent = `${m.japanese} ${m.western}`;
        tr.querySelector(".ai").textContent = pct(m.prob);
        tr.querySelector(".chat").textContent = chatShare(m.usi);
        tr.classList.toggle("played", m.usi === r.answer.usi);
      });
      const w = r.winners;
      $(".winners").textContent = w.length
        ? `Got it: ${w.slice(0, 8).join(", ")}${w.length > 8 ? ` and ${w.length - 8} more` : ""}`
        : "Nobody got it this time";
    } else {
      const best = r.choices.reduce((a, c) => (c.votes > (a ? a.votes : -1) ? c : a), null);
      $(".answer").textContent = best && best.votes ? `Chat chose: ${best.label}` : "No votes";
      revealRows.forEach((tr) => { tr.hidden = true; });
      $(".winners").textContent = "";
      $(".engine-choice").textContent = "";
    }
    $(".reveal table").hidden = !predict;
  }

  function draw() {
    scheduled = false;
    if (!state.visible) return;
    const poll = state.poll;
    $(".idle").hidden = poll !== null || state.closed !== null;
    $(".kind").textContent = !poll ? "Chat plays along" : poll.kind === "predict" ? "Pause and predict" : "Chat decides";
    $(".question").textContent = poll ? poll.question : "";
    if (poll && poll.kind === "predict" && !state.reveal) {
      $(".question").textContent = `${poll.question}  Type !predict and a move (7g7f, P-7f or ７六歩)`;
    } else if (poll && poll.kind === "strategy" && !state.reveal) {
      $(".question").textContent = `${poll.question}  Type !vote and a number`;
    }
    drawClock();
    drawBars();
    drawReveal();
    const closed = state.closed;
    $(".status").textContent = statusLine(closed, state.approved);
    chatRows.forEach((li, i) => {
      const c = state.chat[i];
      li.hidden = !c;
      if (!c) return;
      li.querySelector(".src").textContent = c.source === "local" ? "local" : "";
      li.querySelector(".src").hidden = c.source !== "local";
      li.querySelector(".who").textContent = c.user;
      li.querySelector(".what").textContent = c.text;
    });
    caption.set(describe(state));
  }

  function drawClock() {
    const poll = state.poll;
    let text = "";
    if (poll && !state.reveal) {
      const left = Math.max(0, Math.ceil((poll.closes_at_ms - Date.now()) / 1000));
      text = left > 0 ? `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}` : "closing";
    } else if (state.reveal) {
      text = "revealed";
    }
    $(".clock").textContent = text;
  }

  // The countdown: a timer only while a poll is open, stopped on reveal, close or hide.
  function tick() {
    ticking = null;
    if (!state.visible || !state.poll || state.reveal) return;
    drawClock();
    ticking = setTimeout(tick, 1000 - (Date.now() % 1000) + 5);
  }

  function restartClock() {
    if (ticking !== null) clearTimeout(ticking);
    ticking = null;
    tick();
  }

  function schedule() {
    if (!scheduled) { scheduled = true; scheduleDraw(draw); }
  }

  return {
    fromSnapshot(metrics, snapshot) {
      state.poll = snapshot.poll || null;
      state.tally = snapshot.tally || null;
      state.reveal = snapshot.reveal || null;
      state.closed = null;
      restartClock();
      schedule();
    },
    onPollOpen(d) {
      Object.assign(state, { poll: d, tally: null, reveal: null, closed: null });
      restartClock();
      schedule();
    },
    onPollTally(d) {
      if (state.poll && d.poll_id === state.poll.poll_id) { state.tally = d; schedule(); }
    },
    onPollReveal(d) {
      if (state.poll && d.poll_id === state.poll.poll_id) { state.reveal = d; restartClock(); schedule(); }
    },
    onPollClosed(d) {
      if (!state.poll || d.poll_id !== state.poll.poll_id) return;
      state.approved = d.outcome === "applied" && state.closed !== null && state.closed.outcome === "awaiting_approval";
      state.closed = d;
      if (d.outcome === "cancelled") { state.poll = null; state.tally = null; state.reveal = null; }
      // A revealed or applied poll stays on screen until the next one opens.
      restartClock();
      schedule();
    },
    onChat(d) {
      state.chat = [d, ...state.chat].slice(0, chatRows.length);
      schedule();
    },
    setVisible(v) { state.visible = v; if (v) { restartClock(); schedule(); } },
  };
}
