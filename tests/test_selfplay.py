"""Collection pieces: material potential, scripted movers, the scripted-opponent env, matches."""

import numpy as np
import pytest
import torch

from trainer.evaluate import elo_from_score, play_match
from trainer.ppo import Rollout
from trainer.selfplay import Collector, OpponentEnv, greedy_mover, material, random_mover
from trainer.shogi.actions import move_to_action
from trainer.shogi.features import observe
from trainer.shogi.game import Game
from trainer.shogi.vecenv import VecEnv


def test_material_balance_from_the_side_to_move():
    assert material(observe(Game())[None])[0] == 0.0
    game = Game()
    for usi in ["7g7f", "3c3d", "8h2b+"]:
        game.push_usi(usi)
    # White to move: Black has a horse (10) for White's bishop (8) on board and a bishop in hand (8).
    # White is down the bishop (8) and faces a horse (10) instead of a bishop (8): -(10 - 8) - 8 - 8.
    assert material(observe(game)[None])[0] == pytest.approx(-(10 - 8) - 8 - 8)
    black = Game("4k4/9/9/9/9/9/9/9/4K4 b 2PR 1")
    assert material(observe(black)[None])[0] == pytest.approx(2 + 10)


def test_greedy_mover_mates_in_one_then_captures_the_biggest_piece():
    mate = VecEnv(1, start_sfen="4k4/9/4P4/9/9/9/9/9/4K4 b G 1")
    rng = np.random.default_rng(0)
    (action,) = greedy_mover(mate, np.array([0]), rng)
    assert action == move_to_action(mate.games[0].board.move_from_usi("G*5b"), 0)
    # The silver on 6e can take the rook on 7d or the pawn on 5d: it takes the rook.
    capture = VecEnv(1, start_sfen="4k4/9/9/2r1p4/3S5/9/9/9/4K4 b - 1")
    (action,) = greedy_mover(capture, np.array([0]), rng)
    board = capture.games[0].board
    assert action in {move_to_action(board.move_from_usi(u), 0) for u in ("6e7d", "6e7d+")}


def test_opponent_env_always_returns_the_agent_to_move_and_scores_from_its_view():
    rng = np.random.default_rng(1)
    env = OpponentEnv(6, random_mover, rng, max_plies=30)
    assert all(g.turn == c for g, c in zip(env.env.games, env.agent_colour, strict=True))
    seen_end = 0
    for _ in range(60):
        step = env.step(env.env.sample_random_actions(rng))
        assert all(g.turn == c for g, c in zip(env.env.games, env.agent_colour, strict=True))
        done = step.terminated | step.truncated
        assert set(np.unique(step.next_sign[~done])) <= {1.0}
        ended_here = [ep.env for ep, _ in step.episodes]
        for ep, colour in step.episodes:
            seen_end += 1
            assert done[ep.env]
            if ended_here.count(ep.env) == 1:
                expected = 0.0 if ep.winner is None else (1.0 if ep.winner == colour else -1.0)
                assert step.reward[ep.env] == expected
                assert step.terminated[ep.env] == ep.terminated
    assert seen_end >= 6


def test_collector_bootstraps_live_envs_from_the_next_step():
    collector = Collector(4, max_plies=6, gamma=0.9, material_shaping=0.0, random_opponent_envs=2, seed=0)
    roll = Rollout.empty(5, 6, 46, 13527)
    calls = {"n": 0}

    def act(obs, mask):
        calls["n"] += 1
        logits = torch.where(mask, 0.0, -1e9)
        a = torch.distributions.Categorical(logits=logits).sample()
        return a, torch.zeros(len(a)), torch.full((len(a),), float(calls["n"]))  # value = step number

    stats = collector.collect(roll, act, lambda obs: torch.full((obs.shape[0],), -7.0))
    assert stats.steps == 30
    done = roll.terminated | roll.truncated
    for t in range(4):
        live = ~done[t]
        assert torch.all(roll.next_values[t][live] == float(t + 2))  # the value recorded at step t+1
    assert torch.all(roll.next_values[4][~done[4]] == -7.0)  # bootstrap after the last step
    assert torch.all(roll.next_values[roll.truncated] == -7.0)  # truncation: value of the final position
    assert torch.all(roll.next_sign[:, :4] == -1.0)  # self-play: the next state is the opponent's


def test_match_counts_games_and_alternates_colours():
    result = play_match(random_mover, random_mover, 10, max_plies=20, parallel=4, seed=0)
    assert result.games == 10 == result.wins + result.draws + result.losses == len(result.records)
    colours = [r["agent_colour"] for r in result.records]
    assert colours.count("black") == colours.count("white") == 5
    greedy = play_match(greedy_mover, random_mover, 20, max_plies=200, parallel=10, seed=1)
    assert greedy.score > 0.6  # taking material and mates beats moving at random


def test_elo_from_score():
    assert elo_from_score(0.5, 10) == 0.0
    assert elo_from_score(0.75, 100) == pytest.approx(400 * np.log10(3))
    assert np.isfinite(elo_from_score(1.0, 20)) and elo_from_score(1.0, 20) > 500


def test_greedy_mover_in_check_plays_a_legal_move():
    # Black is in check from the promoted knight on 6h; cshogi's mate search would still offer G*2c.
    env = VecEnv(1, start_sfen="2G6/8S/4NL2k/2P6/+BP1N3pP/BL1PPPP2/P2KS2PR/3+n4L/LS1G2GNS b G8Pr 111")
    (action,) = greedy_mover(env, np.array([0]), np.random.default_rng(0))
    assert env.mask[0, action]
