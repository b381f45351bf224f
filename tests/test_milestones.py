"""Milestone rules fire on the documented conditions, once, with their update numbers."""

from trainer.milestones import MilestoneDetector


def run(series):
    det = MilestoneDetector()
    out = []
    for update, metrics in enumerate(series, start=1):
        out += det.observe(update, metrics)
    return out


def test_kl_spike_needs_history_floor_and_factor():
    calm = [{"ppo/approx_kl": 0.01} for _ in range(12)]
    spikes = run([*calm, {"ppo/approx_kl": 0.05}, {"ppo/approx_kl": 0.06}])
    assert [(m.kind, m.update) for m in spikes] == [("kl_spike", 13)]  # the second is in the quiet time
    assert run([{"ppo/approx_kl": 0.5}]) == []  # no history yet
    assert run([*calm, {"ppo/approx_kl": 0.019}]) == []  # under the floor even if 1.9x


def test_entropy_drop_compares_with_twenty_updates_earlier():
    series = [{"losses/entropy": 4.0 - 0.06 * i} for i in range(25)]
    found = run(series)
    assert [m.kind for m in found] == ["entropy_drop"]
    assert found[0].update == 21 and found[0].value == series[20]["losses/entropy"]


def test_evaluation_milestones():
    found = run(
        [
            {"eval/vs_random": 0.5, "eval/elo": 10.0, "eval/vs_random_mate_wins": 0},
            {"eval/vs_random": 0.7, "eval/elo": 5.0, "eval/vs_random_mate_wins": 2},
            {"eval/vs_random": 0.75, "eval/elo": 40.0, "eval/vs_random_mate_wins": 5},
        ]
    )
    assert [(m.kind, m.update) for m in found] == [
        ("eval_jump", 2),
        ("first_mate_vs_random", 2),
        ("new_best_elo", 3),
    ]
