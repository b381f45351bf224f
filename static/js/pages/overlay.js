// /overlay: the 1920x1080 composite (board, moves and value, PPO health) on one socket.
import { connectFeed } from "../socket.js";
import { T } from "../protocol.js";
import { createBoard, MAPS } from "../widgets/board.js";
import { createMoves } from "../widgets/moves.js";
import { createHealth } from "../widgets/health.js";

const params = new URLSearchParams(location.search);
const mapName = MAPS[params.get("map")] ? params.get("map") : "se_attention_mean";
const board = createBoard(document.getElementById("board-widget"), { mapName });
const moves = createMoves(document.getElementById("moves-widget"));
const health = createHealth(document.getElementById("health-widget"));
const feedState = document.getElementById("feed-state");
let gameId = null;
let trainerOnline = false;

function showFeedState(socketState) {
  const text = socketState !== "live" ? "reconnecting to the showcase server..." : trainerOnline ? "" : "trainer offline";
  feedState.textContent = text;
  feedState.hidden = text === "";
}

connectFeed({
  onState: showFeedState,
  onSnapshot(snapshot) {
    trainerOnline = snapshot.trainer.connected;
    gameId = snapshot.game ? snapshot.game.game_id : null;
    board.showGame(snapshot.game, snapshot.moves);
    moves.showGame(snapshot.game, snapshot.moves);
    health.fromSnapshot(snapshot.metrics);
    showFeedState("live");
  },
  onMessage(message) {
    const d = message.d;
    if (message.t === T.TRAINER_STATUS) { trainerOnline = d.connected; showFeedState("live"); }
    else if (message.t === T.METRICS) health.onMetrics(d);
    else if (message.t === T.GAME_START && d.kind === "showcase") {
      gameId = d.game_id;
      board.showGame(d, []);
      moves.showGame(d, []);
    } else if (message.t === T.MOVE && d.game_id === gameId) {
      board.playMove(d);
      moves.playMove(d);
    }
  },
});

window.addEventListener("obsSourceVisibleChanged", (event) => {
  for (const widget of [board, moves, health]) widget.setVisible(event.detail.visible);
});
