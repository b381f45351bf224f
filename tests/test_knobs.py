"""Parameter challenges on the trainer's side: bounds, the change reaching the optimiser at the next
update, the run record, the milestone, a revert, and a resume that keeps the knobs."""

import json
import threading
import time

import pytest
import torch
from fake_server import FakeServer, free_port

from showcase_core.protocol import Control, make
from trainer.config import ConfigError, load_config
from trainer.knobs import Knobs
from trainer.loop import train


class Emitted(list):
    def __call__(self, t, payload):
        self.append((t, payload))


def test_a_change_outside_the_bounds_is_refused_with_the_reason():
    cfg = load_config(None, ["knobs.ent_coef=[0.0, 0.05]"])
    out = Emitted()
    knobs = Knobs(cfg, emit=out)
    reason = knobs.request(Control(action="knob", knob="ent_coef", value=0.2, change_id="c1", source="chat"))
    assert reason == "entropy coefficient 0.2 is outside the run's bounds [0, 0.05] (config [knobs])"
    assert knobs.request(Control(action="knob", knob="gamma", value=0.9, change_id="c2")).startswith(
        "unknown knob 'gamma'"
    )
    assert knobs.request(Control(action="knob", revert_of="nothing", change_id="c3")) == (
        "no applied change 'nothing' to revert"
    )
    assert knobs.request(Control(action="knob", knob="ent_coef", change_id="c4")) == (
        "a knob change needs a knob and a value"
    )
    assert [(t, p.status, p.change_id) for t, p in out] == [
        ("knob_change", "refused", "c1"),
        ("knob_change", "refused", "c2"),
        ("knob_change", "refused", "c3"),
        ("knob_change", "refused", "c4"),
    ]
    assert knobs.apply_pending(1) == [] and knobs.values["ent_coef"] == cfg.ppo.ent_coef  # nothing applied


def test_changes_wait_for_the_next_update_apply_in_order_and_revert():
    cfg = load_config(None, [])
    out = Emitted()
    knobs = Knobs(cfg, emit=out)
    assert (
        knobs.request(Control(action="knob", knob="ent_coef", value=0.02, change_id="a", source="chat"))
        is None
    )
    assert knobs.request(Control(action="knob", knob="ent_coef", value=0.03, change_id="b")) is None
    assert knobs.values["ent_coef"] == 0.01 and out == []  # queued, not applied

    class Settings:
        ent_coef = 0.01

    class Show:
        temperature = None

        def set_temperature(self, t):
            self.temperature = t

    settings, record = Settings(), {}
    done = knobs.apply_pending(7, settings=settings, showcase=Show(), record=record)
    assert [(c.change_id, c.old, c.new, c.update) for c in done] == [
        ("a", 0.01, 0.02, 7),
        ("b", 0.02, 0.03, 7),
    ]
    assert settings.ent_coef == 0.03
    assert [c["change_id"] for c in record["knob_changes"]] == ["a", "b"]
    milestones = [p for t, p in out if t == "milestone"]
    assert [m.kind for m in milestones] == ["knob_change", "knob_change"]
    assert milestones[0].title == "chat changed the entropy coefficient: 0.01 -> 0.02"
    # A revert restores the value the change replaced.
    assert knobs.request(Control(action="knob", revert_of="b", change_id="r")) is None
    show = Show()
    (undo,) = knobs.apply_pending(9, settings=settings, showcase=show)
    assert (undo.knob, undo.old, undo.new, undo.revert_of) == ("ent_coef", 0.03, 0.02, "b")
    assert settings.ent_coef == 0.02 and show.temperature == cfg.live.temperature
    # A checkpoint's state gives the same knobs back.
    again = Knobs(cfg, saved=knobs.state())
    assert again.values == knobs.values and [c.change_id for c in again.changes] == ["a", "b", "r"]


def test_a_run_must_start_inside_its_bounds():
    with pytest.raises(
        ConfigError, match=r"knobs.ent_coef: the run starts at 0.2, outside its bounds \[0, 0.05\]"
    ):
        load_config(None, ["ppo.ent_coef=0.2"])
    with pytest.raises(ConfigError, match=r"knobs\.learning_rate"):
        load_config(None, ["knobs.learning_rate=[0.01, 0.001]"])


def small(tmp_path, port, updates):
    return load_config(
        None,
        [
            f"run.run_dir='{tmp_path / 'run'}'",
            f"run.updates={updates}",
            *small_overrides(),
            f"live.server_url='ws://127.0.0.1:{port}/ws/trainer'",
            "live.move_interval_s=0.05",
            "live.thumbnails=0",
        ],
    )


def control(**fields):
    return make("control", Control(action="knob", **fields), seq=0)


def wait_for(server, seen, predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        envelope, payload = server.take(timeout=max(0.1, deadline - time.monotonic()))
        seen.append((envelope.t, payload))
        if predicate(envelope.t, payload):
            return payload
    raise AssertionError("timed out")


def drain(server):
    out = []
    while not server.received.empty():
        envelope, payload = server.received.get_nowait()
        out.append((envelope.t, payload))
    return out


def test_a_change_reaches_the_optimiser_at_the_next_update_and_a_revert_restores_it(tmp_path):
    port = free_port()
    server = FakeServer(port).start()
    cfg = small(tmp_path, port, updates=40)
    result = {}
    runner = threading.Thread(target=lambda: result.update(r=train(cfg, token="tok")), daemon=True)
    runner.start()
    seen = []
    try:
        wait_for(server, seen, lambda t, p: t == "metrics")
        server.send(control(knob="learning_rate", value=0.0005, change_id="lr1", source="control room"))
        server.send(control(knob="ent_coef", value=0.5, change_id="bad", source="chat challenge"))
        answers = {}
        wait_for(server, seen, lambda t, p: t == "knob_change" and answers.update({p.change_id: p}) is None
                 and {"lr1", "bad"} <= set(answers))  # fmt: skip
        applied, refused = answers["lr1"], answers["bad"]
        server.send(control(revert_of="lr1", change_id="undo"))
        undone = wait_for(server, seen, lambda t, p: t == "knob_change" and p.change_id == "undo")
        runner.join(120)
    finally:
        server.stop()
    seen += drain(server)
    assert not runner.is_alive() and result["r"].updates == 40
    assert refused.status == "refused" and "outside the run's bounds" in refused.reason
    assert applied.status == "applied" and (applied.old, applied.new) == (cfg.ppo.learning_rate, 0.0005)
    assert undone.status == "applied" and undone.revert_of == "lr1" and undone.new == cfg.ppo.learning_rate
    assert applied.update < undone.update
    # The optimiser's learning rate per update, as the loop set it: the old value, the new one from
    # the update the change names, the old one again from the revert's.
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    lrs = {line["update"]: line["ppo/lr"] for line in lines}
    for update, lr in lrs.items():
        expected = 0.0005 if applied.update <= update < undone.update else cfg.ppo.learning_rate
        assert lr == pytest.approx(expected), update
    assert all(line["ppo/ent_coef"] == cfg.ppo.ent_coef for line in lines)  # the refused one never applied
    # Recorded: the run record, a milestone, the checkpoint (the optimiser's own state included).
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert [c["change_id"] for c in record["knob_changes"]] == ["lr1", "undo"]
    milestones = [p for t, p in seen if t == "milestone" and p.kind == "knob_change"]
    assert [m.value for m in milestones] == [0.0005, cfg.ppo.learning_rate]
    data = torch.load(tmp_path / "run" / "checkpoints" / "latest.pt", weights_only=False)
    assert data["knobs"]["values"]["learning_rate"] == cfg.ppo.learning_rate
    assert data["optimizer"]["param_groups"][0]["lr"] == pytest.approx(cfg.ppo.learning_rate)
    statuses = [p for t, p in seen if t == "status" and p.knobs]
    assert statuses and {k.name for k in statuses[-1].knobs} == {
        "ent_coef",
        "learning_rate",
        "temperature",
        "greedy_share",
    }


def test_a_resumed_run_keeps_its_knobs(tmp_path):
    port = free_port()
    server = FakeServer(port).start()
    cfg = small(tmp_path, port, updates=30)
    runner = threading.Thread(target=lambda: train(cfg, token="tok"), daemon=True)
    runner.start()
    seen = []
    try:
        wait_for(server, seen, lambda t, p: t == "metrics")
        server.send(control(knob="ent_coef", value=0.04, change_id="e1"))
        wait_for(server, seen, lambda t, p: t == "knob_change" and p.change_id == "e1")
        runner.join(120)
    finally:
        server.stop()
    resumed = load_config(None, [f"run.run_dir='{tmp_path / 'run'}'", "run.updates=2", *small_overrides()])
    train(resumed, resume=True)
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [line["update"] for line in lines] == list(range(1, 33))
    assert lines[-1]["ppo/ent_coef"] == 0.04 and lines[-2]["ppo/ent_coef"] == 0.04
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert [c["change_id"] for c in record["knob_changes"]] == ["e1"] and record["start_update"] == 30


def small_overrides():
    return [
        "compile.mode='off'",
        "run.threads=1",
        "model.preset='custom'",
        "model.depth=1",
        "model.width=8",
        "model.value_hidden=8",
        "env.num_envs=8",
        "env.max_plies=30",
        "ppo.num_steps=8",
        "ppo.minibatch_size=32",
        "eval.every_updates=0",
        "curriculum.random_opponent_envs=0",
    ]


def random_act(obs, mask):
    a = torch.distributions.Categorical(logits=torch.where(mask, 0.0, -1e9)).sample()
    return a, torch.zeros(len(a)), torch.zeros(len(a))


def test_the_opponent_mix_sends_each_new_random_env_game_to_the_greedy_mover_by_its_share():
    from showcase_core.shogi.features import N_PLANES
    from trainer.ppo import Rollout
    from trainer.selfplay import Collector

    torch.manual_seed(0)
    collector = Collector(2, max_plies=4, gamma=0.9, material_shaping=0.0, random_opponent_envs=6, seed=0)
    roll = Rollout.empty(6, 8, N_PLANES, 13527)

    def collect():
        return collector.collect(roll, random_act, lambda obs: torch.zeros(obs.shape[0]))

    stats = collect()
    assert stats.vs_opponent and not stats.vs_greedy  # share 0: every game against the random mover
    # The knob reaches the collector at the next update; games already going finish as they began.
    cfg = load_config(None, [])
    knobs = Knobs(cfg)
    assert knobs.request(Control(action="knob", knob="greedy_share", value=1.0, change_id="m1")) is None
    assert collector.curriculum.alt_share == 0.0  # nothing before the next update
    (applied,) = knobs.apply_pending(2, collector=collector)
    assert (applied.knob, applied.old, applied.new) == ("greedy_share", 0.0, 1.0)
    assert collector.curriculum.alt_share == 1.0
    collect()  # every env finishes its current game (4-ply cap) and starts one against greedy
    assert collector.curriculum.uses_alt.all()
    stats = collect()
    assert stats.vs_greedy and not stats.vs_opponent  # share 1: every game against the greedy mover
    # Outside its bounds it is refused with the reason.
    reason = knobs.request(Control(action="knob", knob="greedy_share", value=1.5, change_id="m2"))
    assert reason == "opponent mix (greedy share) 1.5 is outside the run's bounds [0, 1] (config [knobs])"


def test_a_mixed_share_splits_the_games_and_labels_the_thumbnails_by_the_opponent_played():
    from showcase_core.shogi.features import N_PLANES
    from trainer.ppo import Rollout
    from trainer.selfplay import Collector
    from trainer.thumbnails import Thumbnails

    torch.manual_seed(1)
    collector = Collector(1, max_plies=4, gamma=0.9, material_shaping=0.0, random_opponent_envs=16,
                          seed=3, greedy_share=0.5)  # fmt: skip
    sent = []
    thumbs = Thumbnails(collector, lambda t, d: sent.append(d), slots=6, every_s=0.5, clock=lambda: 1e9)
    collector.watch = thumbs.on_step
    roll = Rollout.empty(8, 17, N_PLANES, 13527)
    stats = collector.collect(roll, random_act, lambda obs: torch.zeros(obs.shape[0]))
    n_random, n_greedy = len(stats.vs_opponent), len(stats.vs_greedy)
    assert n_random and n_greedy  # both opponents played with a share of one half
    assert abs(n_greedy / (n_random + n_greedy) - 0.5) < 0.3
    labels = {g.opponent for msg in sent for g in msg.games} - {"self"}
    assert labels == {"random", "greedy"}  # each thumbnail names the opponent its game is against


def test_the_automatic_mix_moves_by_a_full_window_of_results_and_stays_in_its_bounds():
    from trainer.selfplay import AutoMix

    mix = AutoMix(0.01, 0.05, window=4, up_at=0.97, down_at=0.9, step=0.02)
    assert mix.after(0.01, [1.0, 1.0, 1.0]) == 0.01  # three games: no full window yet
    assert mix.after(0.01, [1.0]) == 0.03  # four wins: up one step, and the window starts afresh
    assert mix.scores == []
    assert mix.after(0.03, [1.0, 0.0, 1.0]) == 0.03  # three games under the new mix: not yet
    assert mix.after(0.03, [1.0, 1.0]) == 0.01  # the newest four (0, 1, 1, 1) score 0.75: down
    assert mix.after(0.01, [0.5] * 4) == 0.01  # 0.5, but the low bound holds; the window rolls on
    assert mix.scores == [0.5] * 4
    assert mix.after(0.01, [1.0] * 4) == 0.03  # the newest four only
    assert mix.after(0.03, [1.0] * 4) == 0.05
    assert mix.after(0.05, [1.0] * 4) == 0.05  # the high bound holds
    assert mix.after(0.05, [1.0, 1.0, 1.0, 0.5]) == 0.03  # 0.875 < 0.90
    assert mix.after(0.03, [1.0, 1.0, 1.0, 0.75]) == 0.03  # 0.9375: between the two, no move


def test_a_run_with_the_automatic_mix_and_a_schedule_by_minutes_logs_both(tmp_path):
    cfg = load_config(
        None,
        [
            f"run.run_dir='{tmp_path / 'run'}'",
            "run.minutes=0.25",
            "ppo.lr_schedule='linear'",
            *small_overrides(),
            "curriculum.random_opponent_envs=8",
            "curriculum.greedy_share_auto=true",
            "curriculum.greedy_share_max=0.3",
            "env.max_plies=6",  # short games: every update ends a window's worth against random
        ],
    )
    train(cfg)
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) >= 3
    lrs = [x["ppo/lr"] for x in lines]
    assert all(0 < a <= 1e-3 for a in lrs) and lrs == sorted(lrs, reverse=True) and lrs[-1] < lrs[0]
    shares = [x["curriculum/greedy_share"] for x in lines]
    assert all(0.0 <= s <= 0.3 for s in shares)
    # A capped 6-ply game against the random mover is a draw (0.5 < 0.9): the share stays at its floor.
    assert shares == [0.0] * len(shares)
