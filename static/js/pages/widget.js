// /overlay/<name>: one widget on a page of its own (an OBS source of its own), named by the path. The
// server answers 404 for any other name (server/routes/pages.py: WIDGET_PAGES) and fills in the
// widget's name, title and styles; only the named widget's module is loaded.
import { runPage } from "./run.js";
import { paceForBroadcast } from "../frame.js";

paceForBroadcast();  // an OBS source: at most 2 passes a second in a burst (static/js/frame.js)

const WIDGETS = {
  board: ["board", async (root) => {
    const { createBoard, mapFromQuery } = await import("../widgets/board.js");
    return createBoard(root, { mapName: mapFromQuery() });
  }],
  moves: ["moves and value", async (root) => (await import("../widgets/moves.js")).createMoves(root)],
  health: ["PPO health", async (root) => (await import("../widgets/health.js")).createHealth(root)],
  progress: ["learning progress", async (root) => (await import("../widgets/progress.js")).createProgress(root)],
  poll: ["poll", async (root) => (await import("../widgets/poll.js")).createPoll(root)],
  leaderboard: ["leaderboard", async (root) => (await import("../widgets/leaderboard.js")).createLeaderboard(root)],
  training: ["training games", async (root) => (await import("../widgets/training.js")).createTraining(root)],
  scorecard: ["match scorecard", async (root) => (await import("../widgets/scorecard.js")).createScorecard(root)],
  legend: ["piece legend", async (root) => (await import("../widgets/legend.js")).createLegend(root)],
  network: ["the network, live", async (root) => (await import("../widgets/network.js")).createNetwork(root)],
  style: ["style by training stage", async (root) => (await import("../widgets/style.js")).createStyle(root)],
  compare: ["policy versus value", async (root) => (await import("../widgets/compare.js")).createCompare(root)],
  buffer: ["buffer usage", async (root) => (await import("../widgets/buffer.js")).createBuffer(root)],
  knobs: ["learning knobs", async (root) => (await import("../widgets/knobs.js")).createKnobs(root)],
  status: ["status strip", async (root) => (await import("../widgets/status.js")).createStatus(root)],
};

// Widgets that draw from nothing but the rules: no socket, so no "trainer offline" banner either.
const STATIC = new Set(["legend"]);

// The server names the widget (templates/widget.html); the path is the fallback.
const name = document.body.dataset.widget || location.pathname.split("/").filter(Boolean).pop();
const [title, create] = WIDGETS[name];
document.title = `Shogi Showcase: ${title}`;
const widget = await create(document.getElementById("widget"));
if (STATIC.has(name)) {
  await import("../params.js");
  window.showcase = { widgets: [widget] };
} else {
  runPage([widget]);
}
