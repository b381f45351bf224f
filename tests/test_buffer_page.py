"""The buffer-usage widget in Chromium: "none" before an update; then the latest update's phase bars
and Black-versus-White figures, each the trainer's metric; a bar with no data (nothing clipped) says
so."""

from test_pages import ARTIFACTS, Connected, browser, open_page, settled  # noqa: F401 (browser: fixture)
from test_server import Running

VALUES = {
    "buffer/samples_opening": 0.5, "buffer/samples_middlegame": 0.3, "buffer/samples_endgame": 0.2,
    "buffer/clipped_opening": 0.1, "buffer/clipped_middlegame": 0.25, "buffer/clipped_endgame": 0.65,
    "buffer/high_adv_opening": 0.05, "buffer/high_adv_middlegame": 0.15, "buffer/high_adv_endgame": 0.8,
    "side/black_entropy": 2.345, "side/white_entropy": 2.1, "side/black_clip_rate": 0.125,
    "side/white_clip_rate": 0.0625, "side/black_value": 0.1234, "side/white_value": -0.05,
    "selfplay/black_win_rate": 0.55, "selfplay/white_win_rate": 0.4,
}  # fmt: skip


def metrics(update, values):
    return ("metrics", {"update": update, "samples": update * 64, "values": values})


def read(page):
    return page.evaluate(
        """() => ({
        update: document.querySelector('.bu-update').textContent,
        bars: [...document.querySelectorAll('.bu-row')].map(r => [r.dataset.bar,
            [...r.querySelectorAll('.bu-bar i')].map(i => i.style.width),
            r.querySelector('.bu-text').textContent]),
        sides: [...document.querySelectorAll('.bu-sides tbody tr')]
            .map(tr => [...tr.children].map(c => c.textContent)),
    })"""
    )


def test_the_buffer_widget_shows_the_latest_updates_phases_and_sides(browser, tmp_path):  # noqa: F811
    later = {**VALUES, "buffer/clipped_opening": None, "buffer/clipped_middlegame": None,
             "buffer/clipped_endgame": None, "side/white_value": 0.25}  # fmt: skip
    with Running(tmp_path, analysis_nodes=0) as srv:
        page, errors = open_page(browser, f"{srv.http}/overlay/buffer", (700, 500))
        page.wait_for_selector(".buffer-widget .bu-empty:not([hidden])")
        empty = page.locator(".bu-empty").inner_text()
        with Connected(srv, [metrics(3, VALUES)]):
            page.wait_for_function("() => document.querySelector('.bu-update').textContent === '(update 3)'")
            settled(page)
            first = read(page)
            page.screenshot(path=str(ARTIFACTS / "overlay-buffer.png"))
        with Connected(srv, [metrics(4, later)]):
            page.wait_for_function("() => document.querySelector('.bu-update').textContent === '(update 4)'")
            settled(page)
            second = read(page)
        # A new page draws the same from the snapshot.
        fresh, fresh_errors = open_page(browser, f"{srv.http}/overlay/buffer", (700, 500))
        fresh.wait_for_function("() => document.querySelector('.bu-update').textContent === '(update 4)'")
        settled(fresh)
        from_snapshot = read(fresh)
        page.close()
        fresh.close()
    assert errors == [] and fresh_errors == []
    assert empty == "No PPO update yet: no buffer to show"
    assert first["bars"] == [
        ["samples", ["50%", "30%", "20%"], "50 / 30 / 20"],
        ["clipped", ["10%", "25%", "65%"], "10 / 25 / 65"],
        ["high_adv", ["5%", "15%", "80%"], "5 / 15 / 80"],
    ]
    assert first["sides"] == [
        ["win rate", "55%", "40%"],
        ["policy entropy", "2.35 nats", "2.10 nats"],
        ["clip rate", "12.5%", "6.3%"],
        ["mean value", "+0.123", "-0.050"],
    ]
    assert second["bars"][1] == ["clipped", ["0%", "0%", "0%"], "none"]
    assert second["sides"][3] == ["mean value", "+0.123", "+0.250"]
    assert from_snapshot == second
