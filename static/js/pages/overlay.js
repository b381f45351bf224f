// /overlay: the 1920x1080 composite (board, moves and value, PPO health, learning progress, the
// chat poll, the predictors' leaderboard and the status strip) on one socket.
import { runPage } from "./run.js";
import { createBoard, mapFromQuery } from "../widgets/board.js";
import { createMoves } from "../widgets/moves.js";
import { createHealth } from "../widgets/health.js";
import { createProgress } from "../widgets/progress.js";
import { createPoll } from "../widgets/poll.js";
import { createLeaderboard } from "../widgets/leaderboard.js";
import { createStatus } from "../widgets/status.js";

runPage([
  createBoard(document.getElementById("board-widget"), { mapName: mapFromQuery() }),
  createMoves(document.getElementById("moves-widget")),
  createHealth(document.getElementById("health-widget")),
  createProgress(document.getElementById("progress-widget")),
  createPoll(document.getElementById("poll-widget")),
  createLeaderboard(document.getElementById("leaderboard-widget"), { rows: 8 }),
  createStatus(document.getElementById("status-widget")),
]);
