"""The live network diagram in Chromium: "none" before a move with insight; then, for a move analysed
by a real (tiny) network, one row per layer with the numbers of that move's insight."""

import torch
from test_pages import ARTIFACTS, Connected, browser, open_page, settled  # noqa: F401 (browser: fixture)
from test_server import Running

from showcase_core.shogi.game import Game
from showcase_core.shogi.notation import names
from trainer.insight import analyse
from trainer.model import ModelArgs, build_model


def analysed_move():
    torch.manual_seed(1)
    model = build_model(ModelArgs(depth=2, width=8, se_ratio=0.5, value_hidden=8)).eval()
    game = Game()
    before = game.sfen()
    insight = analyse(model, game).insight
    move = next(m for m, u in zip(game.legal_moves(), game.legal_usi(), strict=True) if u == "7g7f")
    named = names(game, move, None)
    game.push(move)
    start = {"game_id": "g-n", "kind": "showcase", "start_sfen": before, "black": "ai", "white": "ai",
             "weights_version": 1}  # fmt: skip
    d = {"game_id": "g-n", "ply": 1, "sfen_before": before, "move": named, "sfen_after": game.sfen(),
         "chosen_prob": 0.2, "weights_version": 1, "insight": insight.model_dump(mode="json")}  # fmt: skip
    return [("game_start", start), ("move", d)], insight


def test_the_network_diagram_shows_each_layer_of_the_move(browser, tmp_path):  # noqa: F811
    messages, insight = analysed_move()
    with Running(tmp_path, analysis_nodes=0) as srv:
        page, errors = open_page(browser, f"{srv.http}/overlay/network", (700, 700))
        page.wait_for_selector(".network-widget .nw-empty:not([hidden])")
        empty = page.locator(".nw-empty").inner_text()
        with Connected(srv, messages):
            page.wait_for_selector(".network-widget .nw-layers:not([hidden])")
            settled(page)
            rows = page.evaluate(
                "() => [...document.querySelectorAll('.nw-layers li:not([hidden])')].map(li => ["
                "li.className, li.querySelector('.nw-title').textContent,"
                " li.querySelector('.nw-detail').textContent, li.querySelector('.nw-bar').hidden"
                " ? null : parseFloat(li.querySelector('.nw-bar i').style.width)])"
            )
            page.screenshot(path=str(ARTIFACTS / "overlay-network.png"))
        page.close()
    assert errors == []
    assert empty == "No move with network insight yet"
    n = insight.network
    assert [r[0] for r in rows] == ["nw-input", "nw-stem", "nw-block", "nw-block", "nw-head", "nw-head"]
    assert rows[0][1] == f"input: {n.planes} planes, 9 x 9"
    assert rows[1][2] == f"mean |activation| {n.stem_act_mean:.3f}"
    peak = max([b.act_mean for b in n.blocks] + [n.stem_act_mean])
    for row, block in zip(rows[2:4], n.blocks, strict=True):
        assert row[2].startswith(
            f"mean |activation| {block.act_mean:.3f} (max {block.act_max:.2f}); SE gates mean"
        )
        assert f"{int(block.gates_open * 100 + 0.5)}% of channels open" in row[2]  # JS rounds half up
        assert f"widest {', '.join(map(str, block.top_channels))}" in row[2]
        assert abs(row[3] - 100 * block.act_mean / peak) < 0.06
    assert f"of {n.legal_moves} legal; entropy {n.policy_entropy:.2f} nats" in rows[4][2]
    assert rows[5][2].startswith(f"head {insight.value_head:.3f}; shown value {insight.value:.3f}")
