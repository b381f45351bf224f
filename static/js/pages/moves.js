// /overlay/moves: the moves and value widget on its own, fed by the live socket.
import { connectFeed } from "../socket.js";
import { T } from "../protocol.js";
import { createMoves } from "../widgets/moves.js";

const moves = createMoves(document.getElementById("moves-widget"));
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
    moves.showGame(snapshot.game, snapshot.moves);
    showFeedState("live");
  },
  onMessage(message) {
    const d = message.d;
    if (message.t === T.TRAINER_STATUS) { trainerOnline = d.connected; showFeedState("live"); }
    else if (message.t === T.GAME_START && d.kind === "showcase") { gameId = d.game_id; moves.showGame(d, []); }
    else if (message.t === T.MOVE && d.game_id === gameId) moves.playMove(d);
  },
});

window.addEventListener("obsSourceVisibleChanged", (event) => moves.setVisible(event.detail.visible));
