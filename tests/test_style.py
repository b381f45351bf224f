"""The style panel: castles built and rook placement of the AI's sides, by training stage, from the
archive (server/style.py), over REST and in Chromium. The games are scripted moves through the rules;
the castles they build were checked by hand against the diagrams in showcase_core/shogi/castles.py."""

import time

import httpx
from test_pages import ARTIFACTS, Connected, browser, open_page, settled  # noqa: F401 (browser: fixture)
from test_server import Running

from server import store as st
from server.style import CASTLE_NAMES, ROOK_NAMES, game_style, style_by_stage
from showcase_core.shogi.game import Game
from showcase_core.shogi.notation import names
from showcase_core.shogi.records import to_kif

# Black: Fourth File Rook (rook to 6h at ply 3), king to 2h, silver 3h (Half Mino at ply 11), gold
# 6i-5h (Mino at ply 13). White: its rook stays home (Static Rook), king on 5a (no castle).
MINO = ["7g7f", "3c3d", "2h6h", "8c8d", "5i4h", "8d8e", "4h3h", "7a7b", "3h2h", "4a3b", "3i3h", "6a5b",
        "6i5h", "1c1d"]  # fmt: skip
# Both rooks stay home; no castle in 6 plies.
PLAIN = ["7g7f", "3c3d", "2g2f", "8c8d", "2f2e", "8d8e"]


def sfens(usis):
    game = Game()
    out = []
    for u in usis:
        game.push(next(m for m, x in zip(game.legal_moves(), game.legal_usi(), strict=True) if x == u))
        out.append(game.sfen())
    return out


def messages(game_id, usis, version, match=None):
    game = Game(max_plies=len(usis))
    start = {"game_id": game_id, "kind": "showcase", "start_sfen": game.sfen(), "black": "ai", "white": "ai",
             "weights_version": version}  # fmt: skip
    if match:
        start["match"] = match
    out = [("game_start", start)]
    for u in usis:
        move = next(m for m, x in zip(game.legal_moves(), game.legal_usi(), strict=True) if x == u)
        before, prev = game.sfen(), (game.moves[-1] if game.moves else None)
        named = names(game, move, prev)
        game.push(move)
        d = {"game_id": game_id, "ply": game.ply, "sfen_before": before, "move": named,
             "sfen_after": game.sfen(), "chosen_prob": 0.1, "weights_version": version}  # fmt: skip
        out.append(("move", d))
    assert game.is_over  # at the ply cap
    out.append(("game_end", {"game_id": game_id, "result": game.outcome.result, "reason": game.outcome.reason,
                             "plies": game.ply, "final_sfen": game.sfen(), "kif": to_kif(game)}))  # fmt: skip
    return out


def test_a_game_style_names_the_castles_built_and_the_rook_placement_of_each_side():
    black, white = game_style(sfens(MINO), [0, 1])
    assert black == {"side": "black", "castles": ["Half Mino", "Mino"], "rook": "Fourth File Rook"}
    assert white == {"side": "white", "castles": [], "rook": "Static Rook"}
    # Only the first 11 plies: Half Mino, not yet Mino.
    assert game_style(sfens(MINO[:11]), [0])[0]["castles"] == ["Half Mino"]
    # A rook that has left its camp by the last ply read is neither static nor ranging.
    off = sfens(["2g2f", "8c8d", "2f2e", "8d8e", "2e2d", "8e8f", "2d2c+", "8f8g+", "2h2d"])
    assert game_style(off, [0])[0]["rook"] is None


def feed(conn, run_id, msgs):
    for t, d in msgs:
        if t == "game_start":
            st.start_game(conn, run_id=run_id, game=d)
        elif t == "move":
            st.add_move(conn, move=d)
        else:
            st.end_game(conn, end=d)


def test_style_by_stage_counts_the_ai_sides_of_finished_showcase_games_per_range_of_updates(tmp_path):
    conn = st.connect(tmp_path / "a.db")
    st.migrate(conn)
    feed(conn, "r", messages("g1", MINO, 2))  # stage 0-7: both sides are the AI's
    feed(conn, "r", messages("g2", PLAIN, 12))  # stage 8-15
    # A match with the AI as White: only White's side counts (Black's Mino is the opponent's).
    feed(conn, "r", messages("g3", MINO, 15, {"opponent": "rung:x", "opponent_name": "x", "agent": "white"}))
    feed(conn, "other", messages("g5", MINO, 3))  # another run
    feed(conn, "r", messages("g6", MINO, 3)[:-1])
    assert st.close_interrupted(conn, reason="trainer went away") == ["g6"]  # interrupted: not counted
    feed(conn, "r", messages("g4", MINO, 14)[:-1])  # still going: not counted
    feed(conn, "r", [("game_start", {**messages("g7", MINO, 1)[0][1], "kind": "evaluation"})])

    d = style_by_stage(conn, "r", stages=2)
    assert d["games"] == 3
    assert [(s["from_update"], s["to_update"], s["games"], s["sides"]) for s in d["stages"]] == [
        (2, 8, 1, 2),
        (9, 15, 2, 3),
    ]
    early, late = d["stages"]
    assert early["castles"] == {**dict.fromkeys(CASTLE_NAMES, 0), "Half Mino": 1, "Mino": 1}
    assert early["no_castle"] == 1
    assert early["rooks"] == {**dict.fromkeys(ROOK_NAMES, 0), "Fourth File Rook": 1, "Static Rook": 1}
    assert late["castles"] == dict.fromkeys(CASTLE_NAMES, 0)
    assert late["no_castle"] == 3
    assert late["rooks"] == {**dict.fromkeys(ROOK_NAMES, 0), "Static Rook": 3}
    assert style_by_stage(conn, "nobody")["stages"] == []


def test_the_style_panel_reads_none_then_the_archive_share_per_stage(browser, tmp_path):  # noqa: F811
    with Running(tmp_path, analysis_nodes=0) as srv:
        page, errors = open_page(browser, f"{srv.http}/overlay/style", (700, 700))
        page.wait_for_selector(".style-widget .st-empty:not([hidden])")
        empty = page.locator(".st-empty").inner_text()
        with Connected(srv, messages("g1", MINO, 2) + messages("g2", PLAIN, 12)):
            deadline = time.monotonic() + 30
            api = httpx.get(f"{srv.http}/api/style?run=run-1", timeout=10).json()
            while api["games"] < 2 and time.monotonic() < deadline:  # the store writes in the background
                time.sleep(0.05)
                api = httpx.get(f"{srv.http}/api/style?run=run-1", timeout=10).json()
            assert api["games"] == 2
            page.wait_for_function(
                "() => document.querySelectorAll('.style-widget tbody tr').length > 0 && document"
                ".querySelector('.style-widget .st-note').textContent.startsWith('2 games')"
            )
            settled(page)
            rows = page.evaluate(
                "() => [...document.querySelectorAll('.style-widget tr')].map(tr =>"
                " [...tr.children].map(c => c.textContent))"
            )
            page.screenshot(path=str(ARTIFACTS / "overlay-style.png"))
        page.close()
    assert errors == []
    assert empty == "No finished showcase games in this run yet: no style to show"
    table = {r[0]: r[1:] for r in rows}
    stages = [s for s in api["stages"]]
    assert table[""] == [f"updates {s['from_update']}-{s['to_update']}" for s in stages]
    assert table["AI sides (games)"] == ["2 (1)", "2 (1)"]
    assert table["Mino"] == ["50% (1)", "0% (0)"]
    assert table["Half Mino"] == ["50% (1)", "0% (0)"]
    assert table["no castle"] == ["50% (1)", "100% (2)"]
    assert table["Fourth File Rook"] == ["50% (1)", "0% (0)"]
    assert table["Static Rook"] == ["50% (1)", "100% (2)"]
