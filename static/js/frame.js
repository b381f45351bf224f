// One paced drawing pass for the whole page. Widgets ask for a redraw with `scheduleDraw(draw)`;
// everything asked for draws together in one animation frame, and during a burst of messages (a fast
// feed, a resync, a replay stepped at key-repeat speed) the page draws at most once per interval
// (below), so several messages share one frame's style, layout, paint and commit instead of each
// paying for its own. A page that has been quiet for that long draws on the next animation
// frame, as before: a move at the showcase's pace is on screen without delay.
//
// Animation frames that the widgets' libraries ask for while the page draws (shogiground defers its
// DOM update to "the next frame" that way) run at the end of this one, so a move is one frame of
// style, layout, paint and commit, not two.
//
// Pages a person steps through (replay, /gae, the control room) draw at most 4 times a second in a
// burst; the broadcast pages OBS captures (/overlay and /overlay/<widget>) call `paceForBroadcast()`
// and draw at most twice a second: the showcase plays a move every 2 s (`live.move_interval_s`), so
// a live move never waits, and in a burst (a resync, a fast feed) each pass carries twice the
// messages for the same style, layout, paint and commit.
export const MIN_FRAME_MS = 250;
export const BROADCAST_FRAME_MS = 500;

let minFrameMs = MIN_FRAME_MS;

export function paceForBroadcast() {
  minFrameMs = BROADCAST_FRAME_MS;
}

/** The shortest time between two passes on this page, in ms. */
export function frameInterval() {
  return minFrameMs;
}

const pending = new Set();
const waiting = [];  // settled() callers, told after the next pass
let last = -Infinity;
let armed = false;

function flush() {
  armed = false;
  last = performance.now();
  const draws = [...pending];
  pending.clear();
  const deferred = [];
  const raf = window.requestAnimationFrame;
  window.requestAnimationFrame = (callback) => { deferred.push(callback); return 0; };
  try {
    for (const draw of draws) run(draw);
  } finally {
    window.requestAnimationFrame = raf;
  }
  const now = performance.now();
  for (const callback of deferred) run(() => callback(now));
  for (const resolve of waiting.splice(0)) resolve();
}

function run(fn) {
  try {
    fn();
  } catch (err) {
    queueMicrotask(() => { throw err; });  // still reported as uncaught; the other widgets draw
  }
}

export function scheduleDraw(draw) {
  pending.add(draw);
  if (armed) return;
  armed = true;
  const wait = last + minFrameMs - performance.now();
  if (wait <= 0) requestAnimationFrame(flush);
  else setTimeout(() => requestAnimationFrame(flush), wait);
}

const nextFrame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));

/** Resolves once no pass is waiting and the last one has been painted: what a browser test waits on
 * before it reads or photographs the page (`window.showcaseSettled()`). */
export async function settled() {
  for (;;) {
    if (armed) await new Promise((resolve) => waiting.push(resolve));
    await nextFrame();
    await nextFrame();
    if (!armed) return;
  }
}

window.showcaseSettled = settled;
