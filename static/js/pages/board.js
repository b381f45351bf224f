// /overlay/board: the board widget on its own, fed by the live socket.
import { connectFeed } from "../socket.js";
import { T } from "../protocol.js";
import { createBoard, MAPS } from "../widgets/board.js";

const params = new URLSearchParams(location.search);
const mapName = MAPS[params.get("map")] ? params.get("map") : "se_attention_mean";
const root = document.getElementById("board-widget");
const feedState = document.getElementById("feed-state");
const board = createBoard(root, { mapName });
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
    showFeedState("live");
  },
  onMessage(message) {
    const d = message.d;
    if (message.t === T.TRAINER_STATUS) {
      trainerOnline = d.connected;
      showFeedState("live");
    } else if (message.t === T.GAME_START && d.kind === "showcase") {
      gameId = d.game_id;
      board.showGame(d, []);
    } else if (message.t === T.MOVE && d.game_id === gameId) {
      board.playMove(d);
    }
  },
});

// OBS calls this when the source is hidden or shown: draw nothing while hidden.
window.addEventListener("obsSourceVisibleChanged", (event) => board.setVisible(event.detail.visible));
