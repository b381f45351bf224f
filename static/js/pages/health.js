// /overlay/health: the PPO health widget on its own, fed by the live socket.
import { connectFeed } from "../socket.js";
import { T } from "../protocol.js";
import { createHealth } from "../widgets/health.js";

const health = createHealth(document.getElementById("health-widget"));
const feedState = document.getElementById("feed-state");
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
    health.fromSnapshot(snapshot.metrics);
    showFeedState("live");
  },
  onMessage(message) {
    if (message.t === T.METRICS) health.onMetrics(message.d);
    else if (message.t === T.TRAINER_STATUS) { trainerOnline = message.d.connected; showFeedState("live"); }
  },
});

window.addEventListener("obsSourceVisibleChanged", (event) => health.setVisible(event.detail.visible));
