"""Evaluation: the agent against the uniform-random mover, the one-ply greedy mover and earlier
checkpoints, on the plain game result (win 1, draw or truncation 0.5, loss 0), with Elo from scores.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import cshogi
import numpy as np
import torch

from showcase_core.engines.play import FORFEIT, RESIGN, VOID
from showcase_core.shogi.movers import mate_in_one
from showcase_core.shogi.vecenv import VecEnv
from trainer.selfplay import Mover


@dataclass
class MatchResult:
    games: int = 0
    wins: int = 0
    draws: int = 0  # sennichite and truncation
    losses: int = 0
    voided: int = 0  # games a failing engine could not finish: not scored
    reasons: dict[str, int] = field(default_factory=dict)
    mean_length: float = float("nan")
    records: list[dict] = field(default_factory=list)  # one per game: colour, moves (USI), result
    # The agent's turns where it had a mate in one (cshogi's search, checked against the legal list;
    # positions where it is in check are not searched) and how many of them it mated in.
    mate_chances: int = 0
    mates_played: int = 0

    @property
    def score(self) -> float:
        return (self.wins + 0.5 * self.draws) / self.games if self.games else float("nan")

    @property
    def undecided(self) -> float:
        """Share of scored games with no winner: the ply cap or sennichite."""
        return self.draws / self.games if self.games else float("nan")

    @property
    def conversion(self) -> float:
        """Mate-in-one conversion: mates played / turns with a mate in one (NaN with no chance)."""
        return self.mates_played / self.mate_chances if self.mate_chances else float("nan")

    @property
    def elo_diff(self) -> float:
        return elo_from_score(self.score, self.games)

    def as_dict(self, with_records: bool = False) -> dict:
        out = asdict(self)
        if not with_records:
            out.pop("records")
        out["score"] = self.score
        out["elo_diff"] = self.elo_diff
        out["undecided"] = self.undecided
        out["conversion"] = self.conversion
        return out


def elo_from_score(score: float, games: int) -> float:
    """Performance difference in Elo for a score over `games`; a perfect or zero score is pulled in by
    half a game so the figure stays finite."""
    if not games or math.isnan(score):
        return float("nan")
    s = min(max(score, 0.5 / games), 1 - 0.5 / games)
    return 400.0 * math.log10(s / (1.0 - s))


def network_mover(forward, *, temperature: float = 0.0, seed: int = 0) -> Mover:
    """A mover from an eval-mode `forward(obs, mask) -> (logits, value)`: argmax at temperature 0,
    otherwise sampling from the tempered legal policy."""
    generator = torch.Generator().manual_seed(seed)
    device = (
        next(forward.parameters()).device if isinstance(forward, torch.nn.Module) else torch.device("cpu")
    )

    @torch.no_grad()
    def move(env: VecEnv, envs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        obs = torch.from_numpy(env.obs[envs]).to(device)
        mask = torch.from_numpy(env.mask[envs]).to(device)
        logits, _ = forward(obs, mask)
        logits = logits.float().cpu()
        if temperature <= 0:
            return logits.argmax(-1).numpy()
        probs = torch.softmax(logits / temperature, dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1).numpy()

    return move


def play_match(
    agent: Mover,
    opponent: Mover,
    games: int,
    *,
    max_plies: int = 256,
    parallel: int = 32,
    seed: int = 0,
    keep_records: bool = True,
    book: list[str] | None = None,
) -> MatchResult:
    """`games` games, the agent Black in half of them, played to the end (so short games are not
    over-represented). With a `book` of start positions, games 2k and 2k+1 start from position k
    with the colours swapped. A mover may answer RESIGN, FORFEIT (an illegal move: the reason is in
    its `notes[env]`) or VOID (it failed: the game is not scored, only counted in `voided`)."""
    assert games >= 1, "a match needs at least one game"
    rng = np.random.default_rng(seed)
    n = min(parallel, games)

    def start_of(g: int) -> str | None:
        return book[(g // 2) % len(book)] if book else None

    env = VecEnv(n, max_plies=max_plies, start_sfen=[start_of(g) for g in range(n)] if book else None)
    current = np.arange(n)  # the game index each env plays, -1 once it has none left
    next_game = n
    agent_colour = current % 2  # agent Black in even games
    result = MatchResult()
    lengths: list[int] = []

    def finish(ep, note: str | None = None) -> None:
        nonlocal next_game
        colour = int(agent_colour[ep.env])
        if ep.reason == "void":
            result.voided += 1
        else:
            result.games += 1
            result.reasons[ep.reason] = result.reasons.get(ep.reason, 0) + 1
            lengths.append(ep.length)
            if ep.winner is None:
                result.draws += 1
                outcome = "draw"
            elif ep.winner == colour:
                result.wins += 1
                outcome = "win"
            else:
                result.losses += 1
                outcome = "loss"
            if keep_records:
                record = {
                    "agent_colour": "black" if colour == 0 else "white",
                    "outcome": outcome,
                    "reason": ep.reason,
                    "plies": ep.length,
                    "moves": [cshogi.move_to_usi(m) for m in ep.moves],
                }
                if book:
                    record["start_sfen"] = start_of(int(current[ep.env]))
                if note:
                    record["note"] = note
                result.records.append(record)
        if next_game < games:
            current[ep.env] = next_game
            agent_colour[ep.env] = next_game % 2
            if book:
                env.restart(ep.env, start_of(next_game))
            next_game += 1
        else:
            current[ep.env] = -1

    while (current >= 0).any():
        active = current >= 0
        turns = np.array([g.turn for g in env.games])
        actions = np.zeros(n, dtype=np.int64)
        agent_envs = np.flatnonzero(active & (turns == agent_colour))
        chances = [i for i in agent_envs.tolist() if mate_in_one(env.games[i])]
        for mover, envs in (
            (agent, agent_envs),
            (opponent, np.flatnonzero(active & (turns != agent_colour))),
        ):
            if envs.size:
                actions[envs] = mover(env, envs, rng)
        for i in np.flatnonzero(active & (actions < 0)).tolist():
            code = int(actions[i])
            loser = env.games[i].turn
            mover = agent if loser == agent_colour[i] else opponent
            reason = {RESIGN: "resign", FORFEIT: "illegal_move", VOID: "void"}[code]
            ep = env.adjudicate(i, None if code == VOID else 1 - loser, reason)
            finish(ep, getattr(mover, "notes", {}).get(i) or None)
            active[i] = False
        if not active.any():
            continue
        res = env.step(np.where(active, actions, 0), active=active)
        for i in chances:
            if active[i]:
                result.mate_chances += 1
                result.mates_played += res.reasons[i] == "checkmate"
        for ep in res.episodes:
            finish(ep)
    result.mean_length = float(np.mean(lengths)) if lengths else float("nan")
    return result


def load_policy(path: str):
    """A checkpoint's network in eval mode, ready for `network_mover`."""
    from trainer.checkpoint import load_checkpoint
    from trainer.model import ModelArgs, build_model

    data = load_checkpoint(path)
    model = build_model(ModelArgs(**data["model_args"]))
    model.load_state_dict(data["model"])
    model.eval()
    return model, data


def evaluate_checkpoint(
    path: str,
    *,
    games: int = 200,
    max_plies: int = 256,
    opponents: list[str] | None = None,
    against: list[str] | None = None,
    seed: int = 0,
    threads: int | None = None,
    records_path: str | None = None,
    temperature: float = 0.0,
    ladder: bool = False,
    probe_positions: int = 0,
    engine_games: int | None = None,
    engines=None,
) -> dict:
    """`python -m trainer eval`: scores, Elo differences and (optionally) every game as JSON lines.
    `opponents` may name engine rungs of the calibrated ladder (played from the opening book, both
    colours); `ladder` adds every installed engine rung. With any rated opponent the result has the
    anchored `ladder` Elo, and with `probe_positions` the engine-judged accuracy."""
    import json

    from trainer.loop import default_threads
    from trainer.selfplay import greedy_mover, random_mover

    torch.set_num_threads(threads or default_threads())
    from showcase_core.engines.ladder import fit_agent
    from showcase_core.engines.play import EngineMover
    from trainer.config import EnginesSection

    scripted = {"random": random_mover, "greedy": greedy_mover}
    lad = LadderEval((engines or EnginesSection()).model_copy(update={"probe_positions": probe_positions}))
    rungs = {r.name: r for r in lad.rungs}
    names = list(opponents if opponents is not None else ["random", "greedy"])
    if ladder:
        names += [n for n in rungs if n not in names]
    known = sorted(scripted) + sorted(rungs)
    for name in names:
        if name not in scripted and name not in rungs:
            why = f" ({lad.status})" if lad.status else ""
            raise ValueError(f"unknown opponent {name!r}; expected one of {known}{why}")
    model, data = load_policy(path)
    agent = network_mover(model, temperature=temperature, seed=seed)
    matches: dict[str, MatchResult] = {}
    try:
        for name in names:
            if name in scripted:
                matches[name] = play_match(agent, scripted[name], games, max_plies=max_plies, seed=seed)
            else:
                mover = EngineMover(lad._engine(rungs[name].engine))
                n = engine_games or games
                matches[name] = play_match(
                    agent, mover, n, max_plies=max_plies, seed=seed, book=lad.book, parallel=16
                )
        accuracy = lad.accuracy(model) if lad.positions and lad.win_model else {}
    finally:
        lad.close()
    rated = {n: (m.wins + 0.5 * m.draws, m.games) for n, m in matches.items() if m.games}
    fit = fit_agent(rated, lad.ratings) if any(n in rungs for n in rated) else None
    for other in against or []:
        rival, _ = load_policy(other)
        matches[other] = play_match(
            network_mover(model, temperature=1.0, seed=seed),
            network_mover(rival, temperature=1.0, seed=seed + 1),
            games,
            max_plies=max_plies,
            seed=seed,
        )
    if records_path:
        from pathlib import Path

        Path(records_path).parent.mkdir(parents=True, exist_ok=True)
        with open(records_path, "w") as f:
            for name, match in matches.items():
                for rec in match.records:
                    f.write(json.dumps({"opponent": name, **rec}) + "\n")
    return {
        "checkpoint": path,
        "update": data["update"],
        "samples": data.get("samples"),
        "games": games,
        "max_plies": max_plies,
        "temperature": temperature,
        "matches": {name: m.as_dict() for name, m in matches.items()},
        "ladder": {
            "elo": fit[0] if fit else None,
            "error": fit[1] if fit else None,
            "rungs": {n: lad.ratings[n] for n in rated if n in lad.ratings},
            "status": lad.status if not rungs else None,
            **{k.removeprefix("eval/"): v for k, v in accuracy.items()},
        },
    }


# --- the engine ladder -----------------------------------------------------------------------------


class LadderEval:
    """The agent against the calibrated ladder at an evaluation: the engine rungs nearest its current
    Elo (from the shipped table), its Elo fitted against every rated rung it played (random and greedy
    included), and its accuracy on the shipped probe positions judged by the analysis engine.

    Engines start on first use and stay up between evaluations; without an engine it says so once
    (`status`) and reports no ladder figures."""

    def __init__(self, cfg, *, table: dict | None = None):
        from showcase_core.engines.book import book, probe_positions
        from showcase_core.engines.judge import WinModel
        from showcase_core.engines.ladder import NO_ENGINE, available, load_table, table_rungs
        from showcase_core.engines.usi import resolve_command

        self.cfg = cfg
        self.table = load_table() if table is None else table
        self.ratings = {r["name"]: float(r["elo"]) for r in self.table.get("rungs", [])}
        rungs = cfg.rungs or table_rungs(self.table)
        dirs = cfg.search_dirs
        self.rungs = [r for r in rungs if r.kind == "engine" and available(r, dirs)]
        self.book = list(book())
        judge_installed = resolve_command(cfg.analysis.command, dirs) is not None
        self.positions = list(probe_positions())[: cfg.probe_positions] if judge_installed else []
        wm = self.table.get("win_model")
        self.win_model = WinModel(wm["k"], "ladder.json") if wm else None
        self._engines: dict = {}
        missing = [r.name for r in rungs if r.kind == "engine" and not available(r, dirs)]
        self.status = NO_ENGINE if missing and not self.rungs else None

    def _engine(self, spec):
        from showcase_core.engines.usi import Engine

        if spec.name not in self._engines:
            self._engines[spec.name] = Engine(spec, search_dirs=self.cfg.search_dirs)
        return self._engines[spec.name]

    def pick(self, elo: float | None) -> list:
        """The `rungs_per_eval` rungs around `elo` by the table (the lowest ones before any fit)."""
        rated = sorted(self.rungs, key=lambda r: self.ratings.get(r.name, float("inf")))
        n = min(self.cfg.rungs_per_eval, len(rated))
        if not n:
            return []
        below = sum(
            1 for r in rated if self.ratings.get(r.name, float("inf")) <= (elo if elo is not None else -1e9)
        )
        first = min(max(below - n // 2, 0), len(rated) - n)
        return rated[first : first + n]

    def run(self, model, *, elo: float | None, scripted: dict[str, MatchResult], seed: int, max_plies: int):
        """Metrics and game records of one ladder evaluation; `scripted` holds the random/greedy
        matches already played, which count in the fit."""
        from showcase_core.engines.ladder import fit_agent
        from showcase_core.engines.play import EngineMover

        out: dict[str, float] = {}
        games: list[dict] = []
        results = {name: (m.wins + 0.5 * m.draws, m.games) for name, m in scripted.items() if m.games}
        if self.cfg.rung_games and self.book:
            agent = network_mover(model)
            for rung in self.pick(elo):
                engine = self._engine(rung.engine)
                stopped_before = engine.stopped
                match = play_match(
                    agent,
                    EngineMover(engine),
                    self.cfg.rung_games,
                    max_plies=max_plies,
                    seed=seed,
                    book=self.book,
                    parallel=min(self.cfg.rung_games, 16),
                )
                if match.games:
                    out[f"ladder/{rung.name}"] = match.score
                    results[rung.name] = (match.wins + 0.5 * match.draws, match.games)
                if match.voided:
                    out[f"ladder/{rung.name}_voided"] = match.voided
                if engine.stopped > stopped_before:  # the engine overran and had to be stopped
                    out[f"ladder/{rung.name}_stopped"] = engine.stopped - stopped_before
                games += [{"opponent": rung.name, **rec} for rec in match.records]
        fit = fit_agent(results, self.ratings)
        if fit is not None and any(name in self.ratings for name in results if name not in scripted):
            out["eval/ladder_elo"], out["eval/ladder_elo_error"] = fit
        if self.positions and self.win_model is not None:
            out.update(self.accuracy(model))
        return out, games

    def accuracy(self, model) -> dict[str, float]:
        """Mean accuracy, mean loss and best-move rate of the agent's top move on the probe set."""
        from showcase_core.engines.judge import judge_move
        from showcase_core.engines.usi import EngineError

        env = VecEnv(len(self.positions), max_plies=10_000, start_sfen=self.positions)
        actions = network_mover(model)(env, np.arange(env.num_envs), np.random.default_rng(0))
        moves = env.moves_for(actions)
        engine = self._engine(self.cfg.analysis)
        acc, loss, best = [], [], 0
        for game, move in zip(env.games, moves.tolist(), strict=True):
            try:
                j = judge_move(
                    engine,
                    game.initial_sfen,
                    [],
                    cshogi.move_to_usi(move),
                    black_to_move=game.turn == 0,
                    model=self.win_model,
                )
            except EngineError:
                continue  # counted: the figures say how many positions were judged
            if not math.isnan(j.accuracy):
                acc.append(j.accuracy)
                loss.append(j.loss)
                best += j.label == "best"
        if not acc:
            return {}
        return {
            "eval/accuracy": float(np.mean(acc)),
            "eval/move_loss": float(np.mean(loss)),
            "eval/best_move_rate": best / len(acc),
            "eval/probe_positions": len(acc),
        }

    def close(self) -> None:
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()
