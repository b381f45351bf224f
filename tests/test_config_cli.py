"""Config validation names the field; the train CLI stops cleanly on SIGTERM and can resume."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trainer.config import ConfigError, TrainConfig, load_config

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_are_valid_and_batch_divides():
    cfg = load_config()
    assert isinstance(cfg, TrainConfig)
    assert cfg.batch_size % cfg.ppo.minibatch_size == 0


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_configs_load_and_name_their_own_command(path):
    """The README's benchmark commands run these files: each one validates, its batch divides into
    minibatches, its run directory is its own, and its header's command names the file itself."""
    cfg = load_config(path)
    assert cfg.batch_size % cfg.ppo.minibatch_size == 0
    others = [load_config(p).run.run_dir for p in (ROOT / "configs").glob("*.toml") if p != path]
    assert cfg.run.run_dir not in others
    header = path.read_text().split("[", 1)[0]
    default = path.name == "cpu-small-30min.toml"  # `bench learn` runs it when given no --config
    assert f"configs/{path.name}" in header or default


def test_toml_file_and_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[ppo]\nlearning_rate = 0.001\nlr_schedule = "cosine"\n[env]\nnum_envs = 16\n')
    cfg = load_config(path, ["ppo.num_steps=8", "ppo.minibatch_size=64", "run.run_dir=elsewhere"])
    assert cfg.ppo.learning_rate == 0.001 and cfg.ppo.lr_schedule == "cosine"
    assert cfg.env.num_envs == 16 and cfg.ppo.num_steps == 8 and cfg.run.run_dir == "elsewhere"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (["ppo.learning_rate=-1"], "ppo.learning_rate"),
        (["ppo.lr_schedule='steps'"], "ppo.lr_schedule"),
        (["ppo.minibatch_size=1000"], "ppo.minibatch_size"),
        (["env.num_envs=0"], "env.num_envs"),
        (["compile.mode='fast'"], "compile.mode"),
        (["ppo.typo=1"], "ppo.typo"),
        (["env.start_sfens=['9/9 b - 1']"], "env.start_sfens"),
    ],
)
def test_invalid_values_name_the_field(overrides, field):
    with pytest.raises(ConfigError) as info:
        load_config(None, overrides)
    assert field in str(info.value)


def test_unreadable_config_file_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[ppo\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


TINY = [
    "--set", "model.preset='custom'", "--set", "model.depth=1", "--set", "model.width=8",
    "--set", "model.value_hidden=8", "--set", "env.num_envs=8", "--set", "ppo.num_steps=8",
    "--set", "ppo.minibatch_size=32", "--set", "eval.every_updates=0",
    "--set", "checkpoint.every_updates=1000", "--set", "curriculum.random_opponent_envs=0", "--threads", "1",
    "--set", "compile.mode='off'",
]  # fmt: skip


def test_sigterm_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "trainer", "train", "--run-dir", str(run_dir), "--json", *TINY]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = run_dir / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.exists() and metrics.read_text().count("\n") >= 2):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "no update within two minutes"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["stopped_by"] == "SIGTERM"
    assert summary["updates"] >= 2 and Path(summary["checkpoint"]).is_file()

    # --resume picks up where it stopped.
    again = subprocess.run(
        [*cmd, "--resume", "--updates", "1"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout.strip().splitlines()[-1])["updates"] == summary["updates"] + 1


def test_cli_reports_config_errors_without_a_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "trainer", "train", "--run-dir", str(tmp_path), "--set", "ppo.clip_coef=-1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "ppo.clip_coef" in result.stderr and "Traceback" not in result.stderr


def test_every_config_field_is_documented():
    text = (ROOT / "docs" / "config.md").read_text()
    for section_name, section in TrainConfig.model_fields.items():
        assert f"[{section_name}]" in text, section_name
        for field_name in section.annotation.model_fields:
            assert f"\n{field_name} =" in text, f"{section_name}.{field_name} missing from docs/config.md"


def test_asking_for_cuda_without_one_is_a_clear_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = subprocess.run(
        [sys.executable, "-m", "trainer", "train", "--run-dir", str(tmp_path), "--set", "run.device='cuda'"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "run.device" in result.stderr and "Traceback" not in result.stderr
