// /overlay/progress: the learning progress widget on its own.
import { runPage } from "./run.js";
import { createProgress } from "../widgets/progress.js";

runPage([createProgress(document.getElementById("progress-widget"))]);
