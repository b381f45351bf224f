"""SE attention over time: the shipped positions are legal and what they say; a real training run
sends one frame per saved checkpoint (and the untrained network's at update 0) to a real server,
which keeps them in the archive and serves them; each frame is what that checkpoint's network sees
(read back by analysing the kept checkpoint files again); the /timelapse page plays them in Chromium."""

import json
import time

import cshogi
import httpx
import pytest
from test_compare_page import tinted_squares, top_squares
from test_knobs import small_overrides
from test_pages import ARTIFACTS, browser, open_page, settled  # noqa: F401 (browser: fixture)
from test_server import TOKEN, Running

from showcase_core.protocol import AttentionFrame
from trainer.config import load_config
from trainer.loop import train
from trainer.timelapse import POSITIONS, from_run_dir, position_games


def test_the_shipped_positions_are_legal_and_what_their_titles_say():
    games = {key: game for key, _, game in position_games()}
    assert list(games) == [p[0] for p in POSITIONS]
    assert games["start"].sfen() == cshogi.Board().sfen()
    mate = cshogi.Board(games["mate-in-one"].sfen())
    assert cshogi.move_to_usi(mate.mate_move_in_1ply()) == "G*5b"
    assert games["ranging-mino"].sfen().split()[1] == "w"
    assert games["bishop-exchange"].sfen().split()[2] == "Bb"  # a bishop in each hand


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real (tiny) training run of 3 updates, a checkpoint each, publishing to a real server."""
    tmp = tmp_path_factory.mktemp("tl")
    with Running(tmp, analysis_nodes=0) as srv:
        cfg = load_config(None, [f"run.run_dir='{tmp / 'run'}'", "run.updates=3", *small_overrides(),
                                 f"live.server_url='{srv.ws}/ws/trainer'", "live.move_interval_s=0.05",
                                 "live.thumbnails=0", "checkpoint.every_updates=1"])  # fmt: skip
        train(cfg, token=TOKEN)
        deadline = time.monotonic() + 30
        while True:  # the publisher flushes on stop; the server's store writes in the background
            r = httpx.get(f"{srv.http}/api/timelapse/current", timeout=10)
            if (r.status_code == 200 and len(r.json()["frames"]) == 4) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        listing = httpx.get(f"{srv.http}/api/timelapse", timeout=10).json()
        yield srv, r.json(), listing, tmp / "run"


def test_each_saved_checkpoint_sends_a_frame_the_server_keeps_and_serves(trained):
    srv, served, listing, run_dir = trained
    frames = served["frames"]
    assert [f["update"] for f in frames] == [0, 1, 2, 3]
    for f in frames:
        AttentionFrame.model_validate(f)
        assert [p["key"] for p in f["positions"]] == [p[0] for p in POSITIONS]
    assert [f["samples"] for f in frames] == [0, 64, 128, 192]  # 8 envs x 8 steps per update
    assert listing["runs"] == [{"run_id": served["run_id"], "frames": 4, "first_update": 0, "last_update": 3}]
    # The trainer's own copies, one file per frame.
    on_disk = sorted((run_dir / "timelapse").glob("update_*.json"))
    assert [json.loads(p.read_text())["update"] for p in on_disk] == [0, 1, 2, 3]
    # Each frame is what that checkpoint's network sees: analyse the kept checkpoints again.
    again = {json.loads(p.read_text())["update"]: json.loads(p.read_text()) for p in from_run_dir(run_dir)}
    assert sorted(again) == [1, 2, 3]  # checkpoint.keep = 3
    for f in frames[1:]:
        for mine, theirs in zip(f["positions"], again[f["update"]]["positions"], strict=True):
            assert mine["sfen"] == theirs["sfen"]
            assert mine["insight"]["maps"] == theirs["insight"]["maps"]
            assert mine["insight"]["value"] == theirs["insight"]["value"]
    # The maps change as the network learns.
    first, last = frames[0]["positions"][0], frames[-1]["positions"][0]
    assert first["insight"]["maps"]["se_attention_mean"] != last["insight"]["maps"]["se_attention_mean"]
    # Nothing of it went to the viewers' feed, and an unknown run is a clear 404.
    r = httpx.get(f"{srv.http}/api/timelapse/nobody", timeout=10)
    assert r.status_code == 404 and "no attention frames for run 'nobody'" in r.json()["detail"]


def test_the_timelapse_page_reads_none_without_frames(browser, tmp_path):  # noqa: F811
    with Running(tmp_path, analysis_nodes=0) as srv:
        page, errors = open_page(browser, f"{srv.http}/timelapse", (1280, 800))
        page.wait_for_selector("#none:not([hidden])")
        none = page.locator("#none").inner_text()
        page.close()
    assert errors == [] or all("404" in e for e in errors)
    assert none.startswith("No checkpoint has been analysed yet")


def test_the_timelapse_page_plays_each_checkpoints_map(trained, browser):  # noqa: F811
    srv, served, _, _ = trained
    frames = served["frames"]
    page, errors = open_page(browser, f"{srv.http}/timelapse?position=open-lanes", (1280, 800))
    page.wait_for_selector("#main:not([hidden])")
    settled(page)
    seen = []
    for i in (3, 0, 1):
        page.evaluate(f"() => window.showcase.goTo({i})")
        settled(page)
        seen.append((page.locator("#update-text").inner_text(), tinted_squares(page)[0],
                     page.evaluate("() => window.showcase.state.key")))  # fmt: skip
        if i == 3:
            page.screenshot(path=str(ARTIFACTS / "timelapse.png"))
    page.keyboard.press("End")
    settled(page)
    end = page.locator("#update-text").inner_text()
    summary = page.locator("#summary").inner_text()
    page.close()
    assert errors == []
    assert summary == f"4 checkpoints of run {served['run_id']}, updates 0 to 3."
    for (text, tinted, key), i in zip(seen, (3, 0, 1), strict=True):
        f = frames[i]
        pos = next(p for p in f["positions"] if p["key"] == "open-lanes")
        assert key == "open-lanes"
        assert text == f"Update {f['update']} ({f['samples']:,} samples): checkpoint {i + 1} of 4"
        assert tinted == top_squares(pos["insight"]["maps"]["se_attention_mean"])
    assert end == seen[0][0]


def test_a_frame_that_fails_is_reported_and_training_goes_on(tmp_path, monkeypatch, capsys):
    from fake_server import free_port

    import trainer.timelapse as tl

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(tl, "frame", boom)
    overrides = [f"run.run_dir='{tmp_path / 'run'}'", "run.updates=1", *small_overrides(),
                 f"live.server_url='ws://127.0.0.1:{free_port()}/ws/trainer'", "live.showcase=false",
                 "live.thumbnails=0", "checkpoint.every_updates=1"]  # fmt: skip
    cfg = load_config(None, overrides)
    result = train(cfg, token=TOKEN)
    err = capsys.readouterr().err
    assert result.updates == 1 and (tmp_path / "run" / "checkpoints" / "update_000001.pt").exists()
    assert "timelapse: no frame at update 0: RuntimeError('boom')" in err
    assert "timelapse: no frame at update 1: RuntimeError('boom')" in err
    assert not (tmp_path / "run" / "timelapse").exists()
