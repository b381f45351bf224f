"""Engine-ladder benchmarks (torch-free): the opening book and probe positions the project ships, and
the calibration round robin that writes `showcase_core/engines/ladder.json`.

- `make_book`: balanced openings. Each line starts from the initial position and plays 4-10 plies,
  each a uniform pick among Fairy-Stockfish's MultiPV-4 moves within 60 of its best score (nodes
  2,000); a line is kept when the final position's score, from Black's view at nodes 20,000, is within
  100 of the initial position's own score at the same limit (the initial position is balanced by
  definition; FSF 11.1 gives the side to move about +200 there). Engines only pick the lines: the
  agent never learns from them.
- `make_positions`: the fixed probe set for the accuracy curve, from games between two FSF rungs
  (n64 vs n256) out of the book, one position every 6 plies from ply 8, both sides to move.
- `calibrate`: a round robin of every rung (both colours from each book line), Elo by maximum
  likelihood with random = 0 (`showcase_core.engines.ladder.fit_ratings`), and the winning-chance model of
  the analysis engine, fitted on every 4th position of games between the four strongest rungs, each
  against its neighbour by Elo (book lines, both colours; a win 1, a draw 0.5 for the side to move,
  truncated games left out).
"""

from __future__ import annotations

import json
import random
import time
from itertools import combinations, pairwise
from pathlib import Path

from showcase_core.engines.book import BOOK_PATH, POSITIONS_PATH, read_sfens
from showcase_core.engines.judge import fit_win_model
from showcase_core.engines.ladder import (
    ANALYSIS_SPEC,
    DEFAULT_RUNGS,
    TABLE_PATH,
    PairResult,
    Rung,
    fit_ratings,
)
from showcase_core.engines.play import Player, play_game
from showcase_core.engines.usi import Engine
from showcase_core.shogi.game import BLACK, Game


def _black_view(result, game: Game) -> float | None:
    score = result.score
    if score is None or score.is_mate:
        return None
    return score.value if game.turn == BLACK else -score.value


def make_book(count: int = 40, *, seed: int = 11, window: int = 100) -> list[str]:
    rng = random.Random(seed)
    picker = Engine(
        ANALYSIS_SPEC.model_copy(
            update={
                "name": "book-pick",
                "options": {**ANALYSIS_SPEC.options, "MultiPV": 4},
                "go": {"nodes": 2000},
            }
        )
    )
    judge = Engine(ANALYSIS_SPEC)
    start = _black_view(judge.search(None, []), Game())
    book: list[str] = []
    seen: set[str] = set()
    tries = 0
    while len(book) < count and tries < count * 20:
        tries += 1
        game = Game()
        for _ in range(rng.randint(4, 10)):
            result = picker.search(None, game.usi_moves)
            scored = [
                (i.score.value if not i.score.is_mate else 10**6 * i.score.sign, i.pv[0])
                for i in result.lines.values()
                if i.pv
            ]
            top = max(v for v, _ in scored)
            choices = sorted(m for v, m in scored if v >= top - 60)
            game.push_usi(rng.choice(choices))
        sfen = game.sfen()
        key = " ".join(sfen.split()[:3])
        value = _black_view(judge.search(sfen, []), game)
        if key in seen or value is None or abs(value - start) > window:
            continue
        seen.add(key)
        book.append(sfen)
    picker.close()
    judge.close()
    return book


def make_positions(book: list[str], count: int = 120, *, seed: int = 5) -> list[str]:
    rungs = {r.name: r for r in DEFAULT_RUNGS}
    a, b = Player(rungs["fsf-n64"], seed=seed), Player(rungs["fsf-n256"], seed=seed + 1)
    out: list[str] = []
    for k, start in enumerate(book * 4):
        if len(out) >= count:
            break
        black, white = (a, b) if k % 2 == 0 else (b, a)
        record = play_game(black, white, start, max_plies=160)
        game = Game(start)
        for ply, move in enumerate(record.moves):
            if ply >= 8 and ply % 6 == k % 6 and not game.is_over and len(out) < count:
                out.append(game.sfen())
            game.push_usi(move)
    a.close()
    b.close()
    return out


def write_sfens(path: Path, sfens: list[str], header: str) -> None:
    path.write_text("".join(f"# {line}\n" for line in header.splitlines()) + "".join(s + "\n" for s in sfens))


def calibrate(
    rungs: list[Rung] | None = None,
    *,
    book: list[str] | None = None,
    lines_per_pair: int = 10,
    max_plies: int = 256,
    fit_games: int = 90,
    seed: int = 0,
    progress=None,
) -> dict:
    """The round robin and the fits; returns the table `ladder.json` holds."""
    rungs = list(rungs or DEFAULT_RUNGS)
    book = book or read_sfens(BOOK_PATH)
    players = {r.name: Player(r, seed=seed + i) for i, r in enumerate(rungs)}
    results: list[PairResult] = []
    voided = 0
    started = time.monotonic()
    for a, b in combinations([r.name for r in rungs], 2):
        pair = PairResult(a, b)
        for line in range(lines_per_pair):
            start = book[line % len(book)]
            for a_black in (True, False):
                black, white = (players[a], players[b]) if a_black else (players[b], players[a])
                record = play_game(black, white, start, max_plies=max_plies)
                points = record.points(BLACK if a_black else 1 - BLACK)
                if points is None:
                    voided += 1
                    continue
                if points == 1.0:
                    pair.wins += 1
                elif points == 0.0:
                    pair.losses += 1
                else:
                    pair.draws += 1
        results.append(pair)
        if progress:
            progress(
                f"{a} vs {b}: +{pair.wins} ={pair.draws} -{pair.losses} ({time.monotonic() - started:.0f} s)"
            )
    ratings = fit_ratings(results)
    fit_records = fit_games_between_neighbours(
        players, {n: e for n, (e, _) in ratings.items()}, book, fit_games, max_plies
    )
    stopped = {name: p.engine.stopped for name, p in players.items() if p.engine is not None}
    for p in players.values():
        p.close()
    win_model = fit_analysis_model(fit_records, seed=seed)
    games = {r.name: 0 for r in rungs}
    for pair in results:
        games[pair.a] += pair.games
        games[pair.b] += pair.games
    return {
        "anchor": "random",
        "method": "Bradley-Terry maximum likelihood on the Elo scale, one virtual draw per pair",
        "book_lines": lines_per_pair,
        "max_plies": max_plies,
        "voided": voided,
        "seconds": round(time.monotonic() - started, 1),
        "rungs": [
            {
                "name": r.name,
                "elo": round(ratings[r.name][0], 1),
                "error": round(ratings[r.name][1], 1),
                "games": games[r.name],
                "stopped_searches": stopped.get(r.name, 0),
                "rung": r.model_dump(exclude_none=True),
            }
            for r in sorted(rungs, key=lambda r: ratings[r.name][0])
        ],
        "pairs": [
            {"a": p.a, "b": p.b, "wins": p.wins, "draws": p.draws, "losses": p.losses} for p in results
        ],
        "win_model": win_model,
    }


TOP_FOR_FIT = 4


def fit_games_between_neighbours(
    players: dict[str, Player], ratings: dict[str, float], book: list[str], games: int, max_plies: int
) -> list[tuple[str, list[str], str]]:
    """About `games` finished games between the strongest engine rungs, each against its neighbour by
    Elo (the top `TOP_FOR_FIT`: what a score means when the game is played well; weak rungs repeat
    into sennichite from won positions), from the book with both colours: (start, moves, result) of
    every one that did not reach the ply cap."""
    engines = sorted(
        (p for p in players.values() if p.engine is not None), key=lambda p: ratings[p.rung.name]
    )[-TOP_FOR_FIT:]
    records = []
    for lower, upper in pairwise(engines):
        for line in range(games // (2 * max(1, len(engines) - 1)) + 1):
            for black, white in ((lower, upper), (upper, lower)):
                rec = play_game(black, white, book[line % len(book)], max_plies=max_plies)
                if rec.result in ("black", "white", "draw"):
                    records.append((rec.start_sfen, rec.moves, rec.result))
    return records


def fit_analysis_model(
    games: list[tuple[str, list[str], str]], *, seed: int = 0, every: int = 4
) -> dict | None:
    """Score positions of decisive games with the analysis engine and fit its cp -> winning chance."""
    if not games:
        return None
    engine = Engine(ANALYSIS_SPEC)
    samples: list[tuple[float, float]] = []
    for start, moves, result in games:
        game = Game(start)
        for ply, move in enumerate(moves):
            if ply % every == 0:
                score = engine.search(start, game.usi_moves).score
                if score is not None and not score.is_mate:
                    if result == "draw":
                        samples.append((score.value, 0.5))
                    else:
                        mover_won = (result == "black") == (game.turn == BLACK)
                        samples.append((score.value, 1.0 if mover_won else 0.0))
            game.push_usi(move)
    engine.close()
    k, error, n = fit_win_model(samples)
    return {
        "engine": ANALYSIS_SPEC.model_dump(),
        "k": k,
        "k_error": error,
        "positions": n,
        "games": len(games),
        "formula": "chance = 1 / (1 + exp(-k * cp)), cp from the side to move's view",
    }


def refit_win_model(table: dict, *, games: int = 90, max_plies: int = 256) -> dict:
    """Refit only the winning-chance model of a calibrated table (its ratings stay)."""
    from showcase_core.engines.ladder import table_rungs

    rungs = table_rungs(table)
    players = {r.name: Player(r, seed=i) for i, r in enumerate(rungs)}
    try:
        ratings = {r["name"]: r["elo"] for r in table["rungs"]}
        records = fit_games_between_neighbours(players, ratings, read_sfens(BOOK_PATH), games, max_plies)
    finally:
        for p in players.values():
            p.close()
    return {**table, "win_model": fit_analysis_model(records)}


def drop_rungs(table: dict, names: list[str]) -> dict:
    """The table without `names`, every other rating refitted from the stored pair results."""
    pairs = [
        PairResult(p["a"], p["b"], p["wins"], p["draws"], p["losses"])
        for p in table["pairs"]
        if p["a"] not in names and p["b"] not in names
    ]
    ratings = fit_ratings(pairs)
    rungs = [r for r in table["rungs"] if r["name"] not in names]
    games = {r["name"]: sum(p.games for p in pairs if r["name"] in (p.a, p.b)) for r in rungs}
    for r in rungs:
        r["elo"], r["error"] = round(ratings[r["name"]][0], 1), round(ratings[r["name"]][1], 1)
        r["games"] = games[r["name"]]
    rungs.sort(key=lambda r: r["elo"])
    kept = [{"a": p.a, "b": p.b, "wins": p.wins, "draws": p.draws, "losses": p.losses} for p in pairs]
    return {
        **table,
        "rungs": rungs,
        "pairs": kept,
        "dropped": sorted(set(table.get("dropped", [])) | set(names)),
    }


def run_calibration(
    *, lines_per_pair: int, write: bool, progress, fit_only: bool = False, drop: list[str] = ()
) -> dict:
    """The round robin and both fits; or, with `fit_only` / `drop`, only those steps on the shipped
    table (dropping a rung refits the others from its stored pair results)."""
    if fit_only or drop:
        from showcase_core.engines.ladder import load_table

        table = load_table()
        table = drop_rungs(table, list(drop)) if drop else table
        table = refit_win_model(table) if fit_only else table
        if write:
            TABLE_PATH.write_text(json.dumps(table, indent=1) + "\n")
        return table
    table = calibrate(lines_per_pair=lines_per_pair, progress=progress)
    if write:
        TABLE_PATH.write_text(json.dumps(table, indent=1) + "\n")
    return table


def run_book(progress) -> dict:
    book = make_book()
    write_sfens(
        BOOK_PATH,
        book,
        "Balanced openings for engine matches; made by `python -m trainer bench book`.\n"
        "See trainer/bench_ladder.py (make_book) for how they were picked.",
    )
    progress(f"book: {len(book)} lines")
    positions = make_positions(book)
    write_sfens(
        POSITIONS_PATH,
        positions,
        "Probe positions for the accuracy curve; made by "
        "`python -m trainer bench book` (make_positions in trainer/bench_ladder.py).",
    )
    return {"book": len(book), "positions": len(positions)}


__all__ = ["calibrate", "make_book", "make_positions", "run_book", "run_calibration"]
