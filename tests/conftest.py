import random

import pytest

from showcase_core.shogi.game import Game


def random_positions(seed: int, games: int, max_plies: int = 160) -> list[Game]:
    """Positions from seeded random games (both colours to move, hands filling up), as Game copies."""
    rng = random.Random(seed)
    out = []
    for _ in range(games):
        game = Game()
        plies = rng.randrange(max_plies)
        while game.ply < plies and not game.is_over:
            game.push(rng.choice(game.legal_moves()))
            if rng.random() < 0.15 and not game.is_over:
                snapshot = Game(game.sfen())
                out.append(snapshot)
        if not game.is_over:
            out.append(game)
    return out


@pytest.fixture(scope="session")
def positions() -> list[Game]:
    return random_positions(seed=7, games=60)
