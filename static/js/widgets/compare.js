// Policy versus value, side by side: the same position (the showcase game's, before its last move)
// on two small boards, the left tinted by the policy's mass per square (where the network wants to
// move) and the right by the value's saliency (where its evaluation is most sensitive: the gradient
// of the value with respect to the input, per square). Both maps are the model's, from the move's
// insight; without insight each board says so.
import { createBoard } from "./board.js";

const MARKUP = `
<div class="cmp-head">Policy versus value: the same position</div>
<div class="cmp-boards">
  <figure class="cmp-policy"><figcaption>Policy: where it wants to move</figcaption><div></div></figure>
  <figure class="cmp-value"><figcaption>Value: what its evaluation hangs on</figcaption><div></div></figure>
</div>
`;

const METHODS = ["showGame", "fromSnapshot", "playMove", "onAnalysis", "onEngineState", "setVisible"];

export function createCompare(root) {
  root.classList.add("compare-widget");
  root.innerHTML = MARKUP;
  const policy = createBoard(root.querySelector(".cmp-policy div"), { mapName: "policy_mass" });
  const value = createBoard(root.querySelector(".cmp-value div"), { mapName: "saliency" });
  const widget = { boards: [policy, value] };
  for (const m of METHODS) widget[m] = (...args) => { policy[m](...args); value[m](...args); };
  return widget;
}
