// Page parameters shared by every overlay page, read once from the URL:
//   ?theme=dark|light|contrast  (dark by default)
//   ?scale=0.5..3               (zooms the page's widgets; clamped, junk ignored)
//   ?bg=transparent|<CSS colour> (transparent by default; e.g. green or %23112233 for a chroma key)
//   ?captions=plain|technical|off (plain by default)
// Applied when this module is first evaluated: every widget module imports it, so the theme is in
// place before any widget builds itself.

export const THEMES = ["dark", "light", "contrast"];
export const CAPTIONS = ["plain", "technical", "off"];
export const SCALE_MIN = 0.5;
export const SCALE_MAX = 3;

// Colours for what CSS cannot reach (uPlot draws on a canvas); the DOM takes its colours from the
// same theme in theme.css.
const PALETTES = {
  dark: { ink: "#f1ede4", muted: "#aaa59a", grid: "rgba(255, 255, 255, 0.12)" },
  light: { ink: "#1d1a16", muted: "#555555", grid: "rgba(0, 0, 0, 0.10)" },
  contrast: { ink: "#ffffff", muted: "#e6e6e6", grid: "rgba(255, 255, 255, 0.35)" },
};

/** The page parameters from a query string; anything unknown or malformed falls back to the default. */
export function readParams(search, supportsColor = (v) => CSS.supports("color", v)) {
  const q = new URLSearchParams(search);
  const theme = THEMES.includes(q.get("theme")) ? q.get("theme") : "dark";
  const captions = CAPTIONS.includes(q.get("captions")) ? q.get("captions") : "plain";
  const rawScale = q.get("scale");
  const number = rawScale !== null && /^\s*(\d+(\.\d*)?|\.\d+)\s*$/.test(rawScale) ? Number(rawScale) : NaN;
  const scale = Number.isFinite(number) ? Math.min(SCALE_MAX, Math.max(SCALE_MIN, number)) : 1;
  // Only a value the browser itself parses as one colour reaches the style: no other CSS gets in.
  const rawBg = q.get("bg");
  const bg = rawBg !== null && rawBg.length <= 64 && supportsColor(rawBg) ? rawBg : "transparent";
  return { theme, captions, scale, bg };
}

export const params = readParams(location.search);
export const palette = PALETTES[params.theme];

function apply({ theme, scale, bg }) {
  const root = document.documentElement;
  root.dataset.theme = theme;
  root.style.setProperty("--page-scale", String(scale));
  document.body.style.backgroundColor = bg;
}

apply(params);

/** uPlot axis options in the page's theme. */
export function axis(options = {}) {
  return {
    stroke: palette.muted, font: "10px sans-serif",
    grid: { stroke: palette.grid, width: 1 }, ticks: { stroke: palette.grid, width: 1 },
    ...options,
  };
}
