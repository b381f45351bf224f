// /overlay/health: the PPO health widget on its own.
import { runPage } from "./run.js";
import { createHealth } from "../widgets/health.js";

runPage([createHealth(document.getElementById("health-widget"))]);
