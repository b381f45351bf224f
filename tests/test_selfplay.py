"""Collection pieces: material potential, scripted movers, the scripted-opponent env, matches."""

import cshogi
import numpy as np
import pytest
import torch

from showcase_core.shogi.actions import move_to_action
from showcase_core.shogi.features import N_PLANES, observe
from showcase_core.shogi.game import Game
from showcase_core.shogi.movers import greedy2_move, greedy_move, mate_in_one, random_move
from showcase_core.shogi.opponents import greedy2_mover
from showcase_core.shogi.vecenv import VecEnv
from trainer.evaluate import elo_from_score, play_match
from trainer.ppo import Rollout
from trainer.selfplay import Collector, OpponentEnv, greedy_mover, material, random_mover


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
    roll = Rollout.empty(5, 6, N_PLANES, 13527)
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


# --- an honest value: the head learns the game result, shaping only moves the baseline ---------------

# Black far ahead in material (a rook, two bishops, four golds... in hand against a bare king) with a
# gold drop that mates; the mirror has White as far ahead and to move.
BLACK_AHEAD = "4k4/9/4P4/9/9/9/9/9/4K4 b R2B4G4S4N4L17P 1"
WHITE_AHEAD = "4k4/9/9/9/9/9/4p4/9/4K4 w r2b4g4s4n4l17p 1"


def _scripted_actor(collector, pick):
    """(obs, mask) -> actions chosen by `pick(game)` for each self-play env; value 0, log-prob 0."""

    def act(obs, mask):
        from showcase_core.shogi.actions import moves_to_actions

        games = collector.selfplay.games
        moves = np.array([pick(g) for g in games])
        actions = moves_to_actions(moves, np.array([g.turn == 1 for g in games]))
        return torch.from_numpy(actions), torch.zeros(len(games)), torch.zeros(len(games))

    return act


def test_value_targets_are_the_unshaped_result_however_far_ahead():
    """`value_target = "result"`: with a value head that says 0 everywhere and games that do not end,
    the value target is 0 in a position 116 pawns ahead; the shaped rewards are there, but none of
    them reaches what the head learns."""
    rng = np.random.default_rng(0)
    collector = Collector(
        4,
        max_plies=400,
        gamma=0.99,
        material_shaping=1.0,
        random_opponent_envs=0,
        seed=0,
        start_sfens=[BLACK_AHEAD],
    )
    roll = Rollout.empty(6, 4, N_PLANES, 13527)

    def no_mate(game):  # random, but never the mate: the game goes on
        from showcase_core.shogi.movers import mate_in_one

        mate = mate_in_one(game)
        legal = [m for m in game.legal_moves() if m != mate]
        return legal[int(rng.integers(len(legal)))]

    collector.collect(roll, _scripted_actor(collector, no_mate), lambda obs: torch.zeros(obs.shape[0]))
    assert not (roll.terminated | roll.truncated).any()
    assert roll.potentials[0].min() > 0.5  # Black (to move at t=0) is far ahead: phi = material / 100
    assert torch.allclose(roll.potentials[1], roll.next_potentials[0])  # the same state, its mover's view
    assert roll.rewards.abs().max() > 0  # shaping is on
    _, targets = roll.advantages(0.99, 0.95, exact_potential=True)
    assert torch.allclose(targets, torch.zeros_like(targets), atol=1e-6)


def test_mating_far_ahead_is_worth_a_whole_win_and_the_cap_can_be_a_draw():
    from showcase_core.shogi.movers import mate_in_one

    for cap_is_draw in (False, True):
        collector = Collector(
            2,
            max_plies=400,
            gamma=0.99,
            material_shaping=1.0,
            random_opponent_envs=0,
            seed=0,
            start_sfens=[BLACK_AHEAD, WHITE_AHEAD],
            cap_is_draw=cap_is_draw,
        )
        roll = Rollout.empty(1, 2, N_PLANES, 13527)
        collector.collect(
            roll, _scripted_actor(collector, mate_in_one), lambda obs: torch.zeros(obs.shape[0])
        )
        assert roll.terminated[0].all() and torch.all(roll.next_potentials[0] == 0)
        _, targets = roll.advantages(0.99, 0.95, exact_potential=True)
        assert torch.allclose(targets[0], torch.ones(2))  # not 1 - phi: the whole win
        _, shaped = roll.advantages(0.99, 0.95)
        assert torch.allclose(shaped[0], 1 - roll.potentials[0])  # the shaped value: 1 - phi
    # At the cap: a terminated draw with no bootstrap when asked, else a truncation bootstrapped.
    for cap_is_draw in (False, True):
        collector = Collector(
            2,
            max_plies=1,
            gamma=0.99,
            material_shaping=1.0,
            random_opponent_envs=0,
            seed=0,
            start_sfens=[BLACK_AHEAD],
            cap_is_draw=cap_is_draw,
        )
        roll = Rollout.empty(1, 2, N_PLANES, 13527)
        first = lambda g: next(m for m in g.legal_moves() if m != mate_in_one(g))  # noqa: E731
        collector.collect(
            roll, _scripted_actor(collector, first), lambda obs: torch.full((obs.shape[0],), 0.5)
        )
        assert roll.terminated[0].all() == cap_is_draw and roll.truncated[0].all() != cap_is_draw
        _, targets = roll.advantages(0.99, 0.95, exact_potential=True)
        expected = 0.0 if cap_is_draw else -0.99 * 0.5  # the draw, or the opponent's value negated
        assert torch.allclose(targets[0], torch.full((2,), expected), atol=1e-6)


def test_match_counts_mate_in_one_chances_and_conversions():
    """The greedy mover plays every mate in one cshogi finds, so as the agent it converts them all;
    a random agent misses most. Undecided = draws (cap or sennichite) over games."""
    greedy = play_match(greedy_mover, random_mover, 12, max_plies=300, parallel=6, seed=3)
    assert greedy.mate_chances > 0 and greedy.conversion == 1.0
    assert greedy.mates_played == greedy.mate_chances
    rand = play_match(random_mover, random_mover, 6, max_plies=120, parallel=6, seed=3)
    assert rand.mates_played <= rand.mate_chances
    assert rand.undecided == rand.draws / rand.games
    start = play_match(random_mover, random_mover, 2, max_plies=40, parallel=2, seed=0, book=[BLACK_AHEAD])
    assert start.mate_chances >= 1  # the agent is Black in game 0 and has G*5b on its first move
    d = start.as_dict()
    assert {"undecided", "conversion", "mate_chances", "mates_played"} <= d.keys()


def test_the_shown_chance_favours_the_side_far_ahead_after_learning_from_its_games():
    """The whole chain with the default `value_target = "shaped"`: the collector's targets from
    far-ahead positions (half the games mated at once, half going on), a value head fitted to them by
    the PPO update, and the winning chance the pages show (`analyse` with the run's potential). The
    head alone reads Black's crushing position as lost (what the pages used to show); plus the
    potential, Black ahead reads above one half and White ahead below."""
    from showcase_core.shogi.actions import moves_to_actions
    from showcase_core.shogi.movers import mate_in_one
    from trainer.insight import analyse
    from trainer.model import ModelArgs, build_model
    from trainer.ppo import PPOSettings, ppo_update

    starts = [BLACK_AHEAD, BLACK_AHEAD, WHITE_AHEAD, WHITE_AHEAD]
    collector = Collector(
        4, max_plies=400, gamma=0.99, material_shaping=1.0, random_opponent_envs=0, seed=0, start_sfens=starts
    )

    def act(obs, mask):
        games = collector.selfplay.games
        moves = [
            mate_in_one(g) if i % 2 == 0 else next(m for m in g.legal_moves() if m != mate_in_one(g))
            for i, g in enumerate(games)
        ]
        actions = moves_to_actions(np.array(moves), np.array([g.turn == 1 for g in games]))
        return torch.from_numpy(actions), torch.zeros(4), torch.zeros(4)

    roll = Rollout.empty(1, 4, N_PLANES, 13527)
    collector.collect(roll, act, lambda obs: torch.zeros(obs.shape[0]))
    advantages, targets = roll.advantages(0.99, 0.95)
    assert (targets[0] < 0).all()  # 1 - phi and about -phi: the shaped value of a crushing position

    torch.manual_seed(0)
    model = build_model(ModelArgs(depth=1, width=8, value_hidden=8))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    settings = PPOSettings(update_epochs=1, minibatch_size=4, clip_vloss=False, ent_coef=0.0)
    for _ in range(40):
        ppo_update(
            model, opt, list(model.parameters()), roll, advantages, targets, settings, torch.Generator()
        )
    model.eval()
    head_only = analyse(model, Game(BLACK_AHEAD)).insight
    assert head_only.black_win < 0.5  # the bug this fixes: crushing shown as losing
    black = analyse(model, Game(BLACK_AHEAD), potential=0.01).insight
    white = analyse(model, Game(WHITE_AHEAD), potential=0.01).insight
    assert black.black_win > 0.9 and white.black_win < 0.1
    assert black.value_head == pytest.approx(head_only.value)


def test_a_capped_potential_pays_only_winning_beyond_the_cap():
    """`reward.material_cap = 30`: 116 pawns ahead, the potential is that of 30, so the mate is worth
    1 - 0.3 in shaped reward (not 1 - 1.16, below zero), and the shown value adds the same potential."""
    from showcase_core.shogi.movers import mate_in_one
    from trainer.selfplay import potential

    obs = observe(Game(BLACK_AHEAD))[None]
    assert material(obs)[0] == 116.0 and potential(obs, 30.0)[0] == 30.0 and potential(obs)[0] == 116.0
    assert potential(observe(Game(WHITE_AHEAD))[None], 30.0)[0] == 30.0  # White to move, White ahead
    collector = Collector(
        1, max_plies=400, gamma=0.99, material_shaping=1.0, random_opponent_envs=0, seed=0,
        start_sfens=[BLACK_AHEAD], material_cap=30.0,
    )  # fmt: skip
    roll = Rollout.empty(1, 1, N_PLANES, 13527)
    collector.collect(roll, _scripted_actor(collector, mate_in_one), lambda o: torch.zeros(o.shape[0]))
    assert roll.terminated[0, 0] and roll.potentials[0, 0] == pytest.approx(0.30)
    assert roll.rewards[0, 0] == pytest.approx(1.0 - 0.30)


def test_greedy_curriculum_envs_come_after_the_random_ones_and_report_their_games():
    collector = Collector(
        2, max_plies=8, gamma=0.9, material_shaping=0.0, random_opponent_envs=1, greedy_opponent_envs=3,
        seed=0,
    )  # fmt: skip
    assert collector.num_envs == 6
    assert collector.greedy is not None and collector.greedy.opponent is greedy_mover
    roll = Rollout.empty(12, 6, N_PLANES, 13527)

    def act(obs, mask):
        a = torch.distributions.Categorical(logits=torch.where(mask, 0.0, -1e9)).sample()
        return a, torch.zeros(len(a)), torch.zeros(len(a))

    stats = collector.collect(roll, act, lambda obs: torch.zeros(obs.shape[0]))
    assert stats.steps == 72
    assert stats.vs_greedy and stats.vs_opponent and not stats.vs_pool
    assert {ep.env for ep, _ in stats.vs_greedy} <= {0, 1, 2}  # indices inside the greedy group
    live = ~(roll.terminated | roll.truncated)
    assert torch.all(roll.next_sign[:, 2:][live[:, 2:]] == 1.0)  # the agent moves again after a reply
    # Every greedy-env position handed to the agent has the agent to move.
    for i, game in enumerate(collector.greedy.env.games):
        assert game.turn == collector.greedy.agent_colour[i]


# --- the two-ply greedy mover: a defender for the curriculum ---------------------------------------

# Black's rook on 2e can take a silver on 2c that the gold on 2b guards, or a free pawn on 7e.
GUARDED_SILVER = "4k4/7g1/7s1/9/2p4R1/9/9/9/4K4 b - 1"


def test_two_ply_greedy_mover_mates_and_weighs_the_recapture():
    rng = np.random.default_rng(0)
    assert cshogi.move_to_usi(greedy2_move(Game("4k4/9/4P4/9/9/9/9/9/4K4 b G 1"), rng)) == "G*5b"
    game = Game(GUARDED_SILVER)
    one = {cshogi.move_to_usi(greedy_move(game, rng)) for _ in range(20)}
    two = {cshogi.move_to_usi(greedy2_move(game, rng)) for _ in range(20)}
    assert one <= {"2e2c", "2e2c+"}  # the one-ply mover grabs the silver and loses the rook
    assert two == {"2e7e"}  # the two-ply mover takes the free pawn


def _allows_mate(game: Game, move: int) -> bool:
    board = game.board
    board.push(move)
    try:
        return bool(not board.is_check() and board.mate_move_in_1ply())
    finally:
        board.pop()


def test_two_ply_greedy_mover_never_allows_a_mate_it_could_avoid_and_plays_legal_moves():
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(10):
        game = Game(max_plies=200)
        while not game.is_over:
            if game.ply % 2:  # the two-ply mover plays White; Black mixes random and greedy moves
                move = greedy2_move(game, rng)
                assert move in game.legal_moves()
                if not mate_in_one(game) and any(not _allows_mate(game, m) for m in game.legal_moves()):
                    assert not _allows_mate(game, move), game.sfen
                checked += 1
            else:
                move = greedy_move(game, rng) if rng.random() < 0.5 else random_move(game, rng)
            game.push(move)
    assert checked > 200
    # White to move, Black threatens G*5b: the pawn push allows it, the mover never plays it.
    threat = Game("4k4/9/4P3p/9/9/9/9/9/4K4 w G 1")
    push = threat.board.move_from_usi("1c1d")
    assert _allows_mate(threat, push)
    assert all(not _allows_mate(threat, greedy2_move(threat, rng)) for _ in range(20))


def test_two_ply_greedy_mover_beats_the_one_ply_one():
    rng = np.random.default_rng(3)
    wins = 0
    for g in range(8):
        game = Game(max_plies=256)
        two_ply_colour = g % 2
        while not game.is_over:
            mover = greedy2_move if game.turn == two_ply_colour else greedy_move
            game.push(mover(game, rng))
        wins += game.outcome.winner == two_ply_colour
    assert wins >= 7


def test_collector_plays_the_curriculum_against_the_configured_greedy_mover():
    collector = Collector(
        1, max_plies=8, gamma=0.9, material_shaping=0.0, random_opponent_envs=2, greedy_opponent_envs=2,
        greedy_plies=2, seed=0,
    )  # fmt: skip
    assert collector.greedy.opponent is greedy2_mover and collector.curriculum.alt is greedy2_mover
    assert Collector(1, max_plies=8, gamma=0.9, material_shaping=0.0, random_opponent_envs=1,
                     seed=0).curriculum.alt is greedy_mover  # fmt: skip
    with pytest.raises(ValueError, match="greedy_plies"):
        Collector(
            1, max_plies=8, gamma=0.9, material_shaping=0.0, random_opponent_envs=1, greedy_plies=3, seed=0
        )
