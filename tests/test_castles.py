"""Castles and rook style on hand-checked positions: each castle found where its pieces stand (built
by legal moves from the start where practical, else by SFEN), not found with one piece off or
promoted, and White's the same turned 180 degrees."""

import pytest

from showcase_core.shogi.castles import CASTLES, describe
from showcase_core.shogi.game import Game

QUIET_WHITE = ["3c3d", "8c8d", "4c4d", "6c6d", "7c7d", "1c1d", "9c9d", "2c2d", "5c5d", "3d3e", "1d1e", "9d9e"]


def play(black_moves: list[str]) -> str:
    """Black's moves with quiet White pawn pushes between them, every one checked by the rules."""
    game = Game()
    for i, move in enumerate(black_moves):
        game.push_usi(move)
        game.push_usi(QUIET_WHITE[i])
    return game.sfen()


def test_the_start_position_has_no_castle_and_two_static_rooks():
    d = describe(Game().sfen())
    for side in ("black", "white"):
        assert d[side]["castle"] is None
        assert d[side]["rook"] == {"family": "static", "name": "Static Rook", "japanese": "居飛車"}


def test_fourth_file_rook_and_mino_built_by_legal_moves():
    sfen = play(["2h6h", "5i4h", "4h3h", "3h2h", "3i3h", "6i5h"])
    d = describe(sfen)["black"]
    assert d["rook"]["name"] == "Fourth File Rook" and d["rook"]["family"] == "ranging"
    assert d["castle"]["name"] == "Mino" and d["castle"]["japanese"] == "本美濃"
    assert sorted(d["castle"]["squares"]) == ["2h", "3h", "4i", "5h"]
    # One move short of Mino (the left gold still home) is Half Mino.
    assert describe(play(["2h6h", "5i4h", "4h3h", "3h2h", "3i3h"]))["black"]["castle"]["name"] == "Half Mino"


def test_gold_yagura_built_by_legal_moves_and_not_one_move_short():
    moves = ["7g7f", "6g6f", "9g9f", "7i6h", "6h7g", "6i7h", "4i5h", "5h6g", "8h9g", "5i6h", "6h7i", "7i8h"]
    d = describe(play(moves))["black"]
    assert d["castle"]["name"] == "Gold Yagura" and d["rook"]["name"] == "Static Rook"
    assert describe(play(moves[:-1]))["black"]["castle"] is None  # the king one step short, on 7i


def test_boat_castle_and_not_left_mino():
    d = describe(play(["5i6h", "6h7h", "4i5h"]))["black"]
    assert d["castle"]["name"] == "Boat" and d["castle"]["japanese"] == "舟囲い"


@pytest.mark.parametrize("castle", CASTLES, ids=lambda c: c.name)
def test_each_castle_by_sfen_for_both_colours_and_not_with_a_piece_off_or_promoted(castle):
    board = [["" for _ in range(9)] for _ in range(9)]  # [rank][file index from the left (file 9)]

    def put(piece: str, key: str, white: bool) -> None:
        file, rank = int(key[0]), "abcdefghi".index(key[1])
        if white:
            file, rank = 10 - file, 8 - rank
        board[rank][9 - file] = piece.lower() if white else piece

    def sfen(white: bool, skip: int | None = None, promote: int | None = None) -> str:
        for row in board:
            row[:] = [""] * 9
        for i, (piece, key) in enumerate(castle.pieces):
            if i != skip:
                put(("+" if i == promote else "") + piece, key, white)
        # The other king, far away on the other side's back rank (a king is always needed).
        other = "5a" if not any(k == "5a" for _, k in castle.pieces) else "4a"
        put("K", other, not white)
        rows = []
        for row in board:
            out, empty = "", 0
            for cell in row:
                if cell:
                    out += (str(empty) if empty else "") + cell
                    empty = 0
                else:
                    empty += 1
            rows.append(out + (str(empty) if empty else ""))
        return "/".join(rows) + (" w" if white else " b") + " - 1"

    for white, side in ((False, "black"), (True, "white")):
        found = describe(sfen(white))[side]["castle"]
        assert found is not None and found["name"] == castle.name, (castle.name, side, sfen(white))
        for i, (piece, _) in enumerate(castle.pieces):
            if piece == "K":
                continue  # no king at all is not a position
            off = describe(sfen(white, skip=i))[side]["castle"]
            assert off is None or off["name"] != castle.name
            if piece in "SL":  # a promoted silver or lance is no longer the castle's piece
                promoted = describe(sfen(white, promote=i))[side]["castle"]
                assert promoted is None or promoted["name"] != castle.name


def test_ranging_rook_names_by_file_and_none_once_the_rook_leaves_its_camp():
    names = {f: describe(play([f"2h{f}h"]))["black"]["rook"]["name"] for f in (5, 6, 7)}
    assert names == {5: "Central Rook", 6: "Fourth File Rook", 7: "Third File Rook"}
    assert describe(play(["2g2f", "2h2g", "2f2e", "2g2f"]))["black"]["rook"] is None  # a floating rook
