import { scheduleDraw } from "./frame.js";

// Chart redraws, rationed. uPlot redraws its axes and their text on every setData, which a profile of
// /overlay under a live stream showed as the largest single cost per frame; a trend that moves a few
// times a second reads the same to a viewer. `rationed(plot)` returns a setData that draws at once when
// the chart has been quiet for `minMs`, else once at the end of that interval with the newest data.
export function rationed(plot, minMs = 250) {
  let last = -Infinity;
  let pending = null;
  let timer = null;
  function flush() {
    timer = null;
    last = performance.now();
    const data = pending;
    pending = null;
    plot.setData(data);
  }
  return (data) => {
    pending = data;
    if (timer !== null) return;
    const wait = last + minMs - performance.now();
    if (wait <= 0) flush();
    else timer = setTimeout(() => scheduleDraw(flush), wait);
  };
}

/** A uPlot draw hook: a vertical line in `colour` at the x value `at()` returns (the scrubbed ply). */
export function xMarker(colour, at) {
  return (u) => {
    const x = u.valToPos(at(), "x", true);
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = colour;
    ctx.lineWidth = 2 * devicePixelRatio;
    ctx.beginPath();
    ctx.moveTo(x, u.bbox.top);
    ctx.lineTo(x, u.bbox.top + u.bbox.height);
    ctx.stroke();
    ctx.restore();
  };
}
