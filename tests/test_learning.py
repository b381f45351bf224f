"""A deterministic learning check: PPO raises the probability of the mating move in mate-in-1 positions."""

import torch

from showcase_core.shogi.actions import legal_mask, move_to_action
from showcase_core.shogi.features import observe
from showcase_core.shogi.game import Game
from trainer.checkpoint import load_checkpoint
from trainer.config import load_config
from trainer.loop import train
from trainer.model import build_model, model_args_from_config

# Positions from seeded random games with exactly one mating move each (found once and kept).
MATE_IN_ONE = [
    ("+N3s1B+P1/lr1k2pg1/1P1p5/pp2p1P1p/P2P1P1nP/LKng5/L1P1P4/+s2+n1s+p1L/1Gs3B2 w GPrp 174", "R*8e"),
    ("1G1+P1kb2/ls4g1l/3+R2s1l/7p+P/2ppP1p1L/n4GPP1/S+p4NSN/2+nGB4/K1P5R w 6Pp 174", "9f8h+"),
    ("n2r1+P+Sn1/lnp1+N1p1l/2+P2P1pP/pps1k2g1/1+r2bgP1L/P1P6/1P+pl2S2/6+b2/2g3g1K w S4p 184", "3h2i"),
    ("p7+N/Ps1Pk4/1g4gsl/5Bppp/1PG1SP1P1/2P1P1P+n1/+l+b4S1P/1p1K1lN+nL/+r3r3g w 4P 178", "9i6i"),
    ("l+LG1n1+P2/2b2+P1s1/rp3l1s1/3pk2PP/p1gPpg1N1/1P2Pp3/P1+pN2p2/L2G1+sP2/3K3N+p w Srbp 182", "R*5i"),
    ("1s1l1+Pn2/l3p1P2/Pk2gp2+B/R1pb1gpnP/p8/1g1PP2PL/1P1+nSR1+p1/LS1p1PG+n1/4K3+p w sp 188", "S*5h"),
    ("1n3gs1l/1s2kr1+P1/P+Pl1g4/1p1nppp2/2ppPN1np/2GP1KP2/l3RPG1P/1S6L/BP4S2 w BPp 92", "4d4e"),
    ("4k1gnb/2s5l/l1prGp2p/2g1p1p1P/4P2p1/1PPS2P1L/pp1P1P1P1/+n3G1KR1/BN4SN1 b SLPp 81", "S*5b"),
]


def mating_probability(model) -> float:
    games = [Game(sfen) for sfen, _ in MATE_IN_ONE]
    obs = torch.stack([torch.from_numpy(observe(g)) for g in games])
    mask = torch.stack([torch.from_numpy(legal_mask(g)) for g in games])
    with torch.no_grad():
        model.eval()
        logits, _ = model(obs, mask)
    probs = torch.softmax(logits, -1)
    mates = [
        move_to_action(g.board.move_from_usi(usi), g.turn)
        for g, (_, usi) in zip(games, MATE_IN_ONE, strict=True)
    ]
    return float(probs[torch.arange(len(games)), torch.tensor(mates)].mean())


def test_the_positions_are_mate_in_one():
    for sfen, usi in MATE_IN_ONE:
        game = Game(sfen)
        game.push_usi(usi)
        assert game.outcome.reason == "checkmate"


def test_ppo_learns_the_mating_moves(tmp_path):
    cfg = load_config(
        None,
        [
            f"run.run_dir='{tmp_path / 'run'}'",
            "run.updates=12",
            "compile.mode='off'",
            "run.seed=3",
            "run.threads=2",
            "model.preset='cpu-small'",
            "env.num_envs=32",
            "env.max_plies=1",  # one move per game: mate (+1) or truncation (bootstrap)
            "ppo.num_steps=4",
            "ppo.minibatch_size=64",
            "ppo.learning_rate=0.001",
            "eval.every_updates=0",
            "curriculum.random_opponent_envs=0",
            "reward.material_shaping=0.0",
            "ppo.update_epochs=4",
            "checkpoint.every_updates=100",
        ],
    )
    cfg.env.start_sfens = [sfen for sfen, _ in MATE_IN_ONE]
    args = model_args_from_config(cfg.model)
    torch.manual_seed(cfg.run.seed)  # the same initial weights train() starts from
    initial = build_model(args)
    before = mating_probability(initial)
    result = train(cfg)
    after_model = build_model(args)
    after_model.load_state_dict(load_checkpoint(result.checkpoint)["model"])
    after = mating_probability(after_model)
    assert result.updates == 12
    assert before < 0.05, before
    assert after > 0.3 and after > 6 * before, (before, after)
    print(f"mating-move probability {before:.4f} -> {after:.4f}")
