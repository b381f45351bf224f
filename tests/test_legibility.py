"""Legibility of the composite at stream resolution, measured in Chromium: with the heatmap at its
strongest on the pieces, every glyph keeps a contrast ratio of at least 4.5:1 against its rendered
square, and the move labels of clustered candidate moves never overlap."""

import io

import pytest
from test_pages import ARTIFACTS, COMPOSITE, browser, feed, open_page, settled  # noqa: F401 (browser: fixture)
from test_server import Running, held_move

from showcase_core.shogi.game import Game
from showcase_core.shogi.notation import names

Image = pytest.importorskip("PIL.Image")

# Promoted pieces of both colours (red glyphs) and every kind of ordinary piece, Black to move.
SFEN = "lnsgkgsnl/1+r5+B1/pp+Ppppppp/9/9/9/PPPP+pPPPP/1b5R1/LNSGKGSNL b - 1"
# Five candidate moves that all end on or next to 5f, so their labels start on top of each other.
CLUSTER = ["5g5f", "P*5f", "4g4f", "6g6f", "5i4h"]
PROBS = (0.31, 0.22, 0.17, 0.12, 0.08)


def square_index(key: str) -> int:
    return (int(key[0]) - 1) * 9 + "abcdefghi".index(key[1])


def luminance(rgb) -> float:
    """WCAG 2 relative luminance of an sRGB colour (0-255 channels)."""

    def lin(c):
        c = c / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_formula_matches_the_wcag_reference_values():
    assert contrast((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert contrast((119, 119, 119), (255, 255, 255)) == pytest.approx(4.48, abs=0.01)  # WCAG's #777 on white


def position_messages():
    game = Game(SFEN)
    before = game.sfen()
    move = game.legal_moves()[0]
    named = names(game, move, None)
    after_game = Game(SFEN)
    after_game.push(move)
    pending = held_move(Game(SFEN), "g-legible", ply=1)
    insight = pending["insight"]
    insight["top"] = [
        {"usi": u, "western": u, "japanese": u, "prob": p} for u, p in zip(CLUSTER, PROBS, strict=True)
    ]
    # The map at its strongest on twelve occupied squares, the promoted pieces among them.
    hot = ["7c", "5g", "2b", "8b", "5i", "5a", "8h", "2h", "4i", "6i", "3c", "4g"]
    maps = insight["maps"]["se_attention_mean"] = [0.0] * 81
    for key in hot:
        maps[square_index(key)] = 1.0
    start = {"game_id": "g-legible", "kind": "showcase", "start_sfen": before, "black": "ai", "white": "ai",
             "weights_version": 1}  # fmt: skip
    move_d = {"game_id": "g-legible", "ply": 1, "sfen_before": before, "move": named,
              "sfen_after": after_game.sfen(), "chosen_prob": 0.3, "weights_version": 1,
              "insight": insight}  # fmt: skip
    return [("game_start", start), ("move", move_d)]


GLYPHS = """() => [...document.querySelectorAll('.board-widget sg-pieces piece')].map(p => {
    const r = p.getBoundingClientRect();
    return {key: p.sgKey, cls: p.className, color: getComputedStyle(p, '::before').color,
            box: [r.left, r.top, r.width, r.height]};
})"""

LABELS = """() => [...document.querySelectorAll('.board-widget .move-label:not([hidden])')].map(l => {
    const r = l.getBoundingClientRect();
    return {text: l.textContent, box: [r.left, r.top, r.right, r.bottom],
            bg: getComputedStyle(l).backgroundColor, fg: getComputedStyle(l).color};
})"""


def rgb(css: str) -> tuple[int, int, int]:
    return tuple(int(float(x)) for x in css[css.index("(") + 1 : css.index(")")].split(",")[:3])


def test_every_glyph_keeps_4_5_to_1_on_the_heatmap_and_no_two_move_labels_overlap(browser, tmp_path):  # noqa: F811
    with Running(tmp_path, analysis_nodes=0) as srv:
        page, errors = open_page(browser, f"{srv.http}/overlay", COMPOSITE)
        page.wait_for_selector(".board-widget sg-board")
        feed(srv, position_messages())
        page.wait_for_function(
            "() => document.querySelectorAll('.board-widget .move-label:not([hidden])').length === 5"
        )
        page.wait_for_function(
            "() => document.querySelectorAll('.board-widget sg-pieces piece').length === 40"
        )
        settled(page)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "legibility-composite.png"))
        glyphs = page.evaluate(GLYPHS)
        labels = page.evaluate(LABELS)
        # The squares as rendered under the pieces: hide the glyphs, arrows and labels, then photograph.
        page.add_style_tag(
            content="sg-pieces, svg.sg-shapes, .move-labels { visibility: hidden !important; }"
        )
        settled(page)
        shot = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
        page.close()
    assert errors == []
    assert len(glyphs) == 40
    worst = []
    for g in glyphs:
        left, top, width, height = g["box"]
        # The square's colour: the median of its middle, away from the grid lines.
        patch = [
            shot.getpixel((int(left + width * fx), int(top + height * fy)))
            for fx in (0.3, 0.4, 0.5, 0.6, 0.7)
            for fy in (0.3, 0.4, 0.5, 0.6, 0.7)
        ]
        square = tuple(sorted(c[k] for c in patch)[len(patch) // 2] for k in range(3))
        worst.append((contrast(rgb(g["color"]), square), g["key"], g["cls"], square))
    worst.sort()
    assert worst[0][0] >= 4.5, worst[:5]
    # The tint really is on the pieces' squares (the test would pass trivially without a heatmap).
    tinted = {w[1] for w in worst if w[3][1] > w[3][0]}  # green over the wood: G above R
    assert {"7c", "5g", "2b", "8b"} <= tinted
    # Labels: the five moves' texts, each readable, no two boxes intersecting.
    assert [lab["text"] for lab in labels] == ["31%", "P 22%", "17%", "12%", "8%"]
    for lab in labels:
        assert contrast(rgb(lab["fg"]), rgb(lab["bg"])) >= 4.5
        assert lab["box"][3] - lab["box"][1] >= 18  # at least 18 px tall at 1080p
    boxes = [lab["box"] for lab in labels]
    for i, (l1, t1, r1, b1) in enumerate(boxes):
        for l2, t2, r2, b2 in boxes[i + 1 :]:
            assert r1 <= l2 or r2 <= l1 or b1 <= t2 or b2 <= t1, (boxes, labels)
