"""The ladder's math (Elo fits, winning chances, labels, accuracy) exactly, and engine matches with a
real Fairy-Stockfish and scripted fakes."""

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from showcase_core.engines.book import book, probe_positions
from showcase_core.engines.judge import WinModel, accuracy, fit_win_model, label_for
from showcase_core.engines.ladder import (
    DEFAULT_RUNGS,
    LN10_400,
    NO_ENGINE,
    PairResult,
    fit_agent,
    fit_ratings,
    load_table,
    table_ratings,
)
from showcase_core.engines.play import EngineMover
from showcase_core.engines.usi import Engine, EngineSpec, Score, resolve_command
from showcase_core.shogi.game import Game
from trainer.config import EnginesSection
from trainer.evaluate import LadderEval, play_match
from trainer.milestones import MilestoneDetector
from trainer.selfplay import random_mover

needs_fsf = pytest.mark.skipif(
    resolve_command("fairy-stockfish") is None, reason="fairy-stockfish not installed"
)
FAKE = str(Path(__file__).with_name("fake_engine.py"))


# --- Elo ---------------------------------------------------------------------------------------------


def test_two_player_fit_is_the_closed_form_with_one_virtual_draw():
    ratings = fit_ratings([PairResult("random", "b", wins=10, draws=0, losses=30)])
    elo, err = ratings["b"]
    assert elo == pytest.approx(400 * math.log10(30.5 / 10.5), abs=1e-6)
    p = 30.5 / 41
    assert err == pytest.approx(1 / math.sqrt(LN10_400**2 * 41 * p * (1 - p)), rel=1e-6)
    assert ratings["random"] == (0.0, 0.0)


def test_round_robin_recovers_known_ratings():
    truth = {"random": 0.0, "b": 200.0, "c": 500.0}
    results = []
    for a, b in (("random", "b"), ("random", "c"), ("b", "c")):
        n = 4000
        p = 1 / (1 + 10 ** ((truth[b] - truth[a]) / 400))
        wins = round(n * p)
        results.append(PairResult(a, b, wins=wins, losses=n - wins))
    fitted = fit_ratings(results, prior_draws=0.0)
    assert fitted["b"][0] == pytest.approx(200, abs=2)
    assert fitted["c"][0] == pytest.approx(500, abs=2)
    assert 0 < fitted["b"][1] < fitted["c"][1]  # the farther from the anchor, the wider


def test_a_perfect_score_stays_finite_and_a_disconnected_player_is_refused():
    elo, _ = fit_ratings([PairResult("random", "x", wins=0, losses=20)])["x"]
    assert math.isfinite(elo) and elo == pytest.approx(400 * math.log10(20.5 / 0.5))
    with pytest.raises(ValueError, match="anchor"):
        fit_ratings([PairResult("a", "b", wins=1, losses=1)])


def test_agent_fit_against_fixed_rungs():
    elo, err = fit_agent({"r300": (15.0, 20)}, {"r300": 300.0})
    assert elo == pytest.approx(300 + 400 * math.log10(15.5 / 5.5), abs=1e-6)
    assert err > 0
    # Between two rungs it lands between them; an unrated opponent does not count.
    mid, _ = fit_agent({"lo": (15.0, 20), "hi": (5.0, 20), "who": (20.0, 20)}, {"lo": 0.0, "hi": 400.0})
    assert mid == pytest.approx(200, abs=1e-6)
    assert fit_agent({"who": (3.0, 4)}, {"lo": 0.0}) is None


def test_shipped_table_is_calibrated_and_ordered():
    table = load_table()
    names = [r["name"] for r in table["rungs"]]
    assert names[0] == "random" and table["rungs"][0]["elo"] == 0
    assert set(names) == {r.name for r in DEFAULT_RUNGS}
    ratings = table_ratings(table)
    assert ratings["greedy"] > ratings["random"] and ratings["fsf-n4096"] > ratings["fsf-n64"]
    assert all(r["games"] > 0 and r["error"] >= 0 for r in table["rungs"])
    wm = table["win_model"]
    assert wm["k"] > 0 and wm["positions"] > 100 and wm["engine"]["go"] == {"nodes": 20000}


# --- winning chances, labels, accuracy ------------------------------------------------------------------


def test_win_model_and_its_fit():
    model = WinModel(0.002)
    assert model.chance(Score("cp", 0, 0)) == 0.5
    assert model.chance(Score("cp", 500, 1)) == pytest.approx(1 / (1 + math.exp(-1.0)))
    assert model.chance(Score("mate", 3, 1)) == 1.0 and model.chance(Score("mate", None, -1)) == 0.0
    assert model.chance(None) is None
    # Fractional outcomes that are exactly the model's chances: the maximum-likelihood k is that k.
    cps = np.linspace(-1500, 1500, 61)
    samples = [(cp, 1 / (1 + math.exp(-0.0017 * cp))) for cp in cps]
    k, err, n = fit_win_model(samples)
    assert k == pytest.approx(0.0017, rel=1e-6) and n == 61 and err > 0


def test_labels_and_lichess_accuracy():
    assert label_for(0.0, is_best=True) == "best"
    assert [label_for(x, is_best=False) for x in (4.99, 5, 9.99, 10, 14.99, 15, 80)] == [
        "good", "inaccuracy", "inaccuracy", "mistake", "mistake", "blunder", "blunder",
    ]  # fmt: skip
    assert accuracy(60, 60) == 100 and accuracy(40, 60) == 100
    drop = 20.0
    expected = 103.1668100711649 * math.exp(-0.04354415386753951 * drop) - 3.166924740191411 + 1
    assert accuracy(70, 50) == pytest.approx(expected)
    assert accuracy(100, 0) == 0.0  # clamped


# --- matches -------------------------------------------------------------------------------------------


def test_book_games_pair_each_line_with_both_colours():
    lines = list(book())[:3]
    result = play_match(random_mover, random_mover, 6, max_plies=12, parallel=4, seed=0, book=lines)
    assert result.games == 6
    seen = sorted((r["start_sfen"], r["agent_colour"]) for r in result.records)
    assert seen == sorted((s, c) for s in lines for c in ("black", "white"))
    for r in result.records:  # every game really started from its line
        game = Game(r["start_sfen"])
        for usi in r["moves"]:
            game.push_usi(usi)


def test_shipped_position_files_are_valid():
    assert len(book()) >= 20 and len(set(book())) == len(book())
    assert len(probe_positions()) >= 60
    for sfen in (*book(), *probe_positions()):
        assert not Game(sfen).is_over
    assert {Game(s).turn for s in probe_positions()} == {0, 1}  # both sides to move


@needs_fsf
def test_engine_rung_in_a_match_beats_the_random_mover():
    spec = EngineSpec(name="fsf-n64", options={"Contempt": 0}, go={"nodes": 64})
    with Engine(spec) as engine:
        result = play_match(random_mover, EngineMover(engine), 4, max_plies=200, book=list(book())[:2])
    assert result.games == 4 and result.voided == 0
    assert result.losses >= 3  # the random mover is the agent here


def test_forfeits_and_voids_in_a_match():
    illegal = Engine(EngineSpec(name="fake", command=sys.executable, args=[FAKE, "illegal"], go={"depth": 1}))
    result = play_match(random_mover, EngineMover(illegal), 4, max_plies=50)
    illegal.close()
    assert (result.games, result.wins, result.reasons) == (4, 4, {"illegal_move": 4})
    assert all("1a1b" in r["note"] for r in result.records)
    dead = Engine(
        EngineSpec(
            name="dead", command=sys.executable, args=[FAKE, "exit_in_go"], go={"depth": 1}, search_s=2
        )
    )
    voided = play_match(random_mover, EngineMover(dead), 2, max_plies=50)
    dead.close()
    assert (voided.games, voided.voided) == (0, 2) and math.isnan(voided.score)


# --- the ladder at an evaluation ----------------------------------------------------------------------------


def _tiny_model():
    import torch

    from trainer.model import ModelArgs, build_model

    torch.manual_seed(0)
    return build_model(ModelArgs(depth=1, width=8, value_hidden=8)).eval()


def test_pick_brackets_the_agent_elo():
    table = {
        "rungs": [
            {"name": r.name, "elo": e, "rung": r.model_dump()}
            for r, e in zip(DEFAULT_RUNGS, range(0, 100 * len(DEFAULT_RUNGS), 100), strict=True)
        ]
    }
    lad = LadderEval(EnginesSection(rungs_per_eval=2), table=table)
    lad.rungs = [r for r in DEFAULT_RUNGS if r.kind == "engine"]  # as if every engine were installed
    engines = [r.name for r in DEFAULT_RUNGS if r.kind == "engine"]  # at 200, 300, ... in this table
    assert [r.name for r in lad.pick(None)] == engines[:2]
    # 450 lies between the rungs at 400 and 500: the third and fourth engine rungs.
    assert [r.name for r in lad.pick(450)] == engines[2:4]
    assert [r.name for r in lad.pick(10_000)] == engines[-2:]


def test_without_an_engine_the_ladder_says_so(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    lad = LadderEval(EnginesSection(search_dirs=["/nonexistent"]))
    assert lad.status == NO_ENGINE and lad.rungs == []
    from trainer.evaluate import MatchResult

    out, games = lad.run(
        _tiny_model(),
        elo=None,
        scripted={"random": MatchResult(games=2, wins=1, draws=1)},
        seed=0,
        max_plies=20,
    )
    assert games == [] and "eval/ladder_elo" not in out and "eval/accuracy" not in out


@needs_fsf
def test_ladder_evaluation_with_a_real_engine():
    lad = LadderEval(EnginesSection(rung_games=2, rungs_per_eval=1, probe_positions=4))
    from trainer.evaluate import MatchResult

    out, games = lad.run(
        _tiny_model(),
        elo=None,
        scripted={"random": MatchResult(games=4, wins=2, draws=2)},
        seed=0,
        max_plies=60,
    )
    lad.close()
    rung = lad.pick(None)[0].name
    assert f"ladder/{rung}" in out and len(games) == 2 and {g["opponent"] for g in games} == {rung}
    assert math.isfinite(out["eval/ladder_elo"]) and out["eval/ladder_elo_error"] > 0
    assert (
        0 <= out["eval/accuracy"] <= 100 and out["eval/move_loss"] >= 0 and out["eval/probe_positions"] == 4
    )


def test_rung_passed_fires_once_per_rung():
    det = MilestoneDetector()
    first = det.observe(25, {"eval/vs_greedy": 0.4, "ladder/fsf-n1": 0.55})
    assert [(m.kind, m.value) for m in first] == [("rung_passed", 0.55)] and "fsf-n1" in first[0].title
    assert det.observe(50, {"eval/vs_greedy": 0.5, "ladder/fsf-n1": 0.6})[0].title.endswith(
        "greedy for the first time"
    )
    assert det.observe(75, {"eval/vs_greedy": 0.7, "ladder/fsf-n1": 0.9}) == []


def _tiny_checkpoint(path):
    from dataclasses import asdict

    from trainer.checkpoint import save_checkpoint
    from trainer.model import ModelArgs

    model = _tiny_model()
    args = ModelArgs(depth=1, width=8, value_hidden=8)
    save_checkpoint(
        path, {"model": model.state_dict(), "model_args": asdict(args), "update": 7, "config": {}}
    )
    return str(path)


@needs_fsf
def test_eval_command_plays_rungs_and_reports_the_ladder(tmp_path):
    from trainer.evaluate import evaluate_checkpoint

    ckpt = _tiny_checkpoint(tmp_path / "tiny.pt")
    result = evaluate_checkpoint(
        ckpt, games=2, max_plies=40, opponents=["random", "fsf-n1"], probe_positions=3
    )
    assert set(result["matches"]) == {"random", "fsf-n1"} and result["matches"]["fsf-n1"]["games"] == 2
    lad = result["ladder"]
    assert math.isfinite(lad["elo"]) and lad["error"] > 0 and set(lad["rungs"]) == {"random", "fsf-n1"}
    assert lad["probe_positions"] == 3 and 0 <= lad["accuracy"] <= 100
    with pytest.raises(ValueError, match="expected one of"):
        evaluate_checkpoint(ckpt, games=2, opponents=["fsf-n9999"])


def test_eval_command_without_an_engine_names_what_is_missing(tmp_path, monkeypatch):
    from trainer.evaluate import evaluate_checkpoint

    monkeypatch.setenv("PATH", "/nonexistent")
    ckpt = _tiny_checkpoint(tmp_path / "tiny.pt")
    with pytest.raises(ValueError, match="apt-get install fairy-stockfish"):
        evaluate_checkpoint(ckpt, games=2, opponents=["fsf-n1"], engines=EnginesSection(search_dirs=[]))
    result = evaluate_checkpoint(
        ckpt, games=2, max_plies=30, opponents=["random"], ladder=True, engines=EnginesSection(search_dirs=[])
    )
    assert result["ladder"]["elo"] is None and result["ladder"]["status"] == NO_ENGINE
