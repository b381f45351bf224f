"""VecEnv: shapes, rewards from the mover's view, terminal observations, auto-reset, statistics."""

import numpy as np
import pytest

from showcase_core.shogi.actions import N_ACTIONS, legal_mask, move_to_action
from showcase_core.shogi.features import N_PLANES, observe
from showcase_core.shogi.game import BLACK, CHECKMATE, MAX_PLIES, Game, IllegalMoveError
from showcase_core.shogi.vecenv import VecEnv

MATE_IN_ONE = "4k4/9/4P4/9/9/9/9/9/4K4 b G 1"  # G*5b mates


def action(env: VecEnv, i: int, usi: str) -> int:
    game = env.games[i]
    return move_to_action(game.board.move_from_usi(usi), game.turn)


def test_shapes_and_masks_match_games():
    env = VecEnv(4)
    obs, mask = env.reset()
    assert obs.shape == (4, N_PLANES, 9, 9) and obs.dtype == np.float32
    assert mask.shape == (4, N_ACTIONS) and mask.dtype == bool
    assert (mask.sum(axis=1) == 30).all()
    rng = np.random.default_rng(3)
    for _ in range(50):
        res = env.step(env.sample_random_actions(rng))
        for i, game in enumerate(env.games):
            assert np.array_equal(res.mask[i], legal_mask(game))
            assert np.array_equal(res.obs[i], observe(game))


def test_mate_rewards_mover_and_returns_terminal_observation():
    env = VecEnv(3, start_sfen=MATE_IN_ONE)
    start_obs = env.obs[0].copy()
    acts = env.sample_random_actions(np.random.default_rng(0))
    acts[1] = action(env, 1, "G*5b")
    acts[2] = action(env, 2, "G*5h")  # a quiet move elsewhere
    res = env.step(acts)
    assert res.terminated.tolist()[1] and not res.truncated[1]
    assert res.reward[1] == 1.0 and res.reasons[1] == CHECKMATE
    assert res.reward[2] == 0.0 and not res.terminated[2] and res.reasons[2] is None
    # The terminal observation is White to move, in check; the live one is the reset game.
    assert (res.final_obs[1, 45] == 1).all() and (res.final_obs[1, 42] == 0).all()
    assert np.array_equal(res.obs[1], start_obs)
    assert not res.final_obs[2].any()
    (episode,) = [e for e in res.episodes if e.env == 1]
    assert episode.length == 1 and episode.winner == BLACK and episode.reason == CHECKMATE
    assert env.games[1].ply == 0


def test_loss_for_the_mover_is_negative():
    # Black's rook checks back and forth; the 4th occurrence comes with Black's own checking move,
    # so the mover is the checker and loses: -1.
    env = VecEnv(1, start_sfen="R3k4/9/9/9/9/9/9/9/4K4 w - 1")
    rewards = []
    for usi in ["5a5b", "9a9b", "5b5a", "9b9a"] * 3:
        res = env.step(np.array([action(env, 0, usi)]))
        rewards.append(float(res.reward[0]))
    assert rewards[:-1] == [0.0] * 11
    assert rewards[-1] == -1.0 and res.reasons[0] == "perpetual_check"
    # Started one ply earlier, the cycle ends on White's king step: the mover wins, +1.
    env = VecEnv(1, start_sfen="4k4/R8/9/9/9/9/9/9/4K4 b - 1")
    for usi in ["9b9a", "5a5b", "9a9b", "5b5a"] * 3:
        res = env.step(np.array([action(env, 0, usi)]))
    assert res.reward[0] == 1.0 and res.reasons[0] == "perpetual_check"


def test_truncation_is_not_termination():
    env = VecEnv(2, max_plies=3)
    rng = np.random.default_rng(1)
    for _ in range(2):
        res = env.step(env.sample_random_actions(rng))
        assert not res.truncated.any()
    res = env.step(env.sample_random_actions(rng))
    assert res.truncated.all() and not res.terminated.any()
    assert (res.reward == 0).all() and res.reasons == [MAX_PLIES, MAX_PLIES]
    assert np.allclose(res.final_obs[:, 43], 1.0)  # ply/max at the cap
    assert env.stats()["results"] == {"truncated": 2}


def test_illegal_or_malformed_actions_are_refused_without_stepping():
    env = VecEnv(2)
    before = [g.sfen() for g in env.games]
    with pytest.raises(IllegalMoveError, match="env 1"):
        env.step(np.array([9718, 60 * 160 + 58 * 2]))
    with pytest.raises(IllegalMoveError):
        env.step(np.array([9718, N_ACTIONS]))
    with pytest.raises(ValueError, match="shape"):
        env.step(np.array([9718]))
    assert [g.sfen() for g in env.games] == before


def test_random_play_statistics_add_up():
    env = VecEnv(8, max_plies=60)
    rng = np.random.default_rng(5)
    finished = []
    for _ in range(400):
        res = env.step(env.sample_random_actions(rng))
        finished += res.episodes
        assert ((res.terminated | res.truncated) == np.array([r is not None for r in res.reasons])).all()
    stats = env.stats()
    assert stats["episodes"] == len(finished) > 40
    assert sum(stats["reasons"].values()) == len(finished)
    assert stats["mean_length"] == pytest.approx(np.mean([e.length for e in finished]))
    for episode in finished[:10]:
        replay = Game(max_plies=60)
        for move in episode.moves:
            replay.push(move)
        assert replay.outcome.reason == episode.reason and replay.sfen() == episode.final_sfen


def test_start_position_that_is_already_over_is_refused():
    with pytest.raises(ValueError, match="already over"):
        VecEnv(1, start_sfen="4k4/4G4/4P4/9/9/9/9/9/4K4 w - 1")


def test_compact_steps_give_the_reference_observation_and_mask_bit_for_bit():
    """VecEnv keeps compact rows and builds the planes and the mask when read: over random play with
    resets, captures, drops, promotions and checks, they equal `observe` and `legal_mask` (the
    reference encoders) bit for bit, and so do the terminal observations."""

    rng = np.random.default_rng(7)
    env = VecEnv(16, max_plies=300)
    checked_final = promoted = dropped = 0
    for step in range(700):
        if step % 3 == 0:  # some steps read nothing: the lazy build must not fall behind
            obs, mask = env.obs, env.mask
            for i, game in enumerate(env.games):
                assert np.array_equal(obs[i].view(np.uint32), observe(game).view(np.uint32)), (step, i)
                assert np.array_equal(mask[i], legal_mask(game)), (step, i)
        before = [g for g in env.games]
        actions = env.sample_random_actions(rng)
        moves = env.moves_for(actions)
        promoted += int(((moves >> 14) & 1).sum())
        dropped += int((((moves >> 7) & 0x7F) >= 81).sum())
        res = env.step(actions)
        for ep in res.episodes:
            game = before[ep.env]
            assert game.is_over
            reference = game  # finished: observe() encodes its final position
            assert np.array_equal(res.final_obs[ep.env].view(np.uint32), observe(reference).view(np.uint32))
            checked_final += 1
    assert checked_final > 10 and promoted > 50 and dropped > 50  # the kept boards saw all move kinds
    moves = env.moves_for(env.sample_random_actions(rng))
    assert (moves > 0).all()
    legal = np.flatnonzero(env.mask[0])
    illegal = next(a for a in range(N_ACTIONS) if a not in set(legal.tolist()))
    assert env.moves_for(np.full(env.num_envs, illegal))[0] == -1
