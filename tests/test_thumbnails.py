"""Training thumbnails from a real Collector: which games are watched, who plays, results shown once,
and the bounded rate."""

import pytest
import torch

from showcase_core.protocol import TrainingGames
from showcase_core.shogi.actions import N_ACTIONS
from showcase_core.shogi.features import N_PLANES
from showcase_core.shogi.game import Game
from trainer.ppo import Rollout
from trainer.selfplay import Collector
from trainer.thumbnails import Thumbnails


def random_actor(seed=0):
    rng = torch.Generator().manual_seed(seed)

    def act(obs, mask):
        logits = torch.where(mask, torch.rand(mask.shape, generator=rng), torch.tensor(-1.0))
        actions = logits.argmax(-1)
        return actions, torch.zeros(len(actions)), torch.zeros(len(actions))

    return act


@pytest.mark.parametrize("workers", [0, 2])  # the rules in this process, or in env workers
def test_thumbnails_watch_each_kind_of_game_name_the_players_and_show_a_result_once(workers):
    collector = Collector(
        4,
        max_plies=12,
        gamma=0.95,
        material_shaping=1.0,
        random_opponent_envs=4,
        greedy_opponent_envs=2,
        seed=3,
        workers=workers,
    )
    try:
        _watch_and_check(collector)
    finally:
        collector.close()


def _watch_and_check(collector):
    sent = []
    now = [0.0]
    thumbs = Thumbnails(
        collector, lambda t, p: sent.append((t, p)), slots=5, every_s=2.0, clock=lambda: now[0]
    )
    collector.watch = thumbs.on_step
    # Taken in turn from each group: self, random, greedy, then the next env of each.
    assert [(kind, i) for kind, _, i in thumbs.watched] == [
        ("self", 0),
        ("random", 0),
        ("greedy", 0),
        ("self", 1),
        ("random", 1),
    ]
    rollout = Rollout.empty(8, collector.num_envs, N_PLANES, N_ACTIONS)
    for step in range(3):
        collector.collect(rollout, random_actor(step), lambda obs: torch.zeros(len(obs)))
        now[0] += 1.0  # one second of play per rollout of 8 steps
    # A message on the first step, then at most one per 2 s of the fake clock: 3 over 3 s.
    assert 2 <= len(sent) <= 3 and all(t == "training_games" for t, _ in sent)
    first = sent[0][1]
    assert isinstance(first, TrainingGames)
    labels = [(g.opponent, g.opponent_name, g.agent) for g in first.games]
    assert labels == [
        ("self", "itself", "both"),
        ("random", "the random mover", "black"),  # env 0 of an opponent group starts as Black
        ("greedy", "the greedy mover", "black"),
        ("self", "itself", "both"),
        ("random", "the random mover", "white"),
    ]
    for _, payload in sent:
        for g in payload.games:
            Game(g.sfen)
    # 12-ply games over 24 steps: every watched game has ended at least once, and the messages show
    # the finished position with its result exactly when one ended since the previous message.
    results = [g for _, p in sent for g in p.games if g.result is not None]
    assert results
    for g in results:
        assert g.result in ("black", "white", "draw") and g.reason
        assert g.ply >= 1 and Game(g.sfen).ply == 0  # the final position (an sfen keeps no history)
