"""The package's promises: torch-free rules, the benchmark's output contract, the compose file."""

import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def run_python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_server_imports_nothing_from_the_trainer():
    offenders = [
        str(path.relative_to(ROOT)) for path in (ROOT / "server").rglob("*.py")
        if "from trainer" in path.read_text() or "import trainer" in path.read_text()
    ]  # fmt: skip
    assert offenders == []


def test_rules_and_server_import_without_torch():
    code = (
        "import sys, showcase_core.shogi, showcase_core.shogi.vecenv, showcase_core.shogi.notation\n"
        "import showcase_core.shogi.records, showcase_core.protocol, showcase_core.publisher\n"
        "import showcase_core.engines.usi, showcase_core.engines.play, showcase_core.engines.judge\n"
        "import server, server.store, server.hub, server.app, server.bench_soak, server.chat.eventsub\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))\n"
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr


def test_env_benchmark_prints_one_json_object_with_its_figures():
    result = run_python("-m", "trainer", "bench", "env", "--seconds", "0.3", "--envs", "4", "--json")
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.strip().splitlines()
    figures = json.loads(line)
    for key in ("raw_cshogi_plies_per_s", "vecenv_steps_per_s", "ratio", "envs", "seconds"):
        assert key in figures
    assert figures["envs"] == 4 and figures["seconds"] == 0.3
    assert figures["raw_cshogi_plies_per_s"] > 0 and figures["vecenv_steps_per_s"] > 0
    expected = figures["vecenv_steps_per_s"] / figures["raw_cshogi_plies_per_s"]
    assert abs(figures["ratio"] - expected) < 2e-3


def test_benchmark_refuses_bad_arguments():
    result = run_python("-m", "trainer", "bench", "env", "--envs", "0")
    assert result.returncode == 2 and "--envs" in result.stderr


def test_compose_runs_server_and_trainer_on_one_data_volume():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"server", "trainer"}
    for service in services.values():
        assert "showcase-data:/data" in service["volumes"]
    assert "showcase-data" in compose["volumes"]
    assert services["server"]["ports"] == ["127.0.0.1:8000:8000"]  # published on loopback only
    assert "ws://server:8000/ws/trainer" in services["trainer"]["command"]


def test_demo_prints_a_game_whose_kif_reads_back():
    from showcase_core.shogi.records import from_kif

    result = run_python("-m", "trainer", "demo", "--seed", "5", "--max-plies", "30", "--format", "kif")
    assert result.returncode == 0, result.stderr
    record = from_kif(result.stdout)
    assert record.game.ply == 30 and record.reason == "max_plies"


def test_the_image_carries_what_the_server_reads_beside_its_package():
    """The pages come from static/, templates/ and node_modules/ next to the packages (server/routes/
    pages.py ROOT): the image copies all of them and installs editable, so ROOT is the app folder."""
    from server.routes import pages

    dockerfile = (ROOT / "Dockerfile").read_text()
    lines = [line.split() for line in dockerfile.splitlines() if line.startswith("COPY")]
    copied = {Path(parts[-1]).name for parts in lines}
    needed = {Path(p).relative_to(pages.ROOT).parts[0] for p in (pages.STATIC, *pages.VENDOR.values())}
    needed |= {"templates", "showcase_core", "trainer", "server"}
    assert needed <= copied, needed - copied
    assert "pip install --no-cache-dir -e ." in dockerfile
