// One runner for every page: a single socket, the feed-state banner ("trainer offline",
// "reconnecting"), the page parameters (params.js: theme, scale, background, captions) and dispatch to
// whichever widgets the page shows. A widget implements what it needs of showGame(game, moves),
// playMove(move), onGameEnd(end) (the showcase game's), fromSnapshot(metrics, snapshot),
// onMetrics(metrics), onEval(evaluation), onMilestone(milestone), onTrainerStatus(status),
// onPollOpen / onPollTally / onPollReveal / onPollClosed(poll), onChat(highlight),
// onLeaderboard(board), onStatus(trainer status), onKnobChange(change), onServerLoad(load), onTraining(thumbnails), onAnalysis(analysis) (the engine's judgement of a
// move of the showcase game), onEngineState(state) and setVisible(visible).
import { connectFeed } from "../socket.js";
import { T } from "../protocol.js";
import "../params.js";

// Messages that go straight to one widget method.
const HANDLERS = {
  [T.STATUS]: "onStatus",
  [T.SERVER_LOAD]: "onServerLoad",
  [T.TRAINING_GAMES]: "onTraining",
  [T.POLL_OPEN]: "onPollOpen",
  [T.POLL_TALLY]: "onPollTally",
  [T.POLL_REVEAL]: "onPollReveal",
  [T.POLL_CLOSED]: "onPollClosed",
  [T.CHAT_HIGHLIGHT]: "onChat",
  [T.LEADERBOARD]: "onLeaderboard",
  [T.ENGINE_STATE]: "onEngineState",
  [T.KNOB_CHANGE]: "onKnobChange",
};

export function runPage(widgets) {
  const feedState = document.getElementById("feed-state");
  let gameId = null;
  let trainerOnline = false;
  const each = (method, ...args) => widgets.forEach((w) => w[method]?.(...args));

  function showFeedState(socketState) {
    const text = socketState !== "live" ? "reconnecting to the showcase server..." : trainerOnline ? "" : "trainer offline";
    feedState.textContent = text;
    feedState.hidden = text === "";
  }

  function applySnapshot(snapshot) {
    trainerOnline = snapshot.trainer.connected;
    gameId = snapshot.game ? snapshot.game.game_id : null;
    each("showGame", snapshot.game, snapshot.moves);
    each("fromSnapshot", snapshot.metrics, snapshot);
  }

  // The server inlines the snapshot the socket would send first (templates/base.html): the widgets
  // draw from it in the first frame, before the socket opens; the socket's own replaces it.
  const inline = document.getElementById("first-snapshot");
  if (inline) {
    try {
      applySnapshot(JSON.parse(inline.textContent));
    } catch (err) {  // a bad inline snapshot must not stop the socket: its own snapshot follows
      console.warn("inline snapshot not used:", err);
    }
  }

  connectFeed({
    onState: showFeedState,
    onSnapshot(snapshot) {
      applySnapshot(snapshot);
      showFeedState("live");
    },
    onMessage(message) {
      const d = message.d;
      if (message.t === T.TRAINER_STATUS) {
        trainerOnline = d.connected;
        showFeedState("live");
        each("onTrainerStatus", d);
      } else if (message.t === T.METRICS) {
        each("onMetrics", d);
      } else if (message.t === T.EVAL) {
        each("onEval", d);
      } else if (message.t === T.MILESTONE) {
        each("onMilestone", d);
      } else if (message.t === T.GAME_START && d.kind === "showcase") {
        gameId = d.game_id;
        each("showGame", d, []);
      } else if (message.t === T.MOVE && d.game_id === gameId) {
        each("playMove", d);
      } else if (message.t === T.ANALYSIS && d.game_id === gameId) {
        each("onAnalysis", d);
      } else if (message.t === T.GAME_END && d.game_id === gameId) {
        each("onGameEnd", d);
      } else if (HANDLERS[message.t]) {
        each(HANDLERS[message.t], d);
      }
    },
  });

  window.showcase = { widgets };  // for a look from the browser console (and the browser tests)

  // OBS calls this when the source is hidden or shown: draw nothing while hidden.
  window.addEventListener("obsSourceVisibleChanged", (event) => each("setVisible", event.detail.visible));
}
