"""The replay pages (/replays and /replays/{id}) in a real headless Chromium, against a real server
whose archive a scripted trainer filled with the real protocol."""

import json
import time
from types import SimpleNamespace

import httpx
import pytest
from test_pages import ARTIFACTS, browser, feed, heat_alphas, open_page, pieces, settled  # noqa: F401 (browser: fixture)
from test_server import Running, game_messages, held_move

from showcase_core.shogi.game import Game

PLIES = 24
WITH_INSIGHT = {*range(1, 9), *range(13, 21)}  # two runs of moves with insight, a gap between them
HOSTILE = '<img src=x onerror="document.body.dataset.pwned=1">'  # a player name that must stay text
NOT_FOUND = "Failed to load resource: the server responded with a status of 404 (Not Found)"
KINDS = [
    "", "pawn", "lance", "knight", "silver", "bishop", "rook", "gold", "king",
    "tokin", "promotedlance", "promotedknight", "promotedsilver", "horse", "dragon",
]  # fmt: skip


REPLAY_PAGE = (1200, 1000)


def showcase_game():
    """A 24-ply showcase game whose moves in WITH_INSIGHT carry real insight from a tiny network."""
    messages, game = game_messages(seed=5, plies=PLIES, game_id="g-show")
    for t, d in messages:
        if t == "move" and d["ply"] in WITH_INSIGHT:
            d["insight"] = held_move(Game(d["sfen_before"]), "g-show", ply=d["ply"])["insight"]
    return messages, game


def evaluation_game():
    """A short evaluation game (no insight, as evaluation games are recorded) with a hostile name."""
    messages, game = game_messages(seed=6, plies=6, game_id="g-eval")
    messages[0][1].update(kind="evaluation", black=HOSTILE, white="random")
    return messages, game


def archived(srv, ids):
    """Wait (on the archive's own answer, not a clock) until every game in `ids` has ended there."""
    deadline = time.monotonic() + 20
    while True:
        games = {g["id"]: g for g in httpx.get(f"{srv.http}/api/games").json()["games"]}
        if all(games.get(i, {}).get("result") for i in ids):
            return games
        assert time.monotonic() < deadline, f"games {ids} never ended in the archive: {games}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A running server whose archive holds the showcase game and, newer, the evaluation game."""
    show, _ = showcase_game()
    evaluation, _ = evaluation_game()
    with Running(tmp_path_factory.mktemp("replays")) as srv:
        feed(srv, [*show, *evaluation])  # the evaluation game starts last: it is the newest
        games = archived(srv, ["g-show", "g-eval"])
        yield SimpleNamespace(srv=srv, games=games, show_moves=[d for t, d in show if t == "move"])


def expected_pieces(usi_moves) -> dict[str, str]:
    """The board after `usi_moves` from the start, keyed and classed as shogiground draws it."""
    game = Game()
    for usi in usi_moves:
        game.push_usi(usi)
    expected = {}
    for sq, code in enumerate(game.board.pieces):
        if code:
            key = f"{sq // 9 + 1}{'abcdefghi'[sq % 9]}"
            expected[key] = f"{'gote' if code & 16 else 'sente'} {KINDS[code & 15]}"
    return expected


def hands(page) -> dict[str, str]:
    """Pieces in hand as drawn: 'sente pawn' -> count, only those held."""
    return page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('sg-hand sg-hp-wrap')]"
        ".filter(w => w.dataset.nb !== '0').map(w => [w.querySelector('piece').className, w.dataset.nb]))"
    )


def expected_hands(sfen: str) -> dict[str, str]:
    field = sfen.split(" ")[2]
    names = {"P": "pawn", "L": "lance", "N": "knight", "S": "silver", "G": "gold", "B": "bishop", "R": "rook"}
    out, count = {}, ""
    for ch in "" if field == "-" else field:
        if ch.isdigit():
            count += ch
            continue
        out[f"{'sente' if ch.isupper() else 'gote'} {names[ch.upper()]}"] = count or "1"
        count = ""
    return out


def rows(page) -> list[list[str]]:
    return page.evaluate(
        "() => [...document.querySelectorAll('#games tbody tr')].map(r => [r.dataset.id,"
        " ...[...r.cells].map(c => c.textContent)])"
    )


def test_replays_lists_pages_and_filters_the_archive(browser, archive):  # noqa: F811
    srv, show, evaluation = archive.srv, archive.games["g-show"], archive.games["g-eval"]
    page, errors = open_page(browser, f"{srv.http}/replays?limit=1&theme=light", REPLAY_PAGE)
    page.wait_for_selector("#games tbody tr")
    first = rows(page)
    assert page.locator("#older").is_visible()
    page.click("#older")
    page.wait_for_function("() => document.querySelectorAll('#games tbody tr').length === 2")
    both = rows(page)
    older_hidden = page.locator("#older").is_hidden()
    assert page.locator("#games tbody b, #games tbody img").count() == 0  # the hostile name stayed text

    page.select_option("select[name=kind]", "showcase")
    page.wait_for_function("() => location.search === '?limit=1&theme=light&kind=showcase'")
    page.wait_for_function("() => document.querySelector('#games tbody tr')?.dataset.id === 'g-show'")
    settled(page)
    showcase_only = rows(page)
    page.select_option("select[name=result]", "black")
    page.wait_for_function("() => !document.getElementById('note').hidden")
    no_match = page.locator("#note").inner_text()

    # The list as a person first sees it, for the screenshot; then one link through to its replay.
    page.goto(f"{srv.http}/replays")
    page.wait_for_function("() => document.querySelectorAll('#games tbody tr').length === 2")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "replays.png"))
    page.click("tr[data-id=g-eval] a")
    page.wait_for_selector("body[data-ply='6']")
    graph_note = page.locator("#graph-note").inner_text()
    insight_note = page.locator("#insight-note").inner_text()
    title = page.locator("#title").inner_text()
    pwned = page.evaluate("() => document.body.dataset.pwned ?? null")
    page.close()

    assert [r[0] for r in first] == ["g-eval"] and [r[0] for r in both] == ["g-eval", "g-show"]
    assert older_hidden
    eval_row, show_row = both
    stopped = "Stopped at the ply limit"
    assert eval_row[2:8] == ["evaluation", HOSTILE, "random", stopped, evaluation["reason"], "6"]
    assert show_row[2:8] == ["showcase", "ai", "ai", stopped, show["reason"], str(PLIES)]
    assert eval_row[8] == "replay" and eval_row[1]  # a link and a start time
    assert [r[0] for r in showcase_only] == ["g-show"]
    assert no_match == "No games match these filters."
    assert title == f"{HOSTILE} (Black) vs random (White)" and pwned is None
    assert graph_note == "No move of this game has recorded insight, so there is no evaluation to plot."
    assert insight_note.startswith("No insight was recorded for move 6")
    assert errors == []


def test_replay_scrubs_with_keys_list_and_range_and_shows_each_plys_insight(browser, archive):  # noqa: F811
    srv, moves = archive.srv, archive.show_moves
    usi = [m["move"]["usi"] for m in moves]
    page, errors = open_page(browser, f"{srv.http}/replays/g-show", REPLAY_PAGE)
    page.wait_for_selector(f"body[data-ply='{PLIES}']")  # a replay opens at the end of the game
    header = [page.locator(s).inner_text() for s in ("#title", "#outcome")]

    page.keyboard.press("Home")
    for _ in range(7):
        page.keyboard.press("ArrowRight")
    page.wait_for_selector("body[data-ply='7']")
    settled(page)
    at_7 = {
        "pieces": pieces(page),
        "hands": hands(page),
        "top": page.locator("#moves-widget .top li:visible .jp").all_inner_texts(),
        "note": page.locator("#insight-note").inner_text(),
        "value": page.locator(".value-text").inner_text(),
        "scrubber": page.locator("#scrubber").input_value(),
        "current": page.locator("#move-list button.current").inner_text(),
        "hash": page.evaluate("() => location.hash"),
    }
    page.screenshot(path=str(ARTIFACTS / "replay.png"), full_page=True)

    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.wait_for_selector("body[data-ply='10']")
    settled(page)
    at_10 = {
        "pieces": pieces(page),
        "top": page.locator("#moves-widget .top li:visible").count(),  # none left over from ply 7
        "note": page.locator("#insight-note").inner_text(),
        "value": page.locator(".value-text").inner_text(),
    }
    page.keyboard.press("End")
    page.keyboard.press("ArrowLeft")
    page.wait_for_selector(f"body[data-ply='{PLIES - 1}']")
    settled(page)
    at_end_minus_1 = (pieces(page), hands(page))
    page.click("#move-list button[data-index='3']")
    page.wait_for_selector("body[data-ply='3']")
    settled(page)
    at_3 = pieces(page)
    page.locator("#scrubber").fill("15")
    page.wait_for_selector("body[data-ply='15']")
    settled(page)
    at_15 = pieces(page)
    page.keyboard.press("Home")
    page.wait_for_selector("body[data-ply='0']")
    settled(page)
    # Back at the start nothing of the last move is left: no chosen move, no top-5.
    at_0 = (
        pieces(page),
        page.locator("#moves-widget .empty").is_visible(),
        page.locator("#moves-widget .chosen").inner_text(),
        page.locator("#moves-widget .top li:visible").count(),
    )
    links = page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('#exports a')]"
        ".map(a => [a.textContent, a.href]))"
    )
    with page.expect_download() as download:
        page.click("#exports a[data-format=kif]")
    kif_name = download.value.suggested_filename
    page.close()

    m7 = moves[6]
    reason = archive.games["g-show"]["reason"]
    assert header == ["ai (Black) vs ai (White)", f"Result: Stopped at the ply limit ({reason})"]
    assert at_7["pieces"] == expected_pieces(usi[:7])
    assert at_7["hands"] == expected_hands(m7["sfen_after"])
    assert at_7["top"] == [m["japanese"] for m in m7["insight"]["top"]]
    assert at_7["note"].startswith(f"Move 7: Black's winning chance {m7['insight']['black_win'] * 100:.1f}%")
    assert at_7["value"] == f"Black {round(m7['insight']['black_win'] * 100)}%"
    assert (at_7["scrubber"], at_7["hash"]) == ("7", "#ply=7")
    assert at_7["current"] == f"7. {m7['move']['japanese']} {m7['move']['western']}"
    assert at_10["pieces"] == expected_pieces(usi[:10])
    assert at_10["top"] == 0 and at_10["value"] == "no evaluation"  # no insight: nothing made up
    assert at_10["note"].startswith(f"No insight was recorded for move 10 ({moves[9]['move']['western']})")
    assert at_end_minus_1 == (
        expected_pieces(usi[: PLIES - 1]),
        expected_hands(moves[PLIES - 2]["sfen_after"]),
    )
    assert at_3 == expected_pieces(usi[:3]) and at_15 == expected_pieces(usi[:15])
    assert at_0 == (expected_pieces([]), True, "", 0)
    assert kif_name == "shogi-showcase-g-show.kif"

    # Each link is the export endpoint in its format, with the right content.
    texts = {name: httpx.get(url) for name, url in links.items()}
    assert sorted(texts) == ["CSA", "JSON", "KIF", "USI"]
    assert all(r.status_code == 200 for r in texts.values())
    kif = texts["KIF"].text.splitlines()
    assert kif[0] == "#KIF version=2.0 encoding=UTF-8" and "手合割：平手" in kif
    assert texts["USI"].text == f"position sfen {Game().sfen()} moves {' '.join(usi)}\n"
    assert texts["CSA"].text.startswith("V2.2\nN+ai\nN-ai\n")
    assert json.loads(texts["JSON"].text)["id"] == "g-show"
    assert texts["USI"].headers["content-disposition"] == 'attachment; filename="shogi-showcase-g-show.usi"'
    assert errors == []


def test_replay_of_an_unknown_game_says_so(browser, archive):  # noqa: F811
    page, errors = open_page(browser, f"{archive.srv.http}/replays/no-such-game", REPLAY_PAGE)
    page.wait_for_selector("#error:not([hidden])")
    title = page.locator("#title").inner_text()
    message = page.locator("#error").inner_text()
    replay_hidden = page.locator("#replay").is_hidden()
    page.close()
    assert title == "No such game" and replay_hidden
    assert message == (
        'There is no game with the id "no-such-game" in the archive'
        " (the server said: no game with id 'no-such-game')."
    )
    assert errors == [NOT_FOUND]  # the page's own fetch of /api/games/no-such-game, and nothing else


def _write_version_1(path, messages):
    """The game as the first server archived it: schema version 1, insight as full-float JSON."""
    import sqlite3

    from server import store as st

    conn = sqlite3.connect(path)
    conn.executescript(";".join(st._statements(st.MIGRATIONS[0])) + "; PRAGMA user_version = 1;")
    for t, d in messages:
        if t == "game_start":
            conn.execute(
                "INSERT INTO games (id, run_id, kind, start_sfen, black, white, weights_version, started_at)"
                " VALUES (?, 'old-run', ?, ?, ?, ?, ?, 1.0)",
                (d["game_id"], d["kind"], d["start_sfen"], d["black"], d["white"], d["weights_version"]),
            )
        elif t == "move":
            conn.execute(
                "INSERT INTO moves (game_id, ply, sfen_before, sfen_after, usi, western, japanese,"
                " chosen_prob, weights_version, insight, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1.0)",
                (d["game_id"], d["ply"], d["sfen_before"], d["sfen_after"], d["move"]["usi"],
                 d["move"]["western"], d["move"]["japanese"], d["chosen_prob"], d["weights_version"],
                 json.dumps(d["insight"]) if d.get("insight") else None),
            )  # fmt: skip
        elif t == "game_end":
            conn.execute(
                "UPDATE games SET ended_at = 2.0, result = ?, reason = ?, plies = ?, final_sfen = ?, kif = ?"
                " WHERE id = ?",
                (d["result"], d["reason"], d["plies"], d["final_sfen"], d["kif"], d["game_id"]),
            )
    conn.commit()
    conn.close()


def test_a_version_1_archive_upgraded_at_start_still_replays_with_its_insight(browser, tmp_path):  # noqa: F811
    messages, _ = showcase_game()
    unfinished, _ = game_messages(seed=9, plies=6, game_id="g-cut")
    (tmp_path / "data").mkdir()
    _write_version_1(tmp_path / "data" / "showcase.sqlite3", [*messages, *unfinished[:-1]])
    moves = [d for t, d in messages if t == "move"]
    with Running(tmp_path) as srv:
        listing = httpx.get(f"{srv.http}/api/games").json()["games"]
        page, errors = open_page(browser, f"{srv.http}/replays/g-show#ply=7", REPLAY_PAGE)
        page.wait_for_selector("body[data-ply='7']")
        settled(page)
        top = page.locator("#moves-widget .top li:visible .jp").all_inner_texts()
        value = page.locator(".value-text").inner_text()
        heat = sum(a > 0 for a in heat_alphas(page, "#board-widget"))
        page.screenshot(path=str(ARTIFACTS / "replay-migrated.png"), full_page=True)
        page.close()
    m7 = moves[6]
    assert {g["id"]: g["result"] for g in listing} == {"g-show": "truncated", "g-cut": "interrupted"}
    assert top == [m["japanese"] for m in m7["insight"]["top"]]
    assert value == f"Black {round(m7['insight']['black_win'] * 100)}%"
    assert heat > 0
    assert errors == []
