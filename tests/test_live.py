"""Integration: a short training run publishing to a loopback server; every message is valid protocol."""

import json

import jsonschema
from fake_server import FakeServer, free_port

from showcase_core.protocol import json_schema
from showcase_core.shogi.game import Game
from trainer.config import load_config
from trainer.loop import train


def test_training_run_publishes_valid_protocol(tmp_path):
    port = free_port()
    server = FakeServer(port).start()
    cfg = load_config(
        None,
        [
            f"run.run_dir='{tmp_path / 'run'}'",
            "run.updates=3",
            "compile.mode='off'",
            "run.threads=1",
            "model.preset='custom'",
            "model.depth=1",
            "model.width=8",
            "model.value_hidden=8",
            "env.num_envs=8",
            "env.max_plies=30",
            "ppo.num_steps=8",
            "ppo.minibatch_size=32",
            "eval.every_updates=3",
            "curriculum.random_opponent_envs=0",
            "eval.games=4",
            "eval.max_plies=20",
            f"live.server_url='ws://127.0.0.1:{port}/ws/trainer'",
            "live.move_interval_s=0.02",
            "live.thumbnails_every_s=0.5",
        ],
    )
    try:
        result = train(cfg, token="tok")
    finally:
        server.stop()
    assert result.updates == 3
    validator = jsonschema.Draft202012Validator(json_schema())
    messages = [json.loads(text) for text in server.raw]
    for message in messages:
        validator.validate(message)
    kinds = [m["t"] for m in messages]
    assert kinds[0] == "hello" and messages[0]["d"]["compile"]["requested_mode"] == "off"
    assert kinds.count("metrics") == 3 and "eval" in kinds and "status" in kinds
    assert [m["v"] for m in messages] == list(range(len(messages)))  # one connection, no gaps
    metrics = [m["d"] for m in messages if m["t"] == "metrics"]
    assert [m["update"] for m in metrics] == [1, 2, 3]
    assert set(metrics[0]["histograms"]) == {"adv/hist_raw", "adv/hist_norm"}
    # The showcase moves replay on a real board.
    start = next(m["d"] for m in messages if m["t"] == "game_start")
    # A connect replays the game so far, so a move queued before the link came up can arrive twice;
    # the server stores repeats idempotently, and so does this check (first copy of each ply).
    by_ply = {}
    for m in messages:
        if m["t"] == "move" and m["d"]["game_id"] == start["game_id"]:
            by_ply.setdefault(m["d"]["ply"], m["d"])
    moves = [by_ply[p] for p in sorted(by_ply)]
    assert moves, "the showcase should have played while training ran"
    game = Game(start["start_sfen"])
    for move in moves:
        assert move["sfen_before"] == game.sfen()
        game.push_usi(move["move"]["usi"])
    # The evaluation's game against greedy is published as a replay: start, every move, end.
    evals = [m["d"] for m in messages if m["t"] == "game_start" and m["d"]["kind"] == "evaluation"]
    assert evals and "greedy mover" in (evals[0]["black"] + evals[0]["white"])
    replay = [m["d"] for m in messages if m["t"] == "move" and m["d"]["game_id"] == evals[0]["game_id"]]
    end = next(m["d"] for m in messages if m["t"] == "game_end" and m["d"]["game_id"] == evals[0]["game_id"])
    assert len(replay) == end["plies"] and replay[-1]["sfen_after"] == end["final_sfen"]
    assert all(m["insight"] is None and m["chosen_prob"] is None for m in replay)
    assert server.auth == ["Bearer tok"]
    statuses = [m["d"] for m in messages if m["t"] == "status"]
    assert statuses[-1]["state"] == "stopping"  # conflated state goes out before queued events
    # The status strip's figures: the trainer's own load on every status, what it was doing, no GPU here.
    assert all(st["load"]["rss_mb"] > 0 and st["load"]["cores"] >= 1 and st["gpu"] is None for st in statuses)
    activities = {st["activity"] for st in statuses} - {None}
    assert activities and activities <= {"collecting", "updating", "evaluating", "checkpointing"}
    assert any(st["samples_per_s"] and st["samples_per_s"] > 0 for st in statuses)
    # Training thumbnails: the watched games' positions and who plays, at a bounded rate.
    thumbs = [m["d"] for m in messages if m["t"] == "training_games"]
    assert thumbs, "thumbnails should be published while training runs"
    for t in thumbs:
        assert 1 <= len(t["games"]) <= 6 and [g["slot"] for g in t["games"]] == list(range(len(t["games"])))
        for g in t["games"]:
            Game(g["sfen"])  # a real position
            assert g["opponent"] == "self" and g["agent"] == "both" and g["opponent_name"] == "itself"
