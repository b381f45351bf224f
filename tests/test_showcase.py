"""The paced showcase game: pause, step, speed, predict-hold and release, weight versions."""

import queue
import time

import pytest
import torch

from showcase_core.protocol import Control, Plan, make
from showcase_core.shogi.game import Game
from showcase_core.shogi.openings import OPENINGS
from trainer.model import ModelArgs, build_model
from trainer.showcase import Showcase


@pytest.fixture
def feed():
    """A showcase on a tiny model whose messages land in a queue, validated as protocol."""
    torch.manual_seed(0)
    model = build_model(ModelArgs(depth=1, width=8, se_ratio=0.5, value_hidden=8))
    messages: queue.Queue = queue.Queue()

    def emit(t, payload):
        make(t, payload, seq=0)  # every emitted message is valid protocol
        messages.put((t, payload))

    show = Showcase(model, emit, interval_s=0.01, temperature=1.0, max_plies=400, seed=1)
    yield show, messages, model
    show.stop()


def next_of(messages: queue.Queue, kind: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            t, payload = messages.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        if t == kind:
            return payload
    raise AssertionError(f"no {kind} within {timeout} s")


def test_moves_replay_to_the_published_positions(feed):
    show, messages, _ = feed
    show.start()
    start = next_of(messages, "game_start")
    game = Game(start.start_sfen)
    for ply in range(1, 6):
        move = next_of(messages, "move")
        assert move.game_id == start.game_id and move.ply == ply
        assert move.sfen_before == game.sfen()
        game.push_usi(move.move.usi)
        assert move.sfen_after == game.sfen()
        assert move.insight is not None and len(move.insight.top) == 5


def test_pause_holds_and_step_plays_exactly_one(feed):
    show, messages, _ = feed
    show.pause()
    show.start()
    next_of(messages, "game_start")
    time.sleep(0.3)  # thirty intervals: nothing may come while paused
    assert messages.empty()
    show.step()
    assert next_of(messages, "move").ply == 1
    time.sleep(0.2)
    assert messages.empty() and show.state == "paused"
    show.resume()
    assert next_of(messages, "move").ply == 2


def test_predict_hold_publishes_pending_then_plays_exactly_that_move(feed):
    show, messages, _ = feed
    show.start()
    next_of(messages, "move")
    show.handle(Control(action="predict_hold", poll_id="p1"))
    pending = next_of(messages, "pending_move")
    assert pending.poll_id == "p1"
    time.sleep(0.2)
    assert messages.empty() and show.state == "held"  # nothing is played while held
    show.handle(Control(action="release", poll_id="p1"))
    played = next_of(messages, "move")
    assert played.ply == pending.ply and played.move == pending.move
    assert played.sfen_before == pending.sfen_before and played.insight == pending.insight
    assert show.state == "playing"


def test_speed_change_applies_to_the_next_move(feed):
    show, messages, _ = feed
    show.start()
    next_of(messages, "move")
    show.handle(Control(action="speed", seconds=30.0))
    time.sleep(0.1)  # a move already being thought about may still land: let it, then drain
    while not messages.empty():
        messages.get_nowait()
    with pytest.raises(queue.Empty):
        messages.get(timeout=0.5)  # at 30 s per move nothing else comes soon
    show.set_speed("fast")
    assert next_of(messages, "move", timeout=5)
    with pytest.raises(ValueError):
        show.set_speed(0)


def test_new_weights_bump_the_version_mid_game(feed):
    show, messages, model = feed
    show.start()
    first = next_of(messages, "move")
    assert first.weights_version == 0
    version = show.update_weights(model.state_dict())
    assert version == 1
    later = next_of(messages, "move")
    while later.ply <= first.ply + 1:
        later = next_of(messages, "move")
    assert later.weights_version == 1 and later.game_id == first.game_id


def test_a_plan_forces_its_opening_and_temperature_on_the_next_game_only(feed):
    show, messages, _ = feed
    line = OPENINGS["bishop_exchange"].moves
    show.set_plan(Plan(label="Bishop Exchange", opening=list(line), temperature=0.0))
    show.start()
    start = next_of(messages, "game_start")
    assert start.plan == "Bishop Exchange"
    played = [next_of(messages, "move") for _ in range(len(line) + 3)]
    assert [m.move.usi for m in played[: len(line)]] == list(line)
    # Every forced move still carries what the network thought of it: a real probability and insight.
    assert all(m.insight is not None and 0 <= m.chosen_prob <= 1 for m in played)
    # After the line, temperature 0 plays the network's top move.
    assert all(m.move.usi == m.insight.top[0].usi for m in played[len(line) :])


def test_a_release_for_another_poll_is_ignored_and_a_cancelled_request_never_holds(feed):
    show, messages, _ = feed
    show.start()
    next_of(messages, "move")
    show.predict_hold("A")
    pending = next_of(messages, "pending_move")
    show.release("stale-poll")  # a late release meant for an earlier poll
    time.sleep(0.2)
    assert messages.empty() and show.state == "held"
    show.release("A")
    assert next_of(messages, "move").move == pending.move
    # A request dropped before the showcase took it: nothing is held, the game goes on.
    show.pause()
    show.predict_hold("B")
    show.release(None)
    show.resume()
    for _ in range(3):
        assert next_of(messages, "move")
    assert show.state == "playing"
