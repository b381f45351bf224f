"""The control room (/) in Chromium: the admin token taken from the printed link and kept in the
browser, showcase controls reaching the (scripted) trainer, a predict round run from the page with
local chat, and a refused token asked for again."""

import time

import httpx
from test_pages import ARTIFACTS, browser  # noqa: F401 (browser: fixture)
from test_poll_pages import Background
from test_polls import ScriptedShowcase
from test_server import Running


def wait_until(predicate, timeout=15):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_control_room_drives_the_showcase_and_a_predict_round(browser, tmp_path):  # noqa: F811
    bg = Background()
    with Running(tmp_path, predict_window_s=600, reveal_s=120) as srv:
        token = (tmp_path / "data" / "admin_token").read_text().strip()
        show = ScriptedShowcase(srv)
        bg.run(show.__aenter__())
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1300})
            errors = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{srv.http}/?token={token}")
            page.wait_for_selector("sg-board")
            address = page.evaluate("() => location.href")
            stored = page.evaluate("() => localStorage.getItem('shogi-showcase-admin-token')")
            token_form_hidden = page.locator("#token-panel").is_hidden()
            widgets = page.evaluate(
                "() => ['.board-widget', '.moves-widget', '.health-widget', '.progress-widget',"
                " '.poll-widget', '.leaderboard-widget'].map(s => !!document.querySelector(s))"
            )
            status = {"state": "training", "update": 7, "samples": 3584, "weights_version": 7,
                      "showcase": "paused", "move_interval_s": 0.75}  # fmt: skip
            bg.run(show.send("status", status))
            page.wait_for_function(
                "() => document.getElementById('trainer-line').textContent.includes('paused')"
            )
            trainer_line = page.locator("#trainer-line").inner_text()
            page.wait_for_function("() => document.getElementById('archive-line').textContent.includes('MB')")
            archive_line = page.locator("#archive-line").inner_text()
            bus_line = page.locator("#bus-line").inner_text()
            health = httpx.get(f"{srv.http}/healthz").json()["archive"]
            page.click("button[data-action=pause]")
            page.click("button[data-speed='0.75']")
            wait_until(lambda: len(show.controls) == 2)
            page.fill("#predict-form input[name=window_s]", "300")
            page.click("#predict-form button[type=submit]")
            page.wait_for_function(
                "() => document.querySelector('.poll-widget .kind').textContent === 'Pause and predict'"
            )
            wait_until(lambda: show.pending is not None)
            answer = show.pending["move"]
            page.fill("#chat-form input[name=text]", f"!predict {answer['japanese'].lstrip('▲△')}")
            page.click("#chat-form button[type=submit]")
            page.wait_for_function(
                "() => document.querySelector('#log').textContent.includes('reply to streamer')"
            )
            page.click("button[data-poll=close]")
            page.wait_for_selector(".poll-widget .reveal:not([hidden])")
            page.wait_for_selector(".leaderboard-widget tbody tr:not([hidden])")
            leader = page.locator(".leaderboard-widget tbody tr .who").first.inner_text()
            log = page.locator("#log").inner_text()
            ARTIFACTS.mkdir(exist_ok=True)
            time.sleep(0.2)
            page.screenshot(path=str(ARTIFACTS / "control-room.png"))
            # A reload keeps the token (localStorage), and a refused token is asked for again.
            page.reload()
            page.wait_for_selector("sg-board")
            reload_form_hidden = page.locator("#token-panel").is_hidden()
            page.evaluate("() => localStorage.setItem('shogi-showcase-admin-token', 'wrong')")
            page.click("button[data-action=resume]")
            page.wait_for_selector("#token-panel:not([hidden])")
            refused = page.locator("#log li").first.inner_text()
            page.fill("#token-form input[name=token]", token)
            page.click("#token-form button[type=submit]")
            page.click("button[data-action=resume]")
            wait_until(lambda: show.controls[-1]["action"] == "resume")
            page.close()
        finally:
            bg.run(show.__aexit__(None, None, None))
            bg.close()
    assert "token" not in address and stored == token and token_form_hidden and reload_form_hidden
    assert widgets == [True] * 6
    assert trainer_line == "trainer training, update 7, 3,584 samples; showcase paused, 0.75 s per move"
    assert [c["action"] for c in show.controls[:2]] == ["pause", "speed"] and show.controls[1][
        "seconds"
    ] == 0.75
    assert [c["action"] for c in show.controls[2:4]] == ["predict_hold", "release"]
    assert leader == "streamer" and "predict round: done" in log and "Close voting now: done" in log
    assert f"counted: {answer['japanese']}" in log
    assert refused.endswith("the server refused the admin token: enter it again")
    # The one console error is the browser's own report of the refused (401) request.
    assert len(errors) == 1 and "401" in errors[0]
    games = sum(health["games"].values())
    assert archive_line.startswith(f"archive: {health['bytes'] / 2**20:.1f} MB in use, {games} games, ")
    assert bus_line == "web tier: one process (python -m server up --workers N for more)"
    assert health["retention"] == {"keep_sampled_days": 7.0, "keep_days": 0.0, "max_bytes": 0,
                                   "last_pass": health["retention"]["last_pass"]}  # fmt: skip
    assert health["retention"]["last_pass"]["deleted"] == {} and health["file_bytes"] >= health["bytes"]
