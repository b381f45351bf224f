// /overlay: the 1920x1080 composite (board, moves and value, PPO health, learning progress, the
// chat poll, the predictors' leaderboard and the status strip) on one socket.
import { runPage } from "./run.js";
import { paceForBroadcast } from "../frame.js";

paceForBroadcast();  // an OBS source: at most 2 passes a second in a burst (static/js/frame.js)
import { createBoard, mapFromQuery } from "../widgets/board.js";
import { createMoves } from "../widgets/moves.js";
import { createHealth } from "../widgets/health.js";
import { createProgress } from "../widgets/progress.js";
import { createPoll } from "../widgets/poll.js";
import { createLeaderboard } from "../widgets/leaderboard.js";
import { createStatus } from "../widgets/status.js";
import { createTraining } from "../widgets/training.js";

// ?layout=: "classic" (the default: every widget, the training thumbnails included, no free space),
// "board-left" and "board-right" (a 480x270 space kept clear for a webcam instead of the thumbnails;
// the poll takes the learning-progress column while a round is on), "compact" (1280x720: board, moves, poll and the status strip, a 320x180 webcam space).
// ?webcam=outline draws the webcam space's border, to line the camera up in OBS.
export const LAYOUTS = ["classic", "board-left", "board-right", "compact"];
const q = new URLSearchParams(location.search);
document.body.dataset.layout = LAYOUTS.includes(q.get("layout")) ? q.get("layout") : "classic";
if (q.get("webcam") === "outline") document.body.classList.add("webcam-outline");

// The poll's slot state: "on" from poll_open until poll_closed (the reveal included).
const pollSlot = {
  fromSnapshot(metrics, snapshot) { document.body.dataset.poll = snapshot.poll || snapshot.reveal ? "on" : "off"; },
  onPollOpen() { document.body.dataset.poll = "on"; },
  onPollClosed() { document.body.dataset.poll = "off"; },
};

runPage([
  pollSlot,
  createBoard(document.getElementById("board-widget"), { mapName: mapFromQuery() }),
  createMoves(document.getElementById("moves-widget")),
  createHealth(document.getElementById("health-widget")),
  createProgress(document.getElementById("progress-widget")),
  createPoll(document.getElementById("poll-widget")),
  // Rows that fit the layout's slot under the thumbnails (classic) or the progress column (presets).
  createLeaderboard(document.getElementById("leaderboard-widget"), { rows: document.body.dataset.layout === "classic" ? 3 : 4 }),
  createStatus(document.getElementById("status-widget")),
  createTraining(document.getElementById("training-widget")),
]);
