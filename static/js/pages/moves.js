// /overlay/moves: the moves and value widget on its own.
import { runPage } from "./run.js";
import { createMoves } from "../widgets/moves.js";

runPage([createMoves(document.getElementById("moves-widget"))]);
