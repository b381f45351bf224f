"""/gae in Chromium: "none" without a traced game; with one (recorded by the trainer's own recorder
from real rollouts, sent over the trainer link), the board before each ply and the formulas carrying
that ply's numbers as the rollout had them."""

import re

import httpx
from test_gae_trace import traced_game
from test_pages import ARTIFACTS, Connected, browser, open_page, pieces, settled  # noqa: F401 (browser: fixture)
from test_replay_pages import KINDS, expected_hands, hands
from test_server import Running

from showcase_core.shogi.game import Game

NUMBER = r"(-?\d[\d.]*(?:e-?\d+)?)"


def formula(page) -> list[str]:
    return page.locator("#formula .gae-line").all_inner_texts()


def close(shown: str, exact: float) -> bool:
    return abs(float(shown) - exact) <= 1e-3 * max(1.0, abs(exact))  # four significant figures


def test_the_gae_page_steps_through_a_traced_game_with_the_rollouts_numbers(browser, tmp_path):  # noqa: F811
    trace, _, _ = traced_game(max_plies=60)  # long enough to capture: pieces in hand from ply 52
    with Running(tmp_path, analysis_nodes=0) as srv:
        page, errors = open_page(browser, f"{srv.http}/gae", (1500, 1000))
        page.wait_for_selector("#none:not([hidden])")
        none_text = page.locator("#none").inner_text()
        page.screenshot(path=str(ARTIFACTS / "gae-none.png"))
        with Connected(srv, [("gae_trace", trace)]):
            listed = httpx.get(f"{srv.http}/api/gae").json()["traces"]
            missing = httpx.get(f"{srv.http}/api/gae/nothing")
            page.reload()
            page.wait_for_selector("#main:not([hidden])")
            settled(page)
            shown = {}
            for i in (0, 3, 54, len(trace["rows"]) - 1):
                page.evaluate(f"() => window.showcase.goTo({i})")
                page.wait_for_function(f"() => document.body.dataset.ply === '{trace['rows'][i]['ply']}'")
                settled(page)
                shown[i] = (formula(page), pieces(page), hands(page))
            page.evaluate("() => window.showcase.goTo(0)")
            page.keyboard.press("ArrowRight")
            page.wait_for_function("() => document.body.dataset.ply === '2'")
            settled(page)
            back = (pieces(page), hands(page))  # after the game's end: nothing of it may stay drawn
            page.screenshot(path=str(ARTIFACTS / "gae.png"))
        page.close()
    assert errors == []
    assert none_text.startswith("No finished training game has been traced yet")
    assert [t["trace_id"] for t in listed] == [trace["trace_id"]] and missing.status_code == 404
    rows = trace["rows"]
    for i, (lines, board, held) in shown.items():
        row = rows[i]
        assert lines[0].startswith(f"Ply {row['ply']}: ") and row["usi"] in lines[0]
        assert f"(update {row['update']}, step {row['step']} of its rollout)" in lines[0]
        td = re.search(
            rf"= {NUMBER} \+ 0\.95 × \((-?1)\) × {NUMBER} × ([01]) − \({NUMBER}\) = {NUMBER}$", lines[2]
        )
        assert td, lines[2]
        reward, sign, next_value, not_terminal, value, delta = td.groups()
        assert close(reward, row["reward"]) and float(sign) == row["next_sign"]
        assert close(next_value, row["next_value"]) and int(not_terminal) == (not row["terminated"])
        assert close(value, row["value"]) and close(delta, row["delta"])
        advantage = re.search(rf"= {NUMBER}(  \(|$)", lines[3])
        assert advantage and close(advantage.group(1), row["advantage"]), lines[3]
        target = re.search(rf"= {NUMBER}$", lines[4])
        assert target and close(target.group(1), row["return"]), lines[4]
        assert board == pieces_of(row["sfen"])  # the position before the ply, as the trace has it
        assert held == expected_hands(row["sfen"])
    assert shown[54][2] and back == (pieces_of(rows[1]["sfen"]), expected_hands(rows[1]["sfen"])) == (
        pieces_of(rows[1]["sfen"]),
        {},
    )
    last = shown[len(rows) - 1][0]
    assert "the game ended here" in last[3]


def pieces_of(sfen: str) -> dict[str, str]:
    """The board of `sfen`, keyed and classed as shogiground draws it."""
    board = Game(sfen).board
    return {
        f"{sq // 9 + 1}{'abcdefghi'[sq % 9]}": f"{'gote' if code & 16 else 'sente'} {KINDS[code & 15]}"
        for sq, code in enumerate(board.pieces)
        if code
    }
