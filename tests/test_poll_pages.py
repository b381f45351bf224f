"""The poll and leaderboard overlays in Chromium, driven through a real round: a scripted showcase
holds its move, local chat votes (one voter's name is HTML), the streamer closes, the page reveals."""

import asyncio
import threading
import time

import httpx
from test_pages import (  # noqa: F401 (browser: fixture)
    ARTIFACTS,
    COMPOSITE,
    LAYOUTS,
    WIDGETS,
    assert_fits_without_overlap,
    browser,
    open_page,
    settled,
    visible_boxes,
    widget_boxes,
)
from test_polls import ScriptedShowcase, admin
from test_server import Running

HTML_NAME = "<img src=x onerror=1>"  # a chat-derived name that must stay text


class Background:
    """An event loop in a thread for the scripted trainer (Playwright's sync API owns this thread)."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout=30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def test_poll_and_leaderboard_pages_show_a_round_and_keep_chat_names_as_text(browser, tmp_path):  # noqa: F811
    bg = Background()
    with Running(tmp_path, predict_window_s=600, reveal_s=120) as srv:
        show = ScriptedShowcase(srv)
        bg.run(show.__aenter__())
        try:
            poll_page, poll_errors = open_page(browser, f"{srv.http}/overlay/poll")
            board_page, board_errors = open_page(browser, f"{srv.http}/overlay/leaderboard")
            composite, composite_errors = open_page(browser, f"{srv.http}/overlay", COMPOSITE)
            presets = {
                layout: open_page(browser, f"{srv.http}/overlay?layout={layout}", size)
                for layout, size in LAYOUTS.items()
            }
            poll_page.wait_for_selector(".poll-widget .idle:not([hidden])")
            assert board_page.locator(".leaderboard-widget .empty").is_visible()
            with httpx.Client(base_url=srv.http, headers=admin(tmp_path)) as http:
                assert http.post("/api/polls", json={"kind": "predict"}).status_code == 201
                poll_page.wait_for_function(
                    "() => document.querySelector('.poll-widget .kind').textContent === 'Pause and predict'"
                )
                # The countdown runs from the server's closing time (10 minutes here).
                poll_page.wait_for_function(
                    "() => /^(9|10):\\d\\d$/.test(document.querySelector('.poll-widget .clock').textContent)"
                )
                deadline = time.monotonic() + 10
                while show.pending is None:
                    assert time.monotonic() < deadline
                    time.sleep(0.01)
                answer, top = show.pending["move"], show.pending["insight"]["top"]
                other = next(m for m in top if m["usi"] != answer["usi"])
                http.post("/api/chat", json={"user": HTML_NAME, "text": f"!predict {answer['usi']}"})
                http.post("/api/chat", json={"user": "alice", "text": f"!predict {other['western']}"})
                http.post("/api/chat", json={"user": "bob", "text": f"!predict {other['usi']}"})
                poll_page.wait_for_function(
                    "() => document.querySelector('.poll-widget .bars li .count').textContent === '2'"
                )
                bars = poll_page.evaluate(
                    "() => [...document.querySelectorAll('.poll-widget .bars li:not([hidden])')]"
                    ".map(li => [li.querySelector('.name').textContent,"
                    " li.querySelector('.count').textContent])"
                )
                names = poll_page.evaluate(
                    "() => [...document.querySelectorAll('.poll-widget .chat li:not([hidden]) .who')]"
                    ".map(e => e.textContent)"
                )
                injected = poll_page.evaluate("() => document.querySelectorAll('.poll-widget img').length")
                assert http.post("/api/polls/current/close").status_code == 200
            poll_page.wait_for_selector(".poll-widget .reveal:not([hidden])")
            board_page.wait_for_selector(".leaderboard-widget tbody tr:not([hidden])")
            composite.wait_for_selector(".poll-widget .reveal:not([hidden])")
            composite.wait_for_function("() => document.querySelectorAll('sg-pieces piece').length > 30")
            revealed = poll_page.evaluate(
                """() => ({answer: document.querySelector('.poll-widget .answer').textContent,
                    rows: [...document.querySelectorAll('.poll-widget .reveal tbody tr:not([hidden])')]
                      .map(tr => [...tr.children].map(td => td.textContent)),
                    winners: document.querySelector('.poll-widget .winners').textContent})"""
            )
            standings = board_page.evaluate(
                "() => [...document.querySelectorAll('.leaderboard-widget tbody tr:not([hidden])')]"
                ".map(tr => [...tr.children].map(td => td.textContent))"
            )
            board_injected = board_page.evaluate("() => document.querySelectorAll('img').length")
            ARTIFACTS.mkdir(exist_ok=True)
            time.sleep(0.2)
            poll_page.screenshot(path=str(ARTIFACTS / "overlay-poll.png"))
            board_page.screenshot(path=str(ARTIFACTS / "overlay-leaderboard.png"))
            composite.screenshot(path=str(ARTIFACTS / "overlay-with-poll.png"))
            layout = widget_boxes(composite)
            # Every preset during the reveal: the poll in its slot, the webcam space still clear.
            during = {}
            for name, (page, _) in presets.items():
                page.wait_for_selector(".poll-widget .reveal:not([hidden])")
                settled(page)
                page.screenshot(path=str(ARTIFACTS / f"layout-{name}-poll.png"))
                during[name] = visible_boxes(page, [*WIDGETS, ".webcam-space"])
            # A reload during the reveal shows the same reveal, from the snapshot alone.
            poll_page.reload()
            poll_page.wait_for_selector(".poll-widget .reveal:not([hidden])")
            reloaded = poll_page.locator(".poll-widget .answer").inner_text()
            for page in (poll_page, board_page, composite, *(p for p, _ in presets.values())):
                page.close()
        finally:
            bg.run(show.__aexit__(None, None, None))
            bg.close()
    label = lambda m: f"{m['japanese']} {m['western']}"  # noqa: E731
    assert bars == [[label(other), "2"], [label(answer), "1"]]
    assert names[0] == "bob" and HTML_NAME in names and injected == 0 and board_injected == 0
    assert revealed["answer"] == f"The AI played {answer['japanese']} ({answer['western']})"
    first = top[0]
    assert revealed["rows"][0] == [
        f"{first['japanese']} {first['western']}",
        f"{round(first['prob'] * 100)}%",
        "33%",
    ]
    assert revealed["winners"] == f"Got it: {HTML_NAME}" and reloaded == revealed["answer"]
    assert standings[0] == ["1", HTML_NAME, "10", "1/1", "1"]
    assert {tuple(r[1:3]) for r in standings[1:]} == {("alice", "3"), ("bob", "3")}
    assert_fits_without_overlap(layout)
    for name, boxes in during.items():
        assert ".poll-widget" in boxes and ".webcam-space" in boxes, name
        assert ".progress-widget" not in boxes and ".leaderboard-widget" not in boxes  # the poll's column
        assert_fits_without_overlap(boxes, LAYOUTS[name])
    assert all(errors == [] for _, errors in presets.values())
    assert poll_errors == [] and board_errors == [] and composite_errors == []
