"""Games against engines, refereed by our own `Game` (torch-free).

`EngineMover` plugs an engine into `trainer.evaluate.play_match` (the agent's batched matches);
`play_game` plays one game between any two ladder players (scripted movers or engines) for the
calibration round robin. An engine's illegal `bestmove` forfeits its game with the reason recorded;
`bestmove resign` loses it; an engine that fails (dies, hangs, garbage) voids the game, which is
counted but not scored, and the engine is restarted for the next request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from showcase_core.engines.ladder import Rung
from showcase_core.engines.usi import Engine, EngineError
from showcase_core.shogi.actions import moves_to_actions
from showcase_core.shogi.game import BLACK, Game
from showcase_core.shogi.movers import greedy_move, random_move
from showcase_core.shogi.notation import usi as _usi

if TYPE_CHECKING:
    from showcase_core.shogi.vecenv import VecEnv

# What a mover may answer instead of an action, for the env it names (`play_match` understands them).
RESIGN, FORFEIT, VOID = -1, -2, -3


@dataclass
class EngineMove:
    """What an engine answered for one position: a legal cshogi move, or why there is none."""

    move: int = 0
    code: int = 0  # 0 (a move), RESIGN, FORFEIT or VOID
    note: str = ""


def ask_engine(engine: Engine, game: Game) -> EngineMove:
    """The engine's move for `game`'s position, checked against the legal list."""
    try:
        result = engine.search(game.initial_sfen, game.usi_moves)
    except EngineError as exc:
        return EngineMove(code=VOID, note=str(exc))
    best = result.bestmove
    if best == "resign":
        return EngineMove(code=RESIGN, note=f"{engine.spec.name} resigned")
    for move in game.legal_moves():
        if _usi(move) == best:
            return EngineMove(move=move)
    why = (
        "claimed a win that the rules do not give" if best == "win" else f"played {best!r}, not a legal move"
    )
    return EngineMove(code=FORFEIT, note=f"{engine.spec.name} {why} in {game.sfen()}")


class EngineMover:
    """A `Mover` for `play_match`: one engine answers for every listed env in turn."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.notes: dict[int, str] = {}

    def __call__(self, env: VecEnv, envs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = np.empty(len(envs), dtype=np.int64)
        for k, i in enumerate(envs.tolist()):
            game = env.games[i]
            answer = ask_engine(self.engine, game)
            if answer.code:
                out[k] = answer.code
                self.notes[i] = answer.note
            else:
                out[k] = int(moves_to_actions(np.array([answer.move]), game.turn != BLACK)[0])
        return out


@dataclass
class GameRecord:
    black: str
    white: str
    start_sfen: str | None
    moves: list[str] = field(default_factory=list)
    result: str = "truncated"  # black / white / draw / truncated / void
    reason: str = ""
    note: str = ""

    def points(self, colour: int) -> float | None:
        """The score of `colour` (win 1, draw or truncation 0.5, loss 0), None for a void game."""
        if self.result == "void":
            return None
        if self.result in ("draw", "truncated"):
            return 0.5
        return 1.0 if (self.result == "black") == (colour == BLACK) else 0.0


class Player:
    """A ladder rung ready to play: a scripted mover, or an engine process started on first use."""

    def __init__(self, rung: Rung, *, search_dirs=None, seed: int = 0):
        from showcase_core.engines.usi import DEFAULT_SEARCH_DIRS

        self.rung = rung
        self.engine = (
            Engine(rung.engine, search_dirs=search_dirs or DEFAULT_SEARCH_DIRS) if rung.engine else None
        )
        self.rng = np.random.default_rng(seed)

    def move(self, game: Game) -> EngineMove:
        if self.rung.kind == "random":
            return EngineMove(move=random_move(game, self.rng))
        if self.rung.kind == "greedy":
            return EngineMove(move=greedy_move(game, self.rng))
        return ask_engine(self.engine, game)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()


def play_game(black: Player, white: Player, start_sfen: str | None, *, max_plies: int = 256) -> GameRecord:
    """One game, refereed by `Game`: the rules' result, a resignation, a forfeit or a void."""
    game = Game(start_sfen, max_plies=max_plies)
    record = GameRecord(black.rung.name, white.rung.name, start_sfen)
    for player in (black, white):
        if player.engine is not None:
            try:
                player.engine.new_game()
            except EngineError as exc:
                record.result, record.reason, record.note = "void", "void", str(exc)
                return record
    while not game.is_over:
        player = black if game.turn == BLACK else white
        answer = player.move(game)
        if answer.code:
            if answer.code == VOID:
                record.result, record.reason = "void", "void"
            else:
                record.result = "white" if game.turn == BLACK else "black"
                record.reason = "resign" if answer.code == RESIGN else "illegal_move"
            record.note = answer.note
            return record
        game.push(answer.move)
        record.moves.append(_usi(answer.move))
    record.result = game.outcome.result
    record.reason = game.outcome.reason
    return record
