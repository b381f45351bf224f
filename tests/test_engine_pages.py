"""The engine on the pages, in a real headless Chromium against a real server with a real
Fairy-Stockfish: its arrow on the board, its verdict ("AI lost N%") and its line on the value
timeline, the ladder in the progress widget; and what the pages say without an engine."""

from test_pages import ARTIFACTS, COMPOSITE, browser, feed, open_page  # noqa: F401 (browser: fixture)
from test_progress_pages import showcase_game
from test_server import Running
from test_usi import needs_fsf

from showcase_core.engines.ladder import load_table


@needs_fsf
def test_engine_arrow_verdict_and_timeline_for_a_showcase_move(browser, tmp_path):  # noqa: F811
    messages = showcase_game()[:-1]  # five moves with insight, the game still going
    with Running(tmp_path, analysis_live_backlog=16) as srv:
        page, errors = open_page(browser, f"{srv.http}/overlay", COMPOSITE)
        page.wait_for_selector("sg-board")
        feed(srv, messages)
        line = "document.querySelector('.board-widget .engine-line').textContent"
        page.wait_for_function(f"() => /AI lost|found the engine's move/.test({line})")
        page.wait_for_function(
            "() => document.querySelector('.engine-verdict').textContent.includes('Fairy')"
        )
        page.wait_for_function("() => document.querySelector('svg.sg-shapes g.engine line') !== null")
        board_line = page.text_content(".board-widget .engine-line")
        verdict = page.text_content(".engine-verdict")
        engine_points = page.evaluate(
            "() => window.showcase.widgets.find(w => w.state?.engine instanceof Map).state.engine.size"
        )
        page.screenshot(path=str(ARTIFACTS / "overlay-engine.png"))
        stored = __import__("httpx").get(f"{srv.http}/api/games/g-1").json()["moves"][-1]["analysis"]
        page.close()
    best = stored["best"]
    assert best["japanese"] in verdict and best["western"] in verdict
    assert ("AI lost" in verdict) == (stored["label"] != "best")
    if stored["label"] != "best":
        assert f"AI lost {stored['loss']:.1f}%" in verdict and stored["label"] in verdict
    assert f"Black {round(stored['black_chance_after'] * 100)}% by the engine" in board_line
    assert engine_points >= 1
    assert errors == []


def test_pages_say_no_engine_when_there_is_none(browser, tmp_path):  # noqa: F811
    messages = showcase_game()[:-1]
    with Running(tmp_path, analysis_engine="no-such-engine-anywhere") as srv:
        page, errors = open_page(browser, f"{srv.http}/overlay", COMPOSITE)
        page.wait_for_selector("sg-board")
        feed(srv, messages)
        page.wait_for_function(
            "() => document.querySelector('.board-widget .engine-line').textContent !== ''"
        )
        board_line = page.text_content(".board-widget .engine-line")
        verdict = page.text_content(".engine-verdict")
        arrows = page.evaluate("() => document.querySelectorAll('svg.sg-shapes g.engine').length")
        page.close()
    for text in (board_line, verdict):
        assert text.startswith("no engine") and "apt-get install fairy-stockfish" in text
    assert arrows == 0
    assert errors == []


def test_progress_draws_the_ladder_elo_accuracy_and_the_engine_status(browser, tmp_path):  # noqa: F811
    table = load_table()
    near = next(r for r in table["rungs"] if r["name"] == "fsf-n1")
    evaluation = {
        "update": 25, "games": 40, "vs_random": 0.8, "vs_greedy": 0.4, "elo": 240.0,
        "ladder_elo": near["elo"] + 30.0, "ladder_elo_error": 41.0, "ladder": {"fsf-n1": 0.55},
        "accuracy": 61.5, "move_loss": 18.25,
    }  # fmt: skip
    values = {f"eval/{k}": v for k, v in evaluation.items() if k not in ("update", "games", "ladder")}
    metrics = {"update": 25, "samples": 51200, "values": values}
    with Running(tmp_path) as srv:
        page, errors = open_page(browser, f"{srv.http}/overlay/progress", (600, 800))
        page.wait_for_selector(".progress-widget")
        feed(srv, [("metrics", metrics), ("eval", evaluation)])
        page.wait_for_function("() => document.querySelector('.elo-value').textContent.includes('±')")
        elo = page.text_content(".elo-value")
        accuracy = page.text_content('.key[data-key="eval/accuracy"] b')
        note = page.text_content(".ladder-note")
        caption = page.text_content(".caption")
        rungs = page.evaluate("() => window.showcase.widgets[0].state.rungs.map(r => r.name)")
        page.screenshot(path=str(ARTIFACTS / "progress-ladder.png"))
        # Without an engine the trainer says so with its evaluation, and the widget shows it.
        status = "no engine installed: apt-get install fairy-stockfish"
        feed(srv, [("eval", {"update": 50, "games": 40, "vs_random": 0.8, "engine_status": status})])
        page.wait_for_function(
            "() => document.querySelector('.ladder-note').textContent.includes('apt-get ')"
        )
        page.close()
    assert elo == f"{near['elo'] + 30:.0f} ± 41"
    assert accuracy == "61.5%, loss 18.2 pts" or accuracy == "61.5%, loss 18.3 pts"
    assert "rungs" in note
    below = max((r for r in table["rungs"] if r["elo"] <= near["elo"] + 30), key=lambda r: r["elo"])
    assert f"above {below['name']}" in caption and "accuracy 62%" in caption
    assert rungs == [r["name"] for r in table["rungs"]]
    assert errors == []
