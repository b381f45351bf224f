"""Policy versus value side by side in Chromium: both boards say there is no insight before a move
with one; then the same position on both, the left tinted by the move's policy mass and the right by
its value saliency (the strongest squares of each map, read back from the rendered canvases)."""

from test_network_page import analysed_move
from test_pages import ARTIFACTS, Connected, browser, open_page, settled  # noqa: F401 (browser: fixture)
from test_server import Running

TINTED = """(selector) => [...document.querySelectorAll(selector)].map(c => {
  const d = c.getContext('2d').getImageData(0, 0, 9, 9).data; const out = [];
  for (let p = 0; p < 81; p++) if (d[p * 4 + 3] > 0) out.push((8 - p % 9) * 9 + Math.floor(p / 9));
  return out.sort((a, b) => a - b); })"""


def tinted_squares(page, selector=".heat-layer"):
    """Per heat canvas matching `selector`: the squares (cshogi index) it tints, sorted."""
    return page.evaluate(TINTED, selector)


def top_squares(values, n=12):
    """The squares the board tints for a map: its 12 strongest, where positive."""
    order = sorted(range(81), key=lambda i: -values[i])[:n]
    return sorted(i for i in order if values[i] > 0)


def test_policy_and_value_maps_of_the_same_position_side_by_side(browser, tmp_path):  # noqa: F811
    messages, insight = analysed_move()
    with Running(tmp_path, analysis_nodes=0) as srv:
        page, errors = open_page(browser, f"{srv.http}/overlay/compare", (900, 600))
        page.wait_for_selector(".compare-widget .legend")
        settled(page)
        before = page.locator(".compare-widget .legend").all_inner_texts()
        with Connected(srv, messages):
            page.wait_for_function(
                "() => [...document.querySelectorAll('.compare-widget .legend')]"
                ".every(l => !l.textContent.startsWith('No insight'))"
            )
            settled(page)
            legends = page.locator(".compare-widget .legend").all_inner_texts()
            captions = page.locator(".compare-widget figcaption").all_inner_texts()
            tinted = tinted_squares(page, ".compare-widget .heat-layer")
            sfens = page.evaluate("() => window.showcase.widgets[0].boards.map(b => b.state.sfen)")
            page.screenshot(path=str(ARTIFACTS / "overlay-compare.png"))
        page.close()
    assert errors == []
    assert before == ["No insight for this position yet"] * 2
    assert captions == ["Policy: where it wants to move", "Value: what its evaluation hangs on"]
    assert legends[0].startswith("Policy mass: where the network wants to move")
    assert legends[1].startswith("Value saliency: where the evaluation is most sensitive")
    assert sfens[0] == sfens[1] == messages[-1][1]["sfen_after"]
    assert tinted == [top_squares(insight.maps.policy_mass), top_squares(insight.maps.saliency)]
    assert tinted[0] != tinted[1]
