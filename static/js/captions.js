// A caption line under a widget, at the level `?captions=` picks: "plain" for viewers, "technical"
// for RL folks, "off" for none. The widget derives both texts from the values it shows; when it has
// none, the caption says so rather than guessing.
import { params } from "./params.js";

export function createCaption(root) {
  const el = document.createElement("div");
  el.className = "caption";
  el.dataset.level = params.captions;
  el.hidden = params.captions === "off";
  root.append(el);
  let shown = null;
  return {
    /** Show `{plain, technical}`; only the selected level is written, and only when it changed. */
    set({ plain, technical }) {
      if (params.captions === "off") return;
      const text = params.captions === "technical" ? technical : plain;
      if (text !== shown) {
        el.textContent = text;
        shown = text;
      }
    },
  };
}

/** A signed number with a fixed number of digits: +0.23, -1.05. */
export function signed(x, digits = 2) {
  return `${x >= 0 ? "+" : "-"}${Math.abs(x).toFixed(digits)}`;
}

/** Who the value head favours, in words, from Black's winning chance (0..1). */
export function leaning(blackWin) {
  const lead = Math.abs(blackWin - 0.5);
  const side = blackWin > 0.5 ? "Black" : "White";
  if (lead < 0.05) return "the position is about even";
  if (lead < 0.15) return `${side} is slightly better`;
  if (lead < 0.3) return `${side} is better`;
  return `${side} is winning`;
}
