"""Newcomer help in Chromium: the piece legend's squares against the rules, the about page's sections."""

import cshogi
from test_pages import ARTIFACTS, browser, open_page  # noqa: F401 (browser: fixture)
from test_server import Running

# The legend's card -> the piece (USI letter) that a test puts on 5e of an empty board.
CARD_PIECE = {"king": "K", "rook": "R", "dragon": "+R", "bishop": "B", "horse": "+B", "gold": "G",
              "silver": "S", "knight": "N", "lance": "L", "pawn": "P", "tokin": "+P"}  # fmt: skip


def rules_reach(piece: str) -> set[tuple[int, int]]:
    """(file, rank) squares a Black `piece` on 5e reaches on an otherwise empty board (the kings on
    9g and 1c are on none of its lines), by cshogi's legal moves, within the 7 x 7 window around it."""
    rows = ["9"] * 9
    rows[2] = "8k"  # White's king on 1c
    rows[4] = f"4{piece}4"
    if piece != "K":
        rows[6] = "K8"  # Black's king on 9g
    board = cshogi.Board("/".join(rows) + " b - 1")
    out = set()
    for move in board.legal_moves:
        usi = cshogi.move_to_usi(move)
        if usi[:2] == "5e":
            out.add((int(usi[2]), "abcdefghi".index(usi[3]) + 1))
    return {(f, r) for f, r in out if 2 <= f <= 8 and 2 <= r <= 8}


READ_CARDS = """() => [...document.querySelectorAll('.legend-piece')].map(c => ({
    key: c.dataset.piece,
    name: c.querySelector('.legend-name').textContent,
    cells: [...c.querySelectorAll('.mini i')].map((i, n) => [n, i.className]),
    visible: c.getBoundingClientRect().height > 0,
}))"""


def test_piece_legend_shows_every_piece_moving_as_the_rules_say(browser, tmp_path):  # noqa: F811
    with Running(tmp_path) as srv:
        page, errors = open_page(browser, f"{srv.http}/overlay/legend", (1280, 900))
        page.wait_for_selector(".legend-piece")
        cards = page.evaluate(READ_CARDS)
        banner = page.locator("#feed-state").is_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "overlay-legend.png"), full_page=True)
        page.close()
    assert errors == [] and not banner  # the rules need no trainer: no "trainer offline"
    assert [c["key"] for c in cards] == list(CARD_PIECE)
    for c in cards:
        assert c["visible"]
        here = [n for n, cls in c["cells"] if cls == "here"]
        assert here == [24]  # the centre of the 7 x 7 board is 5e
        # Cell n is row n // 7 (rank b + row), column n % 7 (file 8 - column): file 9 is on the left.
        drawn = {(8 - n % 7, 2 + n // 7) for n, cls in c["cells"] if cls == "reach"}
        assert drawn == rules_reach(CARD_PIECE[c["key"]]), c["key"]


def test_about_page_explains_every_widget_at_three_levels(browser, tmp_path):  # noqa: F811
    with Running(tmp_path) as srv:
        page, errors = open_page(browser, f"{srv.http}/about", (412, 900))  # a phone's width
        sections = page.evaluate(
            """() => [...document.querySelectorAll('section[data-widget]')].map(s => ({
                widget: s.dataset.widget,
                levels: [...s.querySelectorAll('.level')].map(l => [l.dataset.level, l.innerText.length]),
                overflow: s.scrollWidth > s.clientWidth,
            }))"""
        )
        toc = page.locator(".toc a").all_inner_texts()
        font = page.evaluate(
            "() => parseFloat(getComputedStyle(document.querySelector('.level p')).fontSize)"
        )
        page.screenshot(path=str(ARTIFACTS / "about.png"))
        page.close()
    assert errors == []
    # Every widget of the composite and every single-widget page has its section.
    from server.routes.pages import WIDGETS

    assert set(WIDGETS) <= {s["widget"] for s in sections}
    for s in sections:
        assert [lvl for lvl, _ in s["levels"]] == ["viewer", "player", "engineer"], s["widget"]
        assert all(n > 60 for _, n in s["levels"]), s  # each level says something
        assert not s["overflow"], s["widget"]
    assert len(toc) == len(sections) and font >= 16
