"""The USI client against real engines (Fairy-Stockfish, gpsusi) and scripted misbehaving fakes."""

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from showcase_core.engines.judge import WinModel, judge_move
from showcase_core.engines.ladder import Rung, load_table
from showcase_core.engines.play import FORFEIT, VOID, Player, ask_engine, play_game
from showcase_core.engines.usi import (
    Engine,
    EngineError,
    EngineSpec,
    parse_info,
    position_command,
    resolve_command,
)
from showcase_core.shogi.game import Game

FSF = resolve_command("fairy-stockfish")
GPS = resolve_command("gpsusi")
needs_fsf = pytest.mark.skipif(
    FSF is None, reason="fairy-stockfish not installed (apt-get install fairy-stockfish)"
)
FAKE = str(Path(__file__).with_name("fake_engine.py"))
MATE_IN_ONE = "4k4/9/4G4/9/9/9/9/9/4K4 b G 1"
# White to move, well ahead by Fairy-Stockfish's judgement; 7a6b lets Black mate in one (6f6g+).
BLUNDER_SFEN = "1ns3snl/4rg1b1/3gkpp2/lp5Rp/p1p5L/1PPp2G2/P1NGpPPP1/LB4K2/2S3SN1 w P3p 62"


def fsf(**kw) -> Engine:
    return Engine(EngineSpec(name="fsf", options={"Contempt": 0}, go={"nodes": 20000}, **kw))


def fake(mode: str, log: Path | None = None, **kw) -> Engine:
    args = [FAKE, mode] + ([str(log)] if log else [])
    spec = EngineSpec(name=f"fake-{mode}", command=sys.executable, args=args, go={"depth": 1}, **kw)
    return Engine(spec)


# --- parsing ---------------------------------------------------------------------------------------


def test_parse_info_scores_bounds_mates_and_pv():
    info = parse_info(
        "info depth 6 seldepth 6 multipv 1 score cp 262 upperbound nodes 1000 time 4 pv 7i7h 1c1d"
    )
    assert (info.depth, info.nodes, info.time_ms, info.pv) == (6, 1000, 4, ["7i7h", "1c1d"])
    assert (info.score.kind, info.score.value, info.score.sign, info.score.bound) == ("cp", 262, 1, "upper")
    assert parse_info("info score mate 3 lowerbound pv G*5b").score.bound == "lower"
    minus = parse_info("info depth 3 score mate -4 pv 5a4b")
    assert (minus.score.kind, minus.score.value, minus.score.sign) == ("mate", -4, -1)
    plus = parse_info("info score mate + pv G*5b").score
    assert (plus.kind, plus.value, plus.sign) == ("mate", None, 1)
    assert parse_info("info score mate - pv 5a4b").score.sign == -1
    huge = parse_info("info depth 9 score cp -1148897 pv 5a4b", mate_cp=100_000).score
    assert (huge.kind, huge.value, huge.sign) == ("mate", None, -1)
    assert parse_info("info string hello score cp 5").score is None  # `string` ends the line
    assert parse_info("bestmove 7g7f") is None
    assert parse_info("info depth x score cp y") is not None  # garbage tokens are skipped


def test_position_command_startpos_and_sfen():
    assert position_command(None, []) == "position startpos"
    assert position_command(None, ["7g7f", "3c3d"]) == "position startpos moves 7g7f 3c3d"
    assert position_command(MATE_IN_ONE, ["G*5b"]) == f"position sfen {MATE_IN_ONE} moves G*5b"


def test_missing_engine_is_a_clear_error():
    engine = Engine(EngineSpec(name="ghost", command="no-such-engine-here"))
    with pytest.raises(EngineError, match="not found on PATH"):
        engine.search(None, [])


# --- a real Fairy-Stockfish -------------------------------------------------------------------------


@needs_fsf
def test_fsf_handshake_and_options():
    with fsf() as engine:
        engine.start()
        assert "Fairy-Stockfish" in engine.engine_name
        assert "Skill Level" in engine.engine_options and "Contempt" in engine.engine_options
    # A misspelt option is refused with the engine's own list, not silently ignored as 11.1 does.
    typo = Engine(EngineSpec(name="typo", options={"Skill_Level": 3}))
    with typo, pytest.raises(EngineError, match="no option 'Skill_Level'"):
        typo.start()
    # A name with spaces goes through whole.
    with Engine(EngineSpec(name="weak", options={"Skill Level": -20}, go={"depth": 1})) as engine:
        assert engine.search(None, []).bestmove in Game().legal_usi()


@needs_fsf
def test_fsf_finds_the_mate_in_one():
    with fsf() as engine:
        result = engine.search(MATE_IN_ONE, [])
    assert result.bestmove == "G*5b"
    assert result.score.is_mate and result.score.value == 1 and result.score.sign == 1
    game = Game(MATE_IN_ONE)
    game.push_usi(result.bestmove)
    assert game.outcome.reason == "checkmate"


@needs_fsf
def test_known_blunder_is_labelled_a_blunder_and_the_best_move_best():
    model = WinModel(load_table()["win_model"]["k"]) if load_table().get("win_model") else WinModel(0.003)
    with fsf() as engine:
        blunder = judge_move(engine, BLUNDER_SFEN, [], "7a6b", black_to_move=False, model=model)
        assert blunder.played_score.is_mate and blunder.played_score.sign == -1
        assert blunder.label == "blunder" and blunder.loss >= 15
        assert blunder.accuracy < 50
        assert blunder.black_chance_after == pytest.approx(1.0)  # Black mates next
        best = judge_move(engine, BLUNDER_SFEN, [], blunder.best_usi, black_to_move=False, model=model)
    assert best.label == "best" and best.loss == 0 and best.accuracy == 100


@needs_fsf
def test_engine_killed_during_go_is_reported_and_replaced():
    with fsf() as engine:
        engine.start()
        pid = engine._proc.pid
        errors: list[EngineError] = []

        def long_search():
            try:
                engine.search(None, [], go={"movetime": 20000})
            except EngineError as exc:
                errors.append(exc)

        thread = threading.Thread(target=long_search)
        thread.start()
        deadline = time.monotonic() + 10
        while not any(line.startswith("info") for line in list(engine._tail)) and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(pid, signal.SIGKILL)
        thread.join(timeout=10)
        assert not thread.is_alive()
        assert errors and "exited" in str(errors[0]) and "bestmove" in str(errors[0])
        second = engine.search(MATE_IN_ONE, [])  # a fresh process answers
        assert second.bestmove == "G*5b"
        assert engine.restarts == 1 and engine._proc.pid != pid and engine.failures == 1


def test_fsf_clock_quirk_swaps_btime_and_wtime(tmp_path):
    log = tmp_path / "lines.txt"
    with fake("good", log, swap_clocks=True, accepts=["btime", "wtime", "byoyomi"]) as engine:
        engine.search(None, [], go={"btime": 1000, "wtime": 9000, "byoyomi": 0})
    assert "go byoyomi 0 btime 9000 wtime 1000" in log.read_text().splitlines()


# --- scripted fakes: each failure is clear, within its deadline ---------------------------------------


@pytest.mark.parametrize(
    ("mode", "expect"),
    [("no_readyok", "no readyok"), ("garbage", "no usiok"), ("exit_in_go", r"exited \(code 3\)")],
)
def test_misbehaving_engines_fail_clearly_within_the_deadline(mode, expect):
    with fake(mode, handshake_s=1.0, search_s=1.0) as engine:
        start = time.monotonic()
        with pytest.raises(EngineError, match=expect) as info:
            engine.search(None, [])
        assert time.monotonic() - start < 6.0
        assert not engine.alive
    if mode == "garbage":
        assert any("not usi at all" in line for line in info.value.last_lines)
    if mode == "exit_in_go":
        assert "stderr: fake engine: giving up mid-search" in str(info.value)


def test_hung_search_is_stopped_then_killed():
    with fake("hang_in_go", search_s=0.5) as engine:
        start = time.monotonic()
        with pytest.raises(EngineError, match="no bestmove"):
            engine.search(None, [])
        assert time.monotonic() - start < 5.0
        assert not engine.alive


def test_illegal_bestmove_forfeits_the_game_with_the_reason():
    game = Game()
    assert ask_engine(fake("illegal"), game).code == FORFEIT
    engine_player = Player(Rung(name="fake-illegal", engine=fake("illegal").spec))
    random_player = Player(Rung(name="random", kind="random"))
    record = play_game(engine_player, random_player, None)
    engine_player.close()
    assert (record.result, record.reason) == ("white", "illegal_move")
    assert "1a1b" in record.note and record.moves == []


def test_dead_engine_voids_the_game_and_the_next_request_restarts_it():
    engine = fake("exit_in_go", search_s=1.0)
    answer = ask_engine(engine, Game())
    assert answer.code == VOID and "exited" in answer.note
    assert ask_engine(engine, Game()).code == VOID
    assert engine.restarts == 1 and engine.failures == 2
    engine.close()


def test_a_go_limit_the_engine_cannot_take_is_refused_before_sending(tmp_path):
    log = tmp_path / "lines.txt"
    with fake("good", log, accepts=["byoyomi"]) as engine, pytest.raises(EngineError, match="not accepted"):
        engine.search(None, [], go={"nodes": 10})
    assert not log.exists() or not any(line.startswith("go") for line in log.read_text().splitlines())


# --- gpsusi ----------------------------------------------------------------------------------------


@pytest.mark.skipif(GPS is None, reason="gpsusi not installed (apt-get install gpsshogi)")
def test_gpsusi_in_its_own_home_with_byoyomi():
    shared_conf = Path("/usr/share/gpsshogi-data/gpsusi.conf")
    before = shared_conf.stat().st_mtime if shared_conf.exists() else None
    spec = EngineSpec(
        name="gps",
        command="gpsusi",
        args=["-N", "1", "--node-count-hard-limit", "2000"],
        options={"BookDepth": 0},
        go={"byoyomi": 200},
        accepts=["byoyomi", "btime", "wtime"],
        gpsshogi_home=True,
    )
    with Engine(spec) as engine:
        with pytest.raises(EngineError, match="not accepted"):
            engine.search(None, [], go={"nodes": 100})  # would crash gpsusi
        result = engine.search(MATE_IN_ONE, [])
        assert result.bestmove == "G*5b"
        assert result.score is None or result.score.sign == 1
    after = shared_conf.stat().st_mtime if shared_conf.exists() else None
    assert before == after


@needs_fsf
def test_fsf_has_no_entering_king_rule_so_our_game_ends_it():
    # Black has nine pieces in White's camp; one more (a drop) and Black declares at its next turn.
    game = Game("K+R+B+P+P+P+P+P+P/+P8/9/9/9/9/9/9/8k b RBGGGGSSSSNNNNLLLLPPP 1")
    game.push_usi("G*5c")
    with fsf() as engine:
        reply = ask_engine(engine, game)  # White's move, whatever the engine thinks of the position
        game.push(reply.move)
        assert game.outcome.reason == "entering_king" and game.outcome.winner == 0
        # The engine would play on: it answers a move where the rules say the game is over.
        over = engine.search(game.initial_sfen, game.usi_moves)
    assert over.bestmove not in ("resign", "win")
    assert game.legal_moves() == []  # and our referee offers none


def test_an_overrunning_search_is_stopped_counted_and_answered():
    with fake("slow_until_stop", search_s=0.3) as engine:
        result = engine.search(None, [])
        assert result.bestmove == "7g7f" and result.stopped and engine.stopped == 1
        assert engine.alive and engine.failures == 0  # it answered: no restart needed
        assert engine.stats()["stopped"] == 1
