"""The archive's compact insight: exact on its grid, bounded error off it, corrupt data refused."""

import json
import random
import zlib

import pytest
from test_store import insight

from server import insight_codec as codec


def test_round_trip_is_exact_on_the_grid_and_keeps_the_shape():
    for blocks in (1, 3, 9):
        sent = insight(blocks=blocks, seed=blocks)
        assert codec.decode(codec.encode(sent)) == sent


def test_off_grid_values_are_within_half_a_level_and_probabilities_round_to_4_places():
    rng = random.Random(0)
    sent = insight(blocks=9)
    for maps in (sent["maps"]["se_attention"], sent["maps"]["activation"]):
        for m in maps:
            m[:] = [rng.random() for _ in m]
    sent["maps"]["saliency"] = [0.0] * 80 + [1.0]  # extremes survive exactly
    sent["top"][0]["prob"] = 0.987654321
    got = codec.decode(codec.encode(sent))
    for a, b in zip(got["maps"]["se_attention"] + got["maps"]["activation"],
                    sent["maps"]["se_attention"] + sent["maps"]["activation"], strict=True):  # fmt: skip
        assert max(abs(x - y) for x, y in zip(a, b, strict=True)) <= 0.5 / codec.LEVELS + 1e-12
    assert got["maps"]["saliency"] == sent["maps"]["saliency"]
    assert got["top"][0]["prob"] == 0.9877
    assert len(codec.encode(sent)) < len(json.dumps(sent)) / 10


def test_old_json_text_still_reads_and_bad_bytes_are_a_codec_error():
    sent = insight()
    assert codec.decode(json.dumps(sent)) == sent and codec.decode(None) is None
    good = codec.encode(sent)
    with pytest.raises(codec.CodecError, match="unknown insight format"):
        codec.decode(b"\x07" + good[1:])
    with pytest.raises(codec.CodecError, match="corrupt"):
        codec.decode(good[:-5])
    short = codec.VERSION + zlib.compress(zlib.decompress(good[1:])[:-3])
    with pytest.raises(codec.CodecError, match="map bytes"):
        codec.decode(short)
    with pytest.raises(codec.CodecError, match="81"):
        codec.encode({**sent, "maps": {**sent["maps"], "saliency": [0.0] * 80}})
