// /overlay/board: the board widget on its own (`?map=` picks the heatmap).
import { runPage } from "./run.js";
import { createBoard, mapFromQuery } from "../widgets/board.js";

runPage([createBoard(document.getElementById("board-widget"), { mapName: mapFromQuery() })]);
