// Mirrors showcase_core/protocol.py: the message types a page handles. Envelope: {t, v, ts, d}.
export const PROTOCOL_VERSION = 1;
export const T = Object.freeze({
  SNAPSHOT: "snapshot",
  TRAINER_STATUS: "trainer_status",
  SERVER_LOAD: "server_load",
  STATUS: "status",
  METRICS: "metrics",
  TRAINING_GAMES: "training_games",
  EVAL: "eval",
  MILESTONE: "milestone",
  GAME_START: "game_start",
  MOVE: "move",
  GAME_END: "game_end",
  POLL_OPEN: "poll_open",
  POLL_TALLY: "poll_tally",
  POLL_REVEAL: "poll_reveal",
  POLL_CLOSED: "poll_closed",
  CHAT_HIGHLIGHT: "chat_highlight",
  LEADERBOARD: "leaderboard",
  ANALYSIS: "analysis",
  ENGINE_STATE: "engine_state",
  RESYNC: "resync",
});
