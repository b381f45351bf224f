// The analysis engine's words, shared by the widgets: every figure is labelled as the engine's, and
// when there is none the text says why (no engine installed, analysis off, not judged yet).

/** A short name for the engine: "Fairy-Stockfish 11.1 LB 64, nodes 20000" -> "Fairy-Stockfish". */
export function engineName(analysis) {
  return analysis ? analysis.engine.split(/[ ,]/)[0] : "engine";
}

/** What to say when a move has no judgement: the engine is missing, failing or still thinking. */
export function noAnalysis(engineState) {
  if (!engineState) return "engine: no analysis";
  if (!engineState.available) return `no engine: ${engineState.message || "analysis unavailable"}`;
  if (engineState.message) return `engine: ${engineState.message}`;
  return "engine: analysing...";
}

/** "engine: ▲２六歩 P-2f (AI lost 3.4%, good)" for a judged move. */
export function verdict(analysis) {
  const best = `${analysis.best.japanese} ${analysis.best.western}`;
  if (analysis.label === "best") return `${engineName(analysis)}: ${best} (the AI found the engine's move)`;
  return `${engineName(analysis)}: ${best} (AI lost ${analysis.loss.toFixed(1)}%, ${analysis.label})`;
}
