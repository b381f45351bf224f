"""Every named opening a strategy poll offers is a legal line from the standard start."""

import pytest

from showcase_core.shogi.game import Game
from showcase_core.shogi.notation import names
from showcase_core.shogi.openings import OPENINGS, TEMPERATURES


@pytest.mark.parametrize("key", sorted(OPENINGS))
def test_opening_replays_legally(key):
    game = Game()
    for usi in OPENINGS[key].moves:
        assert usi in game.legal_usi(), f"{key}: {usi} is not legal at ply {game.ply + 1}"
        game.push_usi(usi)
    assert not game.is_over


def test_bishop_exchange_really_exchanges_the_bishops():
    game = Game()
    for usi in OPENINGS["bishop_exchange"].moves:
        game.push_usi(usi)
    # Each side holds the other's bishop.
    assert game.sfen().split()[2] == "Bb"


def test_central_rook_puts_the_rook_on_the_fifth_file():
    game = Game()
    prev = None
    for usi in OPENINGS["central_rook"].moves:
        move = next(m for m, u in zip(game.legal_moves(), game.legal_usi(), strict=True) if u == usi)
        named = names(game, move, prev)
        game.push(move)
        prev = move
    assert named["western"] == "R-5h"


def test_temperatures_are_positive_and_distinct():
    values = [t for _, t in TEMPERATURES.values()]
    assert len(set(values)) == len(values) and all(v > 0 for v in values)
