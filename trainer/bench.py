"""Benchmarks that print their figures (never timed tests). `python -m trainer bench env`."""

from __future__ import annotations

import json
import platform
import random
import time

import cshogi
import numpy as np

from trainer.shogi.game import DEFAULT_MAX_PLIES
from trainer.shogi.vecenv import VecEnv


def raw_cshogi_playouts(seconds: float, max_plies: int = DEFAULT_MAX_PLIES, seed: int = 0) -> dict:
    """Random playouts on a bare cshogi board: legal moves, pick, push, game-over check. No features."""
    rng = random.Random(seed)
    board = cshogi.Board()
    plies = games = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        moves = list(board.legal_moves)
        board.push(rng.choice(moves))
        plies += 1
        if board.is_game_over() or board.move_number > max_plies:
            board.reset()
            games += 1
            if time.perf_counter() > deadline:
                break
        elif plies % 1024 == 0 and time.perf_counter() > deadline:
            break
    elapsed = time.perf_counter() - start
    return {"plies": plies, "games": games, "elapsed_s": elapsed, "plies_per_s": plies / elapsed}


def vecenv_random(seconds: float, envs: int, max_plies: int = DEFAULT_MAX_PLIES, seed: int = 0) -> dict:
    """The project's VecEnv with uniformly random legal actions: rules, observation, mask, auto-reset."""
    rng = np.random.default_rng(seed)
    env = VecEnv(envs, max_plies=max_plies)
    env.reset()
    steps = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        env.step(env.sample_random_actions(rng))
        steps += envs
    elapsed = time.perf_counter() - start
    return {"steps": steps, "elapsed_s": elapsed, "steps_per_s": steps / elapsed, "episodes": env.stats()}


def bench_env(seconds: float = 10.0, envs: int = 64, max_plies: int = DEFAULT_MAX_PLIES) -> dict:
    raw = raw_cshogi_playouts(seconds, max_plies)
    vec = vecenv_random(seconds, envs, max_plies)
    return {
        "benchmark": "env",
        "raw_cshogi_plies_per_s": round(raw["plies_per_s"]),
        "vecenv_steps_per_s": round(vec["steps_per_s"]),
        "ratio": round(vec["steps_per_s"] / raw["plies_per_s"], 3),
        "envs": envs,
        "seconds": seconds,
        "max_plies": max_plies,
        "raw_games": raw["games"],
        "vecenv_episodes": vec["episodes"]["episodes"],
        "vecenv_mean_episode_length": round(vec["episodes"]["mean_length"], 1),
        "vecenv_reasons": vec["episodes"]["reasons"],
        "python": platform.python_version(),
        "cshogi": getattr(cshogi, "__version__", "unknown"),
        "machine": platform.machine(),
    }


def print_result(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:28s} {value}")
