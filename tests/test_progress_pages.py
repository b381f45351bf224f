"""The learning progress page, the page parameters (theme, scale, background, captions) and the composite
overlay with every widget, in a real headless Chromium against a real server fed by a scripted trainer."""

import time

from test_pages import (  # noqa: F401 (browser: fixture)
    ARTIFACTS,
    COMPOSITE,
    assert_fits_without_overlap,
    browser,
    feed,
    metrics_message,
    open_page,
    widget_boxes,
)
from test_server import Running, game_messages, held_move

from showcase_core.shogi.game import Game

# (update, vs_random, vs_greedy, vs_previous, elo): the first evaluations of the README's 30-minute run.
CURVE = [(25, 0.725, 0.075, None, 168.0), (50, 0.825, 0.175, 0.6, 239.0), (100, 0.7, 0.2375, 0.45, 362.0)]
EVAL_GAMES = 40
FINISH = (0.04, 1655, 0.25, 0.125)  # mate conversion, chances, undecided vs random, vs greedy
FINISH_TEXT = (
    "Finishing games: mate in one played 4% of 1655 chances"
    " · undecided (ply cap or repetition): 25% vs random, 13% vs greedy"
)
MIX_TEXT = (
    "Training games: last 3 updates: 15 against itself, 63 against the random mover,"
    " 12 against the two-ply greedy mover, 18 against a past self (its update 75)"
    " · the curriculum's games now 40% against the two-ply greedy mover"
)


def evaluation_messages() -> list[tuple[str, dict]]:
    """What the trainer publishes after each evaluation: metrics with the eval keys, eval, milestones."""
    out = []
    for update, random, greedy, previous, elo in CURVE:
        _, metrics = metrics_message(update, 0.01, 0.1)
        metrics["values"].update(
            {"eval/vs_random": random, "eval/vs_greedy": greedy, "eval/vs_previous": previous,
             "eval/elo": elo, "losses/entropy": 4.0 - update / 100,  # entropy: positive nats, falling
             "eval/mate_conversion": FINISH[0], "eval/mate_chances": FINISH[1],
             "eval/vs_random_undecided": FINISH[2], "eval/vs_greedy_undecided": FINISH[3],
             "selfplay/games": 5, "curriculum/games": 21, "curriculum/greedy_games": 4, "pool/games": 6,
             "pool/opponent_update": 75, "curriculum/greedy_share": 0.4,
             "curriculum/greedy_plies": 2}
        )  # fmt: skip
        out.append(("metrics", metrics))
        out.append(
            ("eval", {"update": update, "games": EVAL_GAMES, "vs_random": random, "vs_greedy": greedy,
                      "vs_previous": previous, "elo": elo, "mate_conversion": FINISH[0],
                      "mate_chances": FINISH[1], "undecided_vs_random": FINISH[2],
                      "undecided_vs_greedy": FINISH[3]})
        )  # fmt: skip
    out.append(
        ("milestone", {"kind": "eval_jump", "update": 50, "title": "Big step up against the random mover",
                       "detail": "score 0.82, was 0.72 at the last evaluation", "value": 0.825,
                       "game_id": "eval-50-mate"})
    )  # fmt: skip
    out.append(
        ("milestone", {"kind": "new_best_elo", "update": 100, "title": "New best Elo",
                       "detail": "Elo 362, previous best 239", "value": 362.0})
    )  # fmt: skip
    return out


def showcase_game(result: str = "black") -> list[tuple[str, dict]]:
    """A finished showcase game whose every move has real insight from a tiny network."""
    messages, _ = game_messages(seed=3, plies=5)
    for t, d in messages:
        if t == "move":
            d["insight"] = held_move(Game(d["sfen_before"]), "g-1", ply=d["ply"])["insight"]
    messages[-1][1]["result"] = result
    return messages


def text(page, selector: str) -> str:
    return page.locator(selector).first.inner_text()


def milestone_rows(page) -> list[dict]:
    return page.evaluate(
        """() => [...document.querySelectorAll('.milestones li:not([hidden])')].map(li => ({
            update: li.querySelector('.m-update').textContent,
            link: li.querySelector('a.m-title').hidden
                ? null : li.querySelector('a.m-title').getAttribute('href'),
            title: [...li.querySelectorAll('.m-title')].find(e => !e.hidden).textContent,
        }))"""
    )


def test_progress_page_draws_evaluations_milestones_and_calibration(browser, tmp_path):  # noqa: F811
    with Running(tmp_path) as srv:
        page, errors = open_page(browser, f"{srv.http}/overlay/progress")
        page.wait_for_function(
            "() => document.querySelector('.calib-note')?.textContent"
            " === 'no finished showcase games with evaluations yet'"
        )
        assert page.locator(".progress-widget .empty").is_visible()
        assert text(page, ".caption").startswith("No evaluation yet")
        assert page.locator(".milestones-empty").is_visible()
        feed(srv, [*evaluation_messages(), *showcase_game("black")])
        page.wait_for_function(
            "() => document.querySelector('.evals').textContent === '3 evaluations, 40 games each'"
        )
        page.wait_for_function(
            "() => document.querySelector('.calib-note').textContent.includes('positions')"
        )
        page.wait_for_function("() => document.querySelectorAll('.milestones li:not([hidden])').length === 2")
        keys = page.locator(".keys b").all_inner_texts()
        elo = text(page, ".elo-value")
        ladder_note = text(page, ".ladder-note")
        rows = milestone_rows(page)
        calibration = text(page, ".calib-note")
        finish, mix = text(page, ".finish"), text(page, ".mix")
        empty_visible = page.locator(".progress-widget .empty").is_visible()
        time.sleep(0.2)  # let uPlot finish its frame before the picture
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "overlay-progress.png"))
        page.close()
    assert errors == []
    # No engine rung was played here: no ladder Elo and no accuracy, and the chain Elo is named.
    assert keys == ["70%", "24%", "45%", "none"] and elo == "none" and not empty_visible
    assert (
        ladder_note == "no ladder evaluation yet; chain Elo from the previous-snapshot matches 362 (dotted)"
    )
    assert rows == [
        {
            "update": "update 50",
            "link": "/replays/eval-50-mate",
            "title": "Big step up against the random mover",
        },
        {"update": "update 100", "link": None, "title": "New best Elo"},
    ]
    assert calibration.startswith("5 positions from 1 finished game, Brier ")
    assert finish == FINISH_TEXT and mix == MIX_TEXT

    # A restarted server holds nothing live: the page fills itself from the archive.
    with Running(tmp_path) as srv:
        page, errors = open_page(browser, f"{srv.http}/overlay/progress")
        page.wait_for_function("() => document.querySelector('.evals').textContent === '3 evaluations'")
        page.wait_for_function("() => document.querySelectorAll('.milestones li:not([hidden])').length === 2")
        keys_again = page.locator(".keys b").all_inner_texts()
        rows_again = milestone_rows(page)
        page.wait_for_function("() => document.querySelector('.mix b').textContent !== 'none yet'")
        finish_again, mix_again = text(page, ".finish"), text(page, ".mix")
        page.close()
    assert errors == []
    assert keys_again == keys and rows_again == rows
    assert finish_again == FINISH_TEXT and mix_again == MIX_TEXT


def style(page, selector: str, prop: str) -> str:
    return page.locator(selector).first.evaluate(f"el => getComputedStyle(el).{prop}")


def test_theme_scale_and_background_parameters_take_effect_and_junk_is_ignored(browser, tmp_path):  # noqa: F811
    with Running(tmp_path) as srv:
        page, errors = open_page(browser, f"{srv.http}/overlay/progress?theme=light&scale=1.5&bg=green")
        page.wait_for_selector(".progress-widget")
        light = {
            "theme": page.evaluate("() => document.documentElement.dataset.theme"),
            "bg": style(page, "body", "backgroundColor"),
            "zoom": style(page, "body", "zoom"),
            "panel": style(page, ".progress-widget", "backgroundColor"),
            "ink": style(page, ".progress-widget", "color"),
        }
        page.close()
        page, errors_hex = open_page(browser, f"{srv.http}/overlay/board?bg=%23112233&scale=10")
        page.wait_for_selector(".board-widget")
        hex_bg, clamped = style(page, "body", "backgroundColor"), style(page, "body", "zoom")
        dark_panel = style(page, ".board-widget", "backgroundColor")
        page.close()
        page, errors_junk = open_page(
            browser, f"{srv.http}/overlay/health?bg=red;}}body{{display:none&scale=big&theme=neon"
        )
        page.wait_for_selector(".health-widget")
        junk = {
            "theme": page.evaluate("() => document.documentElement.dataset.theme"),
            "bg": style(page, "body", "backgroundColor"),
            "display": style(page, "body", "display"),
            "zoom": style(page, "body", "zoom"),
            "visible": page.locator(".health-widget").is_visible(),
        }
        page.close()
    assert errors == [] and errors_hex == [] and errors_junk == []
    assert light == {
        "theme": "light", "bg": "rgb(0, 128, 0)", "zoom": "1.5",
        "panel": "rgba(255, 248, 231, 0.92)", "ink": "rgb(29, 26, 22)",
    }  # fmt: skip
    assert hex_bg == "rgb(17, 34, 51)" and clamped == "3"  # scale clamped to the largest allowed
    assert dark_panel == "rgba(22, 24, 29, 0.9)"  # dark is the default theme
    assert junk == {
        "theme": "dark",
        "bg": "rgba(0, 0, 0, 0)",
        "display": "block",
        "zoom": "1",
        "visible": True,
    }


def test_captions_follow_the_fed_values_at_the_chosen_level(browser, tmp_path):  # noqa: F811
    game = showcase_game("black")
    last = game[-2][1]  # the last move: its insight is what the board shows
    black_view = 2 * last["insight"]["black_win"] - 1
    mover = (
        "Black" if last["sfen_before"].split(" ")[1] == "b" else "White"
    )  # the insight is from before the move
    with Running(tmp_path) as srv:
        pages = {}
        for level in ("plain", "technical", "off"):
            pages[level] = open_page(browser, f"{srv.http}/overlay/progress?captions={level}")
        board, board_errors = open_page(browser, f"{srv.http}/overlay/board?captions=technical")
        feed(srv, [*evaluation_messages(), *game[:-1]])  # the game is still on: the board shows its end
        got = {}
        for level, (page, errors) in pages.items():
            page.wait_for_function(
                "() => document.querySelector('.evals').textContent.startsWith('3 evaluations')"
            )
            got[level] = (text(page, ".caption"), page.locator(".caption").is_visible())
            page.close()
            assert errors == []
        board.wait_for_function("() => document.querySelector('.caption').textContent.startsWith('V(s)=')")
        board_caption = text(board, ".caption")
        # The heat layer lies over the squares: the last move's highlight must still show on them.
        last_move = board.evaluate(
            """() => [...document.querySelectorAll('sg-squares sq.last-dest')].map(sq => {
                const s = getComputedStyle(sq);
                return [s.backgroundImage !== 'none', s.boxShadow !== 'none'];
            })"""
        )
        board.close()
    assert got["plain"] == (
        "Latest test (update 100): the AI scores 70% against a random player, 24% against a greedy one, "
        "45% against its earlier self; rating 362 Elo above random; it played 4% of the mates in one it had",
        True,
    )
    assert got["technical"] == (
        "update 100: vs_random 0.700, vs_greedy 0.237, vs_previous 0.450, chain Elo 362, ladder Elo none,"
        " accuracy none (n=40 games each), mate-in-one conversion 0.040, undecided vs random 0.250",
        True,
    )
    assert got["off"][1] is False
    assert board_caption.startswith(
        f"V(s)={black_view:+.2f} from Black's view ({last['insight']['value']:+.2f} for {mover}, who moved)"
    )
    # The trainer's value is the mover's view; Black's view flips it when White moved.
    value = last["insight"]["value"]
    assert abs(black_view - (value if mover == "Black" else -value)) < 1e-9
    assert last_move and all(image and ring for image, ring in last_move)
    assert board_errors == []


def test_composite_overlay_fits_every_widget_without_overlap(browser, tmp_path):  # noqa: F811
    game = showcase_game("black")
    with Running(tmp_path) as srv:
        page, errors = open_page(browser, f"{srv.http}/overlay", COMPOSITE)
        page.wait_for_selector("sg-board")
        feed(srv, [*evaluation_messages(), *game[:-1]])
        page.wait_for_function(
            "() => document.querySelector('.evals').textContent.startsWith('3 evaluations')"
        )
        page.wait_for_function("() => !document.querySelector('.top li').hidden")
        page.wait_for_function("() => document.querySelectorAll('sg-pieces piece').length > 30")
        boxes = widget_boxes(page)
        time.sleep(0.2)
        page.screenshot(path=str(ARTIFACTS / "overlay.png"))
        page.close()
    assert errors == []
    assert_fits_without_overlap(boxes)
