"""GAE step by step: one self-play training game followed through every rollout that holds it, with
per ply the numbers PPO's update saw, handed over when the game ends (`gae_trace`).

A self-play env advances one ply per step, so a game that has `p` plies after a rollout of `T` steps
(p <= T) began inside it, at step T - p: that is when a game is picked to follow (the newest one).
From then on each rollout adds one row per step of that env, in the rollout's own tensors: the
reward (the game's result at its last ply plus the shaping `gamma * phi(s') - phi(s)`), the value
`V(s_t)` the rollout stored, the value of the state reached and its sign (-1: the opponent moves
there), terminated / truncated, and what GAE computed from them for that update: the TD error
`delta_t = r_t + gamma * sign_t * V(s_t+1) * (1 - terminated_t) - V(s_t)`, the advantage
`A_t = delta_t + gamma * lambda * sign_t * (1 - done_t) * A_t+1` (cut where the rollout ends:
`segment_end`, where the next update goes on from a bootstrapped value) and the value target
`A_t + V(s_t)`. The update then normalises advantages per minibatch (`ppo.norm_adv`); these are the
advantages before that.

Nothing here is recomputed with other settings: the rows are read from the rollout and from the
advantages the loop passed to the update.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import cshogi

from showcase_core.shogi.game import BLACK, Game

KEEP_FILES = 20


class GaeTrace:
    def __init__(self, collector, *, gamma: float, gae_lambda: float, emit=None, out_dir: Path | None = None):
        self.collector = collector
        self.gamma, self.gae_lambda = gamma, gae_lambda
        self.emit = emit
        self.out_dir = out_dir
        self.env: int | None = None
        self.start_sfen: str | None = None
        self.rows: list[dict] = []
        self.first_update: int | None = None
        self.finished: list[dict] = []  # traces handed over (the newest last), for tests and the loop

    def after_gae(self, update: int, rollout, advantages, returns, episodes) -> dict | None:
        """Called by the loop once per update with the rollout and what GAE made of it (before the
        update). Returns the trace of a game that ended in this rollout, if one did."""
        T = rollout.actions.shape[0]
        done_trace = None
        if self.env is not None:
            j = self.env
            for t in range(T):
                self.rows.append(self._row(update, rollout, advantages, returns, t, j))
                if bool(rollout.terminated[t, j]) or bool(rollout.truncated[t, j]):
                    episode = next((ep for ep in episodes if ep.env == j), None)
                    done_trace = self._finish(update, episode)
                    break
        if self.env is None:
            self._pick(update, rollout, advantages, returns)
        return done_trace

    def _pick(self, update, rollout, advantages, returns) -> None:
        T = rollout.actions.shape[0]
        games = self.collector.selfplay.games
        fresh = [(g.ply, j) for j, g in enumerate(games) if g.ply <= T and not g.is_over]
        if not fresh:
            return
        plies, j = min(fresh)
        self.env, self.start_sfen, self.first_update = j, games[j].initial_sfen, update
        self.rows = [self._row(update, rollout, advantages, returns, t, j) for t in range(T - plies, T)]

    def _row(self, update, rollout, advantages, returns, t, j) -> dict:
        T = rollout.actions.shape[0]
        return {
            "update": update,
            "step": t,
            "reward": float(rollout.rewards[t, j]),
            "potential": float(rollout.potentials[t, j]),
            "next_potential": float(rollout.next_potentials[t, j]),
            "value": float(rollout.values[t, j]),
            "next_value": float(rollout.next_values[t, j]),
            "next_sign": float(rollout.next_sign[t, j]),
            "terminated": bool(rollout.terminated[t, j]),
            "truncated": bool(rollout.truncated[t, j]),
            "segment_end": t == T - 1,
            "delta": _delta(rollout, t, j, self.gamma),
            "advantage": float(advantages[t, j]),
            "return": float(returns[t, j]),
        }

    def _finish(self, update: int, episode) -> dict | None:
        rows, start, env = self.rows, self.start_sfen, self.env
        self.env, self.rows, self.start_sfen = None, [], None
        if episode is None or len(episode.moves) != len(rows):
            return None  # cannot happen with one ply per step; never publish a misaligned trace
        game = Game(start, max_plies=10_000)
        for i, (row, move) in enumerate(zip(rows, episode.moves, strict=True)):
            row["ply"] = i + 1
            row["sfen"] = game.sfen()
            row["mover"] = "black" if game.turn == BLACK else "white"
            row["usi"] = cshogi.move_to_usi(move)
            game.push(move)
        trace = {
            "trace_id": uuid.uuid4().hex[:12],
            "env": env,
            "start_sfen": start,
            "final_sfen": episode.final_sfen,
            "result": "draw" if episode.winner is None else ("black" if episode.winner == BLACK else "white"),
            "reason": episode.reason,
            "plies": len(rows),
            "first_update": self.first_update,
            "last_update": update,
            "gamma": self.gamma,
            "gae_lambda": self.gae_lambda,
            "rows": rows,
        }
        self.finished.append(trace)
        del self.finished[:-3]
        if self.out_dir is not None:
            self._write(trace)
        if self.emit is not None:
            self.emit("gae_trace", trace)
        return trace

    def _write(self, trace: dict) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / f"trace_{trace['last_update']:06d}_{trace['trace_id']}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(trace))
        tmp.replace(path)
        old = sorted(self.out_dir.glob("trace_*.json"))[:-KEEP_FILES]
        for stale in old:
            stale.unlink(missing_ok=True)


def _delta(rollout, t: int, j: int, gamma: float) -> float:
    """The TD error exactly as `trainer.ppo.gae` forms it for this step (float32 arithmetic)."""
    not_terminal = 1.0 - rollout.terminated[t, j].float()
    d = rollout.rewards[t, j] + gamma * rollout.next_sign[t, j] * rollout.next_values[t, j] * not_terminal
    return float(d - rollout.values[t, j])
