"""What a page needs to draw itself from nothing: the live state the snapshot is made of.

Fed by the trainer link with every message; read by the viewer endpoint for `snapshot`. The held move
of a prediction round is not kept here: only the poll engine (server/polls.py) has it.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from showcase_core.protocol import PROTOCOL_VERSION, now_ms

# Per-update breakdowns the widgets show for the latest updates only (the buffer-usage panel): a
# short history keeps every viewer's snapshot small; /api/metrics has all of it.
SHORT_HISTORY = ("buffer/", "side/")
SHORT_POINTS = 20


class LiveState:
    def __init__(self, *, max_moves: int = 600, metric_points: int = 300, milestones: int = 100):
        self.trainer: dict[str, Any] = {"connected": False, "last_message_ms": None, "weights_version": None}
        self.run_id: str | None = None
        self.hello: dict | None = None
        self.game: dict | None = None
        self.moves: deque[dict] = deque(maxlen=max_moves)
        self.metrics: dict[str, deque[tuple[int, float | None]]] = {}
        self._metric_points = metric_points
        self.milestones: deque[dict] = deque(maxlen=milestones)
        self.status: dict | None = None
        self.training: dict | None = None  # the latest training_games (thumbnails)
        self.analyses: dict[int, dict] = {}  # ply -> the engine's judgement, for the current game
        self.knob_changes: deque[dict] = deque(maxlen=50)  # this run's parameter changes (knob_change)
        self.gae_traces: deque[dict] = deque(maxlen=5)  # the newest traced training games (/api/gae)

    def trainer_status(self) -> dict:
        return {
            "connected": self.trainer["connected"],
            "last_message_ms": self.trainer["last_message_ms"],
            "weights_version": self.trainer["weights_version"],
            "run_id": self.run_id,
            "update": (self.status or {}).get("update"),
        }

    def apply(self, t: str, d: dict) -> None:
        """Fold one trainer message into the state."""
        self.trainer["last_message_ms"] = now_ms()
        if t == "hello":
            if d["run_id"] != self.run_id:
                self.knob_changes.clear()
            self.hello, self.run_id = d, d["run_id"]
            self.trainer["weights_version"] = d["weights_version"]
        elif t == "training_games":
            self.training = d
        elif t == "status":
            self.status = d
            self.trainer["weights_version"] = d["weights_version"]
        elif t == "game_start" and d["kind"] == "showcase":
            if self.game is None or self.game["game_id"] != d["game_id"]:
                self.moves.clear()
                self.analyses.clear()
            self.game = d
        elif t == "move" and self.game is not None and d["game_id"] == self.game["game_id"]:
            if not self.moves or d["ply"] > self.moves[-1]["ply"]:  # a replayed move is already here
                self.moves.append(d)
        elif t == "metrics":
            for key, value in d["values"].items():
                keep = SHORT_POINTS if key.startswith(SHORT_HISTORY) else self._metric_points
                points = self.metrics.setdefault(key, deque(maxlen=keep))
                points.append((d["update"], value))
        elif t == "milestone":
            self.milestones.append(d)
        elif t == "knob_change":
            self.knob_changes.append(d)
        elif t == "gae_trace":
            self.gae_traces.append(d)

    def add_analysis(self, d: dict) -> None:
        if self.game is not None and d["game_id"] == self.game["game_id"]:
            self.analyses[d["ply"]] = d

    def _snapshot_moves(self, full: int = 2) -> list[dict]:
        """The game's moves, the last `full` with their insight maps, older ones without (a page draws
        maps for the latest position only; a 200-move game's snapshot goes from megabytes to ~200 KB)."""
        moves = list(self.moves)
        cut = max(0, len(moves) - full)
        for i in range(cut):
            insight = moves[i].get("insight")
            if insight is not None:
                moves[i] = {**moves[i], "insight": {k: v for k, v in insight.items() if k != "maps"}}
        return moves

    def snapshot(
        self,
        *,
        poll: dict | None = None,
        tally: dict | None = None,
        reveal: dict | None = None,
        leaderboard=(),
        engine: dict | None = None,
        server: dict | None = None,
    ) -> dict:
        return {
            "protocol": PROTOCOL_VERSION,
            "trainer": self.trainer_status(),
            "game": self.game,
            "moves": self._snapshot_moves(),
            "metrics": {key: list(points) for key, points in self.metrics.items()},
            "milestones": list(self.milestones),
            "poll": poll,
            "tally": tally,
            "reveal": reveal,
            "leaderboard": list(leaderboard),
            "analyses": [self.analyses[ply] for ply in sorted(self.analyses)],
            "engine": engine,
            "status": self.status if self.trainer["connected"] else None,
            "training": self.training if self.trainer["connected"] else None,
            "server": server,
            "knob_changes": list(self.knob_changes),
        }
