"""`python -m trainer demo`: play one game and print it move by move in all three notations.

Black and White are uniform-random movers unless a checkpoint is given, in which case its network
plays both sides (sampling from its policy). Handy to see the rules, notation and records at work.
"""

from __future__ import annotations

import random

from showcase_core.shogi.game import Game
from showcase_core.shogi.notation import names
from showcase_core.shogi.records import to_csa, to_kif


def _network_chooser(checkpoint: str, seed: int):
    import torch

    from showcase_core.shogi.actions import action_to_move, legal_mask
    from showcase_core.shogi.features import observe
    from trainer.evaluate import load_policy

    model, _ = load_policy(checkpoint)
    generator = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def choose(game: Game) -> int:
        obs = torch.from_numpy(observe(game))[None]
        mask = torch.from_numpy(legal_mask(game))[None]
        logits, _ = model(obs, mask)
        action = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)
        return action_to_move(int(action), game)

    return choose


def run_demo(
    *, seed: int | None = None, max_plies: int = 512, fmt: str = "text", checkpoint: str | None = None
) -> int:
    rng = random.Random(seed)
    game = Game(max_plies=max_plies)
    choose = _network_chooser(checkpoint, rng.randrange(2**31)) if checkpoint else None
    player = f"network {checkpoint}" if checkpoint else "random mover"
    while not game.is_over:
        move = choose(game) if choose else rng.choice(game.legal_moves())
        named = names(game, move)
        if fmt == "text":
            print(f"{game.ply + 1:4d}  {named['japanese']:<12s} {named['western']:<10s} {named['usi']}")
        game.push(move)
    outcome = game.outcome
    if fmt == "kif":
        print(to_kif(game, black=player, white=player), end="")
    elif fmt == "csa":
        print(to_csa(game, black=player, white=player), end="")
    else:
        print(f"result: {outcome.result} by {outcome.reason} after {game.ply} plies")
        print(f"final position: {game.sfen()}")
    return 0
