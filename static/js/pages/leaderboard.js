// /overlay/leaderboard: the leaderboard widget on its own.
import { runPage } from "./run.js";
import { createLeaderboard } from "../widgets/leaderboard.js";

runPage([createLeaderboard(document.getElementById("leaderboard-widget"))]);
