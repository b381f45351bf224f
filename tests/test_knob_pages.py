"""The learning-knobs widget and the control room's knob controls in Chromium: "none" without data,
the trainer's knobs and this run's changes, KL and entropy before and after the latest change computed
from the metrics, a parameter challenge run from the control room through the streamer's approval,
a direct change refused outside its bounds, and a revert."""

import httpx
from test_challenges import KNOBS
from test_challenges import status as knob_status
from test_control_page import wait_until
from test_pages import ARTIFACTS, Connected, browser, metrics_message, open_page, settled  # noqa: F401
from test_poll_pages import Background
from test_polls import ScriptedShowcase
from test_server import Running

APPLIED = {"change_id": "c-1", "knob": "ent_coef", "old": 0.01, "new": 0.02, "status": "applied", "update": 5,
           "source": "chat challenge"}  # fmt: skip
REASON = "entropy coefficient 0.5 is outside the run's bounds [0, 0.05] (config [knobs])"
REFUSED = {"change_id": "c-2", "knob": "ent_coef", "new": 0.5, "status": "refused", "source": "control room",
           "reason": REASON}  # fmt: skip


def texts(page):
    return page.evaluate(
        """() => ({
            values: document.querySelector('.kn-values').textContent,
            effect: document.querySelector('.kn-effect').textContent,
            rows: [...document.querySelectorAll('.kn-changes li:not([hidden]) .kn-what')]
                .map(e => e.textContent),
        })"""
    )


def test_the_knobs_widget_reads_none_then_the_changes_and_their_effect(browser, tmp_path):  # noqa: F811
    metrics = [metrics_message(u, 0.01 * u, 0.1) for u in range(1, 9)]
    with Running(tmp_path, analysis_nodes=0) as srv:
        page, errors = open_page(browser, f"{srv.http}/overlay/knobs", (700, 320))
        page.wait_for_selector(".knobs-widget")
        settled(page)
        empty = texts(page)
        page.screenshot(path=str(ARTIFACTS / "overlay-knobs-empty.png"))
        messages = [("status", knob_status()), *metrics[:4], ("knob_change", APPLIED), *metrics[4:],
                    ("knob_change", REFUSED)]  # fmt: skip
        with Connected(srv, messages):
            page.wait_for_function(
                "() => document.querySelectorAll('.kn-changes li:not([hidden])').length === 2"
            )
            settled(page)
            live = texts(page)  # (the hub conflates a burst of metrics for a live page: the rows only)
            page.reload()
            page.wait_for_function(
                "() => document.querySelector('.kn-effect').textContent.includes('(4 updates) after')"
            )
            settled(page)
            reloaded = texts(page)
            page.screenshot(path=str(ARTIFACTS / "overlay-knobs.png"))
        page.close()
    assert errors == []
    assert empty == {
        "values": "No status from the trainer yet",
        "effect": "No knob changed in this run yet",
        "rows": [],
    }
    assert (
        live["values"]
        == reloaded["values"]
        == (
            "entropy coefficient 0.01 (0 to 0.05) · learning rate 0.001 (0.00001 to 0.003)"
            " · showcase temperature 0 (0 to 2)"
        )
    )
    # KL is 0.01 x update, entropy 3.2 - 0.1 x update: updates 1-4 before the change, 5-8 after it
    # (from the snapshot's metrics).
    assert reloaded["effect"] == (
        "Since update 5 (entropy coefficient 0.01 -> 0.02):"
        " KL 0.025 (4 updates) before, 0.065 (4 updates) after;"
        " entropy 2.95 (4 updates) before, 2.55 (4 updates) after"
    )
    assert (
        live["rows"]
        == reloaded["rows"]
        == [
            f"refused (control room): entropy coefficient 0.5: {REASON}",
            "update 5: chat challenge set entropy coefficient 0.01 -> 0.02",
        ]
    )


def test_the_control_room_runs_a_challenge_through_approval_and_reverts_a_change(browser, tmp_path):  # noqa: F811
    bg = Background()
    with Running(tmp_path, strategy_window_s=600) as srv:
        token = (tmp_path / "data" / "admin_token").read_text().strip()
        auth = {"Authorization": f"Bearer {token}"}
        show = ScriptedShowcase(srv)
        bg.run(show.__aenter__())
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1400})
            errors = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{srv.http}/?token={token}")
            page.wait_for_selector(".knobs-widget")
            bg.run(show.send("status", knob_status()))
            page.wait_for_function("() => document.querySelectorAll('#knob-name option').length === 3")
            options = page.evaluate(
                "() => [...document.querySelectorAll('#knob-name option')].map(o => o.textContent)"
            )
            # Outside the bounds: the page refuses it (the input's range); the server would say why too.
            page.select_option("#knob-name", "ent_coef")
            bounds = page.evaluate(
                "() => [document.getElementById('knob-value').min, document.getElementById('knob-value').max]"
            )
            refused = httpx.post(f"{srv.http}/api/knobs", json={"knob": "ent_coef", "value": 0.2},
                                 headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            # A challenge: open from the page, chat votes, voting closes, the streamer approves.
            page.click("#knob-challenge")
            page.wait_for_function(
                "() => document.querySelector('.poll-widget .kind').textContent === 'Chat decides'"
            )
            for user in ("a", "b"):
                vote = httpx.post(
                    f"{srv.http}/api/chat", json={"user": user, "text": "!vote 4"}, headers=auth
                )
                assert vote.status_code == 200, vote.text
            page.click("button[data-poll=close]")
            page.wait_for_function(
                "() => document.querySelector('.poll-widget .status').textContent.includes('approval')"
            )
            waiting = page.locator(".poll-widget .status").inner_text()
            sent_before = [c for c in show.controls if c["action"] == "knob"]
            page.screenshot(path=str(ARTIFACTS / "control-challenge-waiting.png"))
            page.click("button[data-poll=approve]")
            wait_until(lambda: any(c["action"] == "knob" for c in show.controls))
            page.wait_for_function(
                "() => document.querySelector('.poll-widget .status').textContent.startsWith('Approved')"
            )
            approved = page.locator(".poll-widget .status").inner_text()
            sent = next(c for c in show.controls if c["action"] == "knob")
            # The trainer applies it; the widget offers a revert, which goes to the trainer too.
            change = {**APPLIED, "change_id": sent["change_id"], "new": sent["value"]}
            bg.run(show.send("knob_change", change))
            page.wait_for_selector(".knobs-widget .kn-revert:not([hidden])")
            page.click(".knobs-widget .kn-revert:not([hidden])")
            wait_until(lambda: any(c.get("revert_of") for c in show.controls))
            reverted = next(c for c in show.controls if c.get("revert_of"))
            page.screenshot(path=str(ARTIFACTS / "control-knobs.png"))
            page.close()
        finally:
            bg.run(show.__aexit__(None, None, None))
            bg.close()
    assert errors == []
    assert options == ["entropy coefficient (0 to 0.05)", "learning rate (0.00001 to 0.003)",
                       "showcase temperature (0 to 2)"]  # fmt: skip
    assert bounds == ["0", "0.05"]
    assert refused.status_code == 422 and "outside the run's bounds [0, 0.05]" in refused.text
    assert (
        waiting == "Chat chose entropy coefficient 0.02 (up from 0.01): waiting for the streamer's approval"
    )
    assert sent_before == []
    assert approved == (
        "Approved by the streamer: entropy coefficient 0.02 (up from 0.01),"
        " from the AI's next training update"
    )
    assert (sent["knob"], sent["value"], sent["source"]) == ("ent_coef", 0.02, "chat challenge")
    assert reverted["revert_of"] == sent["change_id"] and reverted["source"] == "control room"
    assert KNOBS[0]["name"] == "ent_coef"
