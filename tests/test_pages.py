"""Pages in a real headless Chromium against a real server fed by a scripted trainer connection."""

import asyncio
import json
import os
import threading
import time
from pathlib import Path

import httpx
import pytest
from test_server import Running, game_messages, held_move, hello, send_all, status_message, trainer_headers
from websockets.asyncio.client import connect

from showcase_core.shogi.game import Game

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):  # .ci/run installs it: a missing browser there is a failure, never a skip
        raise RuntimeError("CI has no /usr/bin/chromium; .ci/run should have installed Debian's chromium")
    pytest.skip("browser tests need Debian's chromium: apt-get install chromium", allow_module_level=True)

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        yield b
        b.close()


def settled(page) -> None:
    """The page's paced redraw (static/js/frame.js) has run and been painted; on a page without
    widgets, two animation frames."""
    page.evaluate(
        "() => window.showcaseSettled ? window.showcaseSettled()"
        " : new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
    )


def open_page(browser, url, size=(900, 900)):
    """A new page at `url`, with the list its console errors and page errors collect in."""
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    # A single-widget page loads its widget's module after the page itself: wait until it is built.
    page.wait_for_function("() => !document.getElementById('widget') || window.showcase !== undefined")
    return page, errors


def feed(srv, messages):
    async def go():
        async with connect(f"{srv.ws}/ws/trainer", additional_headers=trainer_headers(), proxy=None) as tr:
            await send_all(tr, [("hello", hello()), *messages])
            await asyncio.sleep(0.5)

    # Playwright's sync API owns this thread's event loop: the scripted trainer runs in its own thread.
    worker = threading.Thread(target=lambda: asyncio.run(go()))
    worker.start()
    worker.join(30)


class Connected:
    """A scripted trainer that sends `messages` and stays connected until the block ends (`feed`
    disconnects at once, and a page then rightly shows the trainer offline)."""

    def __init__(self, srv, messages):
        self.srv, self.messages = srv, messages
        self.sent = threading.Event()
        self.release = threading.Event()

    async def _go(self):
        async with connect(
            f"{self.srv.ws}/ws/trainer", additional_headers=trainer_headers(), proxy=None
        ) as tr:
            await send_all(tr, [("hello", hello()), *self.messages])
            self.sent.set()
            while not self.release.is_set():
                await asyncio.sleep(0.02)

    def __enter__(self):
        self.worker = threading.Thread(target=lambda: asyncio.run(self._go()))
        self.worker.start()
        assert self.sent.wait(30)
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.worker.join(30)


COMPOSITE = (1920, 1080)
WIDGETS = [".board-widget", ".moves-widget", ".health-widget", ".progress-widget", ".poll-widget",
           ".leaderboard-widget", ".status-widget", ".training-widget"]  # fmt: skip


def widget_boxes(page, selectors=WIDGETS) -> dict[str, list[float]]:
    return page.evaluate(
        """(sels) => Object.fromEntries(sels.map(s => {
            const r = document.querySelector(s).getBoundingClientRect();
            return [s, [r.left, r.top, r.right, r.bottom]]; }))""",
        selectors,
    )


def assert_fits_without_overlap(boxes: dict[str, list[float]], size=COMPOSITE) -> None:
    for name, (left, top, right, bottom) in boxes.items():
        assert left >= 0 and right <= size[0] and top >= 0 and bottom <= size[1], (name, boxes[name])
    names = list(boxes)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            (l1, t1, r1, b1), (l2, t2, r2, b2) = boxes[a], boxes[b]
            assert r1 <= l2 or r2 <= l1 or b1 <= t2 or b2 <= t1, f"{a} overlaps {b}"


def pieces(page) -> dict[str, str]:
    return page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('sg-pieces piece')]"
        ".map(p => [p.sgKey, p.className]))"
    )


HEAT_ALPHAS = """(root) => {
    const c = document.querySelector(`${root} canvas.heat-layer`);
    const d = c.getContext('2d').getImageData(0, 0, 9, 9).data;
    return [...Array(81).keys()].map(i => d[((i % 9) * 9 + (8 - Math.floor(i / 9))) * 4 + 3]);
}"""


def heat_alphas(page, root: str = "") -> list[int]:
    """The heat layer's alpha (0-255) on each square, in cshogi square order, read from its canvas."""
    return page.evaluate(HEAT_ALPHAS, root)


def expected_heat(values: list[float], top: int = 12, max_alpha: float = 0.3) -> list[int]:
    """What board.js paints: the `top` strongest squares, alpha proportional to the strongest."""
    order = sorted(range(81), key=lambda i: -values[i])[:top]
    peak = values[order[0]]
    out = [0] * 81
    for i in order:
        if peak > 0 and values[i] > 0:
            out[i] = round(max_alpha * min(1.0, values[i] / peak) * 255)
    return out


def test_board_page_shows_the_fed_position_arrows_and_heatmap(browser, tmp_path):
    messages, _ = game_messages(seed=3, plies=7)
    # The last move carries real insight from a tiny network, for arrows and the heatmap.
    before = Game(messages[-2][1]["sfen_before"]) if len(messages) > 2 else Game()
    last = messages[-2][1]
    pending = held_move(before, "g-1", ply=last["ply"])
    last["insight"] = pending["insight"]
    with Running(tmp_path) as srv:
        page, errors = open_page(browser, f"{srv.http}/overlay/board")
        page.wait_for_selector("sg-board")
        assert page.locator(".empty").is_visible()
        feed(srv, messages[:-1])  # everything but game_end: the game is still on
        page.wait_for_function("() => document.querySelectorAll('sg-pieces piece').length > 30")
        # A horizontal SVG line has an empty bounding box, so wait for it to exist, not to "show".
        page.wait_for_selector("svg.sg-shapes line", state="attached")
        time.sleep(0.2)
        on_board = pieces(page)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "overlay-board.png"))
        arrows = page.locator("svg.sg-shapes line").count()
        heat = heat_alphas(page)
        labels = page.locator(".move-label:not(.engine):not([hidden])").all_text_contents()
        legend = page.locator(".legend").inner_text()
        spoken = page.evaluate(
            "() => { const el = document.querySelector('.sr-move');"
            " return [el.textContent, el.getAttribute('aria-live'), el.getBoundingClientRect().width]; }"
        )
        page.close()
    assert errors == []
    # The screen-reader line announces the last move, and takes no room on screen.
    side = "Black" if last["sfen_before"].split(" ")[1] == "b" else "White"
    assert spoken == [
        f"Move {last['ply']}: {side} plays {last['move']['western']} ({last['move']['japanese']})",
        "polite",
        1,
    ]
    # Every piece of the final position is on its square, with its colour and kind.
    board = Game(last["sfen_after"]).board
    expected = {}
    kinds = [
        "", "pawn", "lance", "knight", "silver", "bishop", "rook", "gold", "king",
        "tokin", "promotedlance", "promotedknight", "promotedsilver", "horse", "dragon",
    ]  # fmt: skip
    for sq, code in enumerate(board.pieces):
        if code:
            key = f"{sq // 9 + 1}{'abcdefghi'[sq % 9]}"
            expected[key] = f"{'gote' if code & 16 else 'sente'} {kinds[code & 15]}"
    assert {k: v for k, v in on_board.items() if k in expected} == expected
    assert set(on_board) == set(expected)
    assert arrows >= 1 and "SE-weighted activation" in legend and "12 strongest squares" in legend
    # The heat layer tints only the map's 12 strongest squares, at most 30% opaque.
    expected = expected_heat(last["insight"]["maps"]["se_attention_mean"])
    # Equal up to the canvas's 8-bit rounding.
    assert all(abs(a - b) <= 1 for a, b in zip(heat, expected, strict=True)), (heat, expected)
    assert [a > 0 for a in heat] == [b > 0 for b in expected]
    assert sum(a > 0 for a in heat) <= 12 and max(heat) <= 77  # 0.3 x 255, rounded up
    pct = [f"{round(m['prob'] * 100)}%" for m in last["insight"]["top"]]
    drops = [m["usi"][0] + " " if m["usi"][1] == "*" else "" for m in last["insight"]["top"]]
    assert labels == [d + p for d, p in zip(drops, pct, strict=True)]  # one per top move


def test_a_dropped_piece_in_the_top_five_is_a_labelled_circle_on_its_square(browser, tmp_path):
    messages, _ = game_messages(seed=3, plies=5)
    last = messages[-2][1]
    insight = held_move(Game(last["sfen_before"]), "g-1", ply=last["ply"])["insight"]
    # The network's second choice, for this test, a pawn drop (the page draws what it is given).
    insight["top"][1] = {"usi": "P*5e", "western": "P*5e", "japanese": "５五歩打", "prob": 0.2}
    last["insight"] = insight
    with Running(tmp_path, analysis_nodes=0) as srv:  # only the network's shapes: no engine arrow
        page, errors = open_page(browser, f"{srv.http}/overlay/board")
        page.wait_for_selector("sg-board")
        feed(srv, messages[:-1])
        page.wait_for_selector("svg.sg-shapes ellipse", state="attached")
        circles = page.locator("svg.sg-shapes ellipse").count()
        labels = page.locator(".move-label:not([hidden])").all_text_contents()
        page.close()
    assert circles == 1 and "P 20%" in labels and len(labels) == 5
    assert errors == []


def test_board_page_says_offline_and_recovers_after_a_server_restart(browser, tmp_path):
    messages, _ = game_messages(seed=4, plies=3)
    with Running(tmp_path) as srv:
        page, errors = open_page(browser, f"{srv.http}/overlay/board")
        page.wait_for_selector("sg-board")
        assert page.locator("#feed-state").inner_text() == "trainer offline"
        feed(srv, messages[:-1])
        page.wait_for_function("() => document.querySelectorAll('sg-pieces piece').length > 30")
        port = srv.port
    # The server is gone: the page says so and keeps trying.
    page.wait_for_function(
        "() => document.getElementById('feed-state').textContent.startsWith('reconnecting')"
    )
    again = Running(tmp_path, port=port)  # same port and data: the page must find it by itself
    with again:
        page.wait_for_function(
            "() => document.getElementById('feed-state').textContent === 'trainer offline'", timeout=30000
        )
        page.close()
    assert errors == [] or all("WebSocket" in e or "ERR_CONNECTION_REFUSED" in e for e in errors)


def metrics_message(update: int, kl: float | None, clip: float) -> tuple[str, dict]:
    values = {
        "ppo/approx_kl": kl, "ppo/clipfrac": clip, "losses/entropy": 3.2 - update * 0.1,
        "losses/policy": -0.01, "losses/value": 0.05, "ppo/explained_variance": None, "perf/sps": 650.0,
    }  # fmt: skip
    edges = [-3 + 0.25 * i for i in range(25)]
    counts = [max(0, 12 - abs(12 - i)) for i in range(24)]
    hist = {
        "adv/hist_raw": {"edges": edges, "counts": counts},
        "adv/hist_norm": {"edges": edges, "counts": counts},
    }
    return ("metrics", {"update": update, "samples": 2048 * update, "values": values, "histograms": hist})


def test_health_page_colours_kl_by_threshold_and_shows_missing_values_as_none(browser, tmp_path):
    with Running(tmp_path) as srv:
        page, errors = open_page(browser, f"{srv.http}/overlay/health")
        page.wait_for_selector(".kl")
        assert page.locator(".kl").get_attribute("data-level") == "none"
        feed(srv, [metrics_message(u, 0.01, 0.1) for u in range(1, 6)])
        page.wait_for_function("() => document.querySelector('.kl').dataset.level === 'ok'")
        green = page.locator(".kl-value").evaluate("el => getComputedStyle(el).color")
        assert page.locator(".explained").inner_text() == "none"  # the trainer sent null: no number
        assert "10.0% of samples hit the clip" in page.locator(".clip-text").inner_text()
        feed(srv, [metrics_message(6, 0.08, 0.3)])
        page.wait_for_function("() => document.querySelector('.kl').dataset.level === 'high'")
        red = page.locator(".kl-value").evaluate("el => getComputedStyle(el).color")
        assert page.locator(".kl-value").inner_text() == "0.0800"
        assert page.locator(".adv-raw i").count() == 24
        page.screenshot(path=str(ARTIFACTS / "overlay-health.png"))
        page.close()
    assert green != red and green == "rgb(30, 132, 73)" and red == "rgb(192, 57, 43)"
    assert errors == []


def test_health_trends_fill_a_gap_in_the_live_feed_from_the_archive(browser, tmp_path):
    import sqlite3

    from server import store as st

    with Running(tmp_path) as srv:
        page, errors = open_page(browser, f"{srv.http}/overlay/health")
        page.wait_for_selector(".kl")
        feed(srv, [metrics_message(u, 0.01, 0.1) for u in range(1, 4)])
        page.wait_for_function("() => document.querySelector('.kl-value').textContent === '0.0100'")
        # Updates 4-9 reached the archive but not this viewer (as when the hub conflates for it).
        with sqlite3.connect(srv.settings.db_path) as db:
            for u in range(4, 10):
                st.add_metrics(
                    db, run_id="run-1", update=u, values={"ppo/approx_kl": u / 1000, "losses/entropy": 2.0}
                )
        feed(srv, [metrics_message(10, 0.03, 0.1)])
        page.wait_for_function(
            "() => window.showcase.widgets[0].series.get('ppo/approx_kl')[0].includes(9)", timeout=10_000
        )
        xs, ys = page.evaluate("() => window.showcase.widgets[0].series.get('ppo/approx_kl')")
        page.close()
    # The first burst may itself arrive conflated (only update 3 of 1-3); from there on nothing is missing.
    assert xs[0] <= 3 and xs == list(range(xs[0], 11))
    assert ys[-7:] == [0.004, 0.005, 0.006, 0.007, 0.008, 0.009, 0.03]
    assert errors == []


def test_unknown_overlay_is_a_404_with_the_list(tmp_path):
    import httpx

    with Running(tmp_path) as srv:
        response = httpx.get(f"{srv.http}/overlay/nope")
    assert response.status_code == 404 and "board" in response.json()["detail"]


def test_moves_page_lists_the_top_five_and_the_value_timeline(browser, tmp_path):
    messages, _ = game_messages(seed=3, plies=5)
    for t, d in messages:
        if t == "move":
            d["insight"] = held_move(Game(d["sfen_before"]), "g-1", ply=d["ply"])["insight"]
    last = messages[-2][1]
    with Running(tmp_path) as srv:
        page, errors = open_page(browser, f"{srv.http}/overlay/moves")
        page.wait_for_selector(".top", state="attached")  # empty (zero height) until a move comes
        feed(srv, messages[:-1])
        page.wait_for_function("() => !document.querySelector('.top li').hidden")
        time.sleep(0.2)
        names = page.locator(".top li .jp").all_inner_texts()
        percents = page.locator(".top li .pct").all_inner_texts()
        chosen = page.locator(".chosen").inner_text()
        page.screenshot(path=str(ARTIFACTS / "overlay-moves.png"))
        page.close()
    top = last["insight"]["top"]
    assert names == [m["japanese"] for m in top]
    assert percents == [f"{m['prob'] * 100:.1f}%" for m in top]
    assert chosen.startswith(f"{last['ply']}. {last['move']['japanese']}")
    assert errors == []


def test_composite_overlay_draws_every_widget_from_one_socket(browser, tmp_path):
    messages, _ = game_messages(seed=3, plies=5)
    for t, d in messages:
        if t == "move":
            d["insight"] = held_move(Game(d["sfen_before"]), "g-1", ply=d["ply"])["insight"]
    with Running(tmp_path) as srv:
        page, errors = open_page(browser, f"{srv.http}/overlay", COMPOSITE)
        page.wait_for_selector("sg-board")
        feed(srv, [*messages[:-1], metrics_message(1, 0.03, 0.12)])
        page.wait_for_function("() => document.querySelector('.kl').dataset.level === 'watch'")
        page.wait_for_function("() => !document.querySelector('.top li').hidden")
        page.wait_for_function("() => document.querySelectorAll('sg-pieces piece').length > 30")
        transparent = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        page.screenshot(path=str(ARTIFACTS / "overlay.png"))
        page.close()
    assert transparent == "rgba(0, 0, 0, 0)"  # OBS shows the scene behind the gaps
    assert errors == []


PASSES = """async () => {
    const frame = await import("/static/js/frame.js");  // the page's own module instance
    const times = [];
    for (let i = 0; i < 3; i++) {
        await new Promise((done) => frame.scheduleDraw(() => { times.push(performance.now()); done(); }));
    }
    return { interval: frame.frameInterval(), gaps: [times[1] - times[0], times[2] - times[1]] };
}"""


@pytest.mark.parametrize(("path", "interval"), [("/overlay", 500), ("/overlay/health", 500), ("/gae", 250)])
def test_broadcast_pages_draw_at_most_twice_a_second_in_a_burst_and_stepped_pages_four_times(
    browser, tmp_path, path, interval
):
    with Running(tmp_path) as srv:
        page, errors = open_page(browser, f"{srv.http}{path}", COMPOSITE)
        settled(page)
        got = page.evaluate(PASSES)
        page.close()
    assert got["interval"] == interval
    # Back-to-back requests: each pass waits out the interval since the one before (setTimeout, then
    # the next animation frame), so no gap is shorter; 1 ms for the clock's coarsening.
    assert min(got["gaps"]) >= interval - 1, got
    assert errors == []


def test_status_strip_says_what_the_trainer_is_doing_and_each_process_load(browser, tmp_path):
    gpu = {"name": "NVIDIA H200", "util_percent": 93.0, "mem_used_mb": 30720.0, "mem_total_mb": 143360.0}
    with Running(tmp_path, load_every_s=0.2) as srv:
        page, errors = open_page(browser, f"{srv.http}/overlay/status", (1280, 200))
        page.wait_for_function(
            "() => !document.querySelector('.st-server-load').textContent.startsWith('none')"
        )
        offline = page.locator(".status-widget").inner_text()
        with Connected(srv, [("status", status_message(gpu=gpu))]):
            page.wait_for_function(
                "() => document.querySelector('.st-activity').textContent.startsWith('learning')"
            )
            parts = (".st-activity", ".st-speed", ".st-trainer-load", ".st-gpu")
            text = {c: page.locator(c).inner_text() for c in parts}
            server = page.locator(".st-server-load").inner_text()
            page.screenshot(path=str(ARTIFACTS / "overlay-status.png"))
        page.wait_for_function("() => document.querySelector('.st-activity').textContent === 'offline'")
        page.close()
    assert errors == []
    assert "Trainer offline" in offline.replace("\n", " ")
    assert text == {
        ".st-activity": "learning from them (PPO update)",
        ".st-speed": "update 7, 362 samples/s",
        ".st-trainer-load": "CPU 187% of 2 cores, RAM 1.2 GB",
        ".st-gpu": "GPU NVIDIA H200: 93% busy, 30.0 GB of 140.0 GB",
    }
    assert server.startswith("CPU ") and " of " in server and server.endswith("1 viewer")


LAYOUTS = {"board-left": COMPOSITE, "board-right": COMPOSITE, "compact": (1280, 720)}


def visible_boxes(page, selectors) -> dict[str, list[float]]:
    shown = [sel for sel in selectors if page.locator(sel).count() and page.locator(sel).first.is_visible()]
    return widget_boxes(page, shown)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_each_layout_preset_keeps_its_webcam_space_clear(browser, tmp_path, layout):
    messages, _ = game_messages(seed=3, plies=7)
    for t, d in messages:
        if t == "move":
            d["insight"] = held_move(Game(d["sfen_before"]), "g-1", ply=d["ply"])["insight"]
    from test_progress_pages import evaluation_messages

    size = LAYOUTS[layout]
    with Running(tmp_path, analysis_nodes=0) as srv:
        page, errors = open_page(browser, f"{srv.http}/overlay?layout={layout}&webcam=outline", size)
        page.wait_for_selector("sg-board")
        feed(srv, [*evaluation_messages(), *messages[:-1], metrics_message(1, 0.03, 0.12)])
        page.wait_for_function("() => document.querySelectorAll('sg-pieces piece').length > 30")
        page.wait_for_function("() => !document.querySelector('.top li').hidden")
        settled(page)
        boxes = visible_boxes(page, [*WIDGETS, ".webcam-space"])
        body = page.evaluate(
            "() => [document.body.offsetWidth, document.body.offsetHeight, document.body.dataset.layout]"
        )
        page.screenshot(path=str(ARTIFACTS / f"layout-{layout}.png"))
        page.close()
    assert errors == []
    assert body == [*size, layout]
    left, top, right, bottom = boxes[".webcam-space"]
    assert (right - left) / (bottom - top) == pytest.approx(16 / 9, rel=0.01) and right - left >= 320
    expected = {".board-widget", ".moves-widget", ".status-widget", ".webcam-space"}  # no thumbnails
    if layout != "compact":
        expected |= {".health-widget", ".progress-widget", ".leaderboard-widget"}
    assert set(boxes) == expected
    assert_fits_without_overlap(boxes, size)


def training_message(update=4):
    """Six thumbnails of real positions: random games of different lengths, two just ended."""
    import random

    rng = random.Random(11)
    games = []
    kinds = [("self", "itself", "both"), ("random", "the random mover", "black"),
             ("greedy", "the greedy mover", "white"),
             ("pool", "a past self (update 75)", "black")]  # fmt: skip
    for slot in range(6):
        game = Game()
        for _ in range(10 + 17 * slot):
            if game.is_over:
                break
            game.push(rng.choice(game.legal_moves()))
        kind, name, agent = kinds[slot % 4]
        d = {"slot": slot, "opponent": kind, "opponent_name": name, "agent": agent, "sfen": game.sfen(),
             "ply": game.ply, "last_usi": None}  # fmt: skip
        if slot in (2, 5):
            d |= {
                "result": "white" if slot == 2 else "draw",
                "reason": "checkmate" if slot == 2 else "max_plies",
            }
        games.append(d)
    return ("training_games", {"update": update, "games": games})


def test_training_thumbnails_show_the_trainers_games_square_by_square(browser, tmp_path):
    t, message = training_message()
    with Running(tmp_path) as srv:
        page, errors = open_page(browser, f"{srv.http}/overlay/training", (900, 400))
        page.wait_for_selector(".training-widget .empty:not([hidden])")
        with Connected(srv, [(t, message)]):
            page.wait_for_function("() => document.querySelectorAll('.thumb:not([hidden])').length === 6")
            seen = page.evaluate(
                """() => [...document.querySelectorAll('.thumb')].map(t => ({
                    cells: [...t.querySelectorAll('.thumb-board i')].map(i => [i.textContent, i.className]),
                    who: t.querySelector('.thumb-who').textContent,
                    ply: t.querySelector('.thumb-ply').textContent,
                    result: (r => r.hidden ? null : r.textContent)(t.querySelector('.thumb-result')),
                }))"""
            )
            page.screenshot(path=str(ARTIFACTS / "overlay-training.png"))
        page.close()
    assert errors == []
    kanji = dict(zip("PLNSBRGK", "歩香桂銀角飛金玉", strict=True))
    promoted = dict(zip("PLNSBR", "と杏圭全馬龍", strict=True))
    for d, s in zip(message["games"], seen, strict=True):
        board = Game(d["sfen"]).board
        # Cell k is rank k // 9 (a first), file 9 - k % 9: cshogi's square (file - 1) * 9 + rank.
        for k, (text, cls) in enumerate(s["cells"]):
            code = board.pieces[(8 - k % 9) * 9 + k // 9]
            if not code:
                assert (text, cls) == ("", ""), k
                continue
            kind = code & 15  # cshogi: P L N S B R G K = 1..8, +P +L +N +S +B +R = 9..14
            glyph = kanji["PLNSBRGK"[kind - 1]] if kind <= 8 else promoted["PLNSBR"[kind - 9]]
            assert text == glyph, k
            assert cls.split()[0] == ("gote" if code & 16 else "sente")
            assert ("promoted" in cls) == (kind > 8)
        assert s["ply"] == f"ply {d['ply']}"
    assert [s["who"] for s in seen] == [
        "AI vs itself", "AI (Black) vs the random mover", "AI (White) vs the greedy mover",
        "AI (Black) vs a past self (update 75)", "AI vs itself", "AI (Black) vs the random mover",
    ]  # fmt: skip
    assert [s["result"] for s in seen] == [
        None,
        None,
        "White wins (checkmate)",
        None,
        None,
        "Draw (max plies)",
    ]


def test_scorecard_shows_the_match_on_now_and_the_runs_record_from_the_archive(browser, tmp_path):
    from test_matches import OFFERED, match_game

    played = [
        *match_game("m-1", "past:update_000100", "the AI at update 100", "black", "black", seed=1),
        *match_game("m-2", "rung:fsf-n1", "Fairy-Stockfish 11.1 (fsf-n1: nodes 1)", "white", "black", seed=2),
        *match_game("m-3", "rung:fsf-n1", "Fairy-Stockfish 11.1 (fsf-n1: nodes 1)", "black", "draw", seed=3),
    ]
    now = match_game("m-4", "rung:fsf-n1", "Fairy-Stockfish 11.1 (fsf-n1: nodes 1)", "white", "black", seed=4)
    with Running(tmp_path, analysis_nodes=0) as srv:
        page, errors = open_page(browser, f"{srv.http}/overlay/scorecard", (700, 400))
        page.wait_for_selector(".scorecard-widget .sc-empty:not([hidden])")
        with Connected(srv, [("status", status_message(opponents=OFFERED)), *played, *now[:-1]]):
            page.wait_for_function("() => document.querySelector('.sc-now').textContent.includes('fsf-n1')")
            page.wait_for_function(
                "() => document.querySelectorAll('.scorecard-widget tbody tr:not([hidden])').length === 2"
            )
            record = httpx.get(f"{srv.http}/api/matches").json()["record"]
            # The last match game ended before the one on now started: wait for its refetch.
            page.wait_for_function(
                "() => [...document.querySelectorAll('.sc-d')].some(td => td.textContent === '1')"
            )
            rows = page.evaluate(
                "() => [...document.querySelectorAll('.scorecard-widget tbody tr:not([hidden])')]"
                ".map(tr => [...tr.children].map(td => td.textContent).concat([tr.className]))"
            )
            now_line = page.locator(".sc-now").inner_text()
            page.screenshot(path=str(ARTIFACTS / "overlay-scorecard.png"))
        page.close()
    assert errors == []
    assert now_line == (
        "Now: the AI (White, ladder Elo 420) vs Fairy-Stockfish 11.1 (fsf-n1: nodes 1) (Elo 338)"
    )
    by_name = {r["name"]: r for r in record}
    assert [row[0] for row in rows] == [r["name"] for r in record]
    for name, elo, won, drawn, lost, cls in rows:
        r = by_name[name]
        assert (won, drawn, lost) == (str(r["wins"]), str(r["draws"]), str(r["losses"]))
        assert elo == str(round(next(o["elo"] for o in OFFERED if o["id"] == r["opponent"])))
        assert ("current" in cls) == (r["opponent"] == "rung:fsf-n1")
    assert (
        by_name["the AI at update 100"]["wins"],
        by_name["Fairy-Stockfish 11.1 (fsf-n1: nodes 1)"]["losses"],
    ) == (1, 1)
    assert by_name["Fairy-Stockfish 11.1 (fsf-n1: nodes 1)"]["draws"] == 1


def test_pages_draw_the_inlined_first_snapshot_before_any_socket_opens(browser, tmp_path):
    messages, _ = game_messages(seed=3, plies=7)
    last = messages[-2][1]
    with (
        Running(tmp_path, analysis_nodes=0) as srv,
        Connected(srv, [*messages[:-1], ("status", status_message())]),
    ):
        deadline = time.monotonic() + 10
        while httpx.get(f"{srv.http}/healthz").json()["trainer"]["update"] != 7:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        html = httpx.get(f"{srv.http}/overlay").text
        page = browser.new_page(viewport={"width": COMPOSITE[0], "height": COMPOSITE[1]})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        opened = []
        # The socket is held by the test and never answers: whatever the page shows came inline.
        page.route_web_socket("**/ws", lambda ws: opened.append(ws.url))
        page.goto(f"{srv.http}/overlay")
        page.wait_for_function("() => document.querySelectorAll('.board-widget sg-pieces piece').length > 30")
        on_board = pieces(page)
        activity = page.locator(".st-activity").inner_text()
        page.close()
    assert errors == [] and opened  # the page did try its socket; nothing came through it
    start = html.index('id="first-snapshot">') + len('id="first-snapshot">')
    inline = json.loads(html[start : html.index("</script>", start)])
    assert inline["game"]["game_id"] == "g-1" and inline["moves"][-1]["ply"] == last["ply"]
    assert "pending" not in html and inline["status"]["activity"] == "updating"
    board = Game(last["sfen_after"]).board
    assert len(on_board) == sum(1 for code in board.pieces if code)
    assert activity == "learning from them (PPO update)"


def test_the_board_names_and_outlines_a_castle_when_one_stands(browser, tmp_path):
    from test_castles import QUIET_WHITE

    from showcase_core.shogi.castles import style_payload
    from showcase_core.shogi.notation import names

    game = Game()
    start = {"game_id": "g-castle", "kind": "showcase", "start_sfen": game.sfen(), "black": "ai",
             "white": "ai", "weights_version": 1}  # fmt: skip
    messages = [("game_start", start)]
    for i, usi in enumerate(["2h6h", "5i4h", "4h3h", "3h2h", "3i3h", "6i5h"]):
        for u in (usi, QUIET_WHITE[i]):
            before, prev = game.sfen(), (game.moves[-1] if game.moves else None)
            move = next(m for m, x in zip(game.legal_moves(), game.legal_usi(), strict=True) if x == u)
            named = names(game, move, prev)
            game.push(move)
            style = style_payload(game.sfen()).model_dump(mode="json")
            messages.append(("move", {"game_id": "g-castle", "ply": game.ply, "sfen_before": before,
                                      "move": named, "sfen_after": game.sfen(), "chosen_prob": 0.1,
                                      "weights_version": 1, "style": style}))  # fmt: skip
    with Running(tmp_path, analysis_nodes=0) as srv:
        page, errors = open_page(browser, f"{srv.http}/overlay/board")
        page.wait_for_selector("sg-board")
        feed(srv, messages)
        page.wait_for_function("() => document.querySelector('.style-line').textContent.includes('Mino')")
        line = page.locator(".style-line").inner_text()
        outlined = page.evaluate(
            "() => [...document.querySelectorAll('sg-squares sq.castle-black')]"
            ".map(sq => getComputedStyle(sq).boxShadow)"
        )
        keys = page.evaluate(
            "() => [...document.querySelectorAll('sg-squares sq')].map((sq, i) => sq.className)"
        )
        page.screenshot(path=str(ARTIFACTS / "overlay-board-castle.png"))
        page.close()
    assert errors == []
    assert line == "Black: Mino (本美濃), Fourth File Rook; White: Static Rook"
    assert len(outlined) == 4 and all(s != "none" for s in outlined)
    assert sum("castle-black" in k for k in keys) == 4 and not any("castle-white" in k for k in keys)
