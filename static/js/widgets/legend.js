// Piece legend: each piece's kanji, name, how it moves (a 7 x 7 board around it, Black's view:
// forward is up) and what it promotes to. Static: no socket data. The squares marked are checked
// against the rules (cshogi's legal moves on an empty board) by a browser test.
const ORTHO = [[0, -1], [0, 1], [-1, 0], [1, 0]];
const DIAG = [[-1, -1], [1, -1], [-1, 1], [1, 1]];
const GOLD = [[0, -1], [-1, -1], [1, -1], [-1, 0], [1, 0], [0, 1]];

// [key, kanji, name, steps, ranges, how it moves, promotion]
export const PIECES = [
  ["king", "玉", "King", [...ORTHO, ...DIAG], [], "one square any way", "does not promote; lose it and the game is lost"],
  ["rook", "飛", "Rook", [], ORTHO, "any distance along its rank or file", "promotes to Dragon 龍"],
  ["dragon", "龍", "Dragon (promoted rook)", DIAG, ORTHO, "a rook that also steps one square diagonally", null],
  ["bishop", "角", "Bishop", [], DIAG, "any distance diagonally", "promotes to Horse 馬"],
  ["horse", "馬", "Horse (promoted bishop)", ORTHO, DIAG, "a bishop that also steps one square straight", null],
  ["gold", "金", "Gold general", GOLD, [], "one square any way but diagonally back", "does not promote"],
  ["silver", "銀", "Silver general", [[0, -1], ...DIAG], [], "one square forward or diagonally", "promotes to 全, which moves like a gold"],
  ["knight", "桂", "Knight", [[-1, -2], [1, -2]], [], "jumps two forward and one sideways, only forward", "promotes to 圭, which moves like a gold"],
  ["lance", "香", "Lance", [], [[0, -1]], "any distance straight forward", "promotes to 杏, which moves like a gold"],
  ["pawn", "歩", "Pawn", [[0, -1]], [], "one square straight forward (and captures that way)", "promotes to と (tokin), which moves like a gold"],
  ["tokin", "と", "Tokin (promoted pawn; promoted silver, knight and lance move the same)", GOLD, [], "like a gold general", null],
];

const SIZE = 7, MID = 3;

/** The cells (row-major, 7 x 7) a piece reaches from the centre of an empty 7 x 7 board. */
export function reach(steps, ranges) {
  const cells = new Set();
  for (const [dx, dy] of steps) cells.add((MID + dy) * SIZE + MID + dx);
  for (const [dx, dy] of ranges) {
    for (let k = 1; ; k++) {
      const x = MID + dx * k, y = MID + dy * k;
      if (x < 0 || y < 0 || x >= SIZE || y >= SIZE) break;
      cells.add(y * SIZE + x);
    }
  }
  return cells;
}

function card([key, kanji, name, steps, ranges, moves, promotion]) {
  const cells = reach(steps, ranges);
  let mini = "";
  for (let i = 0; i < SIZE * SIZE; i++) {
    const cls = i === MID * SIZE + MID ? "here" : cells.has(i) ? "reach" : "";
    mini += `<i class="${cls}">${cls === "here" ? kanji : ""}</i>`;
  }
  return `<div class="legend-piece" data-piece="${key}">
    <div class="mini" aria-hidden="true">${mini}</div>
    <div class="legend-text"><div class="legend-name"><span class="legend-kanji">${kanji}</span> ${name}</div>
    <div class="legend-moves">${moves}</div>${promotion ? `<div class="legend-promo">${promotion}</div>` : ""}</div>
  </div>`;
}

export function createLegend(root) {
  root.classList.add("legend-widget");
  root.innerHTML = `<div class="legend-head">How the pieces move (Black's view: forward is up; White's pieces point down and move the other way)</div>
    <div class="legend-grid">${PIECES.map(card).join("")}</div>
    <div class="legend-foot">A piece promotes (optionally, or must when it could not move again) when it moves into, within or out of the far three ranks. Captured pieces change sides and can be dropped back on any empty square.</div>`;
  return {};  // nothing from the socket: the rules do not change
}
