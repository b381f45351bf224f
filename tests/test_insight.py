"""Insight: top moves, maps in board coordinates, attention that follows the SE gates, exact saliency."""

import math

import cshogi
import numpy as np
import pytest
import torch

from showcase_core.shogi.actions import legal_mask
from showcase_core.shogi.features import N_PLANES, observe
from showcase_core.shogi.game import Game
from trainer.insight import analyse, game_phase
from trainer.model import ModelArgs, build_model

# Asymmetric: Black's rook has left its file and a bishop trade left pieces in hand.
ASYMMETRIC = "lnsgk1snl/6gb1/p1pppp2p/6pR1/9/1rP6/P2PPPP1P/1BG6/LNS1KGSNL w Pp 14"


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(1)  # a seed whose tiny value head is not dead at init (seed 0's is, with 80 planes)
    return build_model(ModelArgs(depth=2, width=8, se_ratio=0.5, value_hidden=8)).eval()


def test_top_moves_are_the_largest_legal_probabilities(model):
    game = Game(ASYMMETRIC)
    result = analyse(model, game)
    probs = result.probs
    legal = torch.from_numpy(__import__("showcase_core.shogi.actions", fromlist=["x"]).legal_mask(game))
    assert float(probs[legal].sum()) == pytest.approx(1.0, abs=1e-5)
    assert float(probs[~legal].sum()) == 0.0
    top = result.insight.top
    assert len(top) == 5
    expected = probs.topk(5).values.tolist()
    assert [t.prob for t in top] == pytest.approx(expected)
    assert all(t.usi in game.legal_usi() for t in top)
    assert top[0].japanese.startswith("△") and top[0].western


def test_maps_are_81_values_in_unit_range(model):
    maps = analyse(model, Game(ASYMMETRIC)).insight.maps
    every = [*maps.se_attention, maps.se_attention_mean, *maps.activation, maps.saliency, maps.policy_mass]
    assert len(maps.se_attention) == len(maps.activation) == 2
    for m in every:
        assert len(m) == 81 and all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in m)
    assert max(maps.saliency) == 1.0 and max(maps.se_attention[0]) == 1.0
    assert sum(maps.policy_mass) == pytest.approx(1.0, abs=1e-5)


def test_white_maps_are_unrotated_into_board_coordinates():
    # The same position seen from the other side: colours swapped and the board turned 180 degrees.
    # The observations differ only in plane 42 (side to move); with the network blind to that plane,
    # every map of one must be the exact 180-degree turn of the other's.
    torch.manual_seed(0)
    model = build_model(ModelArgs(depth=2, width=8, se_ratio=0.5, value_hidden=8)).eval()
    with torch.no_grad():
        model.stem[0].weight[:, 42] = 0.0
    white = Game(ASYMMETRIC)
    black = Game(cshogi.rotate_sfen(ASYMMETRIC))
    ow, ob = observe(white), observe(black)
    assert black.turn == 0 and np.array_equal(np.delete(ow, 42, 0), np.delete(ob, 42, 0))
    w, b = analyse(model, white).insight, analyse(model, black).insight
    for key in ("saliency", "policy_mass", "se_attention_mean"):
        assert getattr(w.maps, key) == pytest.approx(getattr(b.maps, key)[::-1], abs=1e-5), key
    # And in board coordinates the policy mass of White's top move lands on its real destination.
    to = cshogi.SQUARE_NAMES.index(w.top[0].usi[2:4])
    assert w.maps.policy_mass[to] >= w.top[0].prob - 1e-6


def test_attention_follows_the_se_gates(model):
    game = Game(ASYMMETRIC)
    before = analyse(model, game).insight.maps.se_attention[0]
    with torch.no_grad():
        se = model.blocks[0].se
        se.fc2.bias[: se.fc2.bias.numel() // 2] -= 8.0  # close half of the gates
    try:
        after = analyse(model, game).insight.maps.se_attention[0]
    finally:
        with torch.no_grad():
            se.fc2.bias[: se.fc2.bias.numel() // 2] += 8.0
    assert len(set(before)) > 10  # not a constant map
    assert np.abs(np.array(before) - np.array(after)).max() > 0.05


def test_saliency_matches_finite_differences():
    torch.manual_seed(2)
    tiny = build_model(ModelArgs(depth=1, width=4, se_ratio=0.5, value_hidden=4)).double().eval()
    game = Game("4k4/9/4P4/9/9/9/9/9/4K4 b G 1")
    x = torch.from_numpy(observe(game)).double()[None]
    eps = 1e-6
    bump = (
        torch.eye(N_PLANES * 81, dtype=torch.float64).reshape(-1, N_PLANES, 9, 9) * eps
    )  # one input cell each
    with torch.no_grad():
        fd = (tiny.get_value(x + bump) - tiny.get_value(x - bump)) / (2 * eps)  # (N_PLANES * 81,)
    expected = fd.reshape(N_PLANES, 81).abs().sum(0).numpy()
    expected = expected / expected.max()
    got = np.array(analyse(tiny, game).insight.maps.saliency)
    assert got == pytest.approx(expected, abs=1e-5)


def test_value_and_black_win_agree_and_phase_rule():
    torch.manual_seed(0)
    model = build_model(ModelArgs(depth=1, width=4, value_hidden=4)).eval()
    white = analyse(model, Game(ASYMMETRIC)).insight
    assert white.black_win == pytest.approx((1 - white.value) / 2)
    assert game_phase(Game()) == "opening"
    assert game_phase(Game(ASYMMETRIC)) == "middlegame"
    assert game_phase(Game("4k4/9/9/9/9/9/9/9/4K4 b RB 1")) == "endgame"
    assert analyse(model, Game()).insight.think_ms > 0


def test_the_network_diagram_numbers_come_from_the_same_forward_pass(model):
    game = Game()
    game.push_usi("7g7f")
    net = analyse(model, game).insight.network
    obs = torch.from_numpy(observe(game))[None]
    with torch.no_grad():
        _, seen = model.trunk(obs, insight=True)
        logits = model(obs, torch.from_numpy(legal_mask(game))[None])[0][0]
    assert (net.kind, net.planes, net.width, len(net.blocks)) == (
        "restower",
        N_PLANES,
        model.args.width,
        model.args.depth,
    )
    assert net.stem_act_mean == pytest.approx(float(seen.stem.abs().mean()), rel=1e-5)
    for block, gate, h in zip(net.blocks, seen.gates, seen.activations, strict=True):
        assert block.act_mean == pytest.approx(float(h.abs().mean()), rel=1e-5)
        assert block.act_max == pytest.approx(float(h.abs().max()), rel=1e-5)
        g = gate[0]
        assert (block.gate_min, block.gate_max) == (
            pytest.approx(float(g.min())),
            pytest.approx(float(g.max())),
        )
        assert block.gates_open == pytest.approx(float((g > 0.5).float().mean()))
        assert block.top_channels == g.topk(3).indices.tolist()
    probs = torch.softmax(logits, -1)
    assert net.legal_moves == len(game.legal_moves())
    assert net.top_prob == pytest.approx(float(probs.max()), rel=1e-5)
    p = probs[probs > 0]
    assert net.policy_entropy == pytest.approx(float(-(p * p.log()).sum()), rel=1e-4)
