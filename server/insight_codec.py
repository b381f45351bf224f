"""The archive's compact form of a move's insight, torch-free.

A showcase move's insight is mostly maps: one SE-attention and one activation map per residual block
plus the mean, saliency and policy-mass maps, 81 values each in [0, 1] (21 maps for the 9-block
network). As JSON with full floats that is about 34 kB a move; here it is:

    b"\\x01" + zlib( header JSON + b"\\x00" + one byte per map value )

- every map value quantised to 64 levels, `round(v * 63)`, so a decoded value is within 1/126 of
  the sent one (the heatmap's bounded opacity scale shows far fewer steps); each map is stored as
  differences from the previous square (mod 256), which zlib packs tighter (measured with the
  9-block network: 1.85 kB of insight a move at 256 levels, 1.41 kB at 64, and 2.05 kB a move in the
  archive file with the move's other columns; `python -m trainer bench archive`);
- probabilities and values rounded to 4 decimals (the pages show at most 1 decimal of a percent);
- think time to 0.1 ms; move names, the phase and the shape of the maps kept as they are.

`decode(encode(x))` has exactly the shape of `x`, so the REST API and the replay page see the insight
as the trainer sent it, to that precision. `decode` also reads the JSON text of archives written before
this format (the migration converts those in place; see server/store.py).
"""

from __future__ import annotations

import json
import zlib
from typing import Any

VERSION = b"\x01"
MAP_SIZE = 81
LEVELS = 63
DIGITS = 4  # probabilities and values
_SINGLE = ("se_attention_mean", "saliency", "policy_mass")


class CodecError(ValueError):
    """Stored insight that cannot be decoded (corrupt or from an unknown format)."""


def _q(values: list[float]) -> bytes:
    """A map -> its levels as differences from the previous square, mod 256."""
    if len(values) != MAP_SIZE:
        raise CodecError(f"a map has {len(values)} values, expected {MAP_SIZE}")
    levels = [min(LEVELS, max(0, round(v * LEVELS))) for v in values]
    return bytes((b - a) & 255 for a, b in zip([0, *levels], levels, strict=False))


def _dq(data: bytes) -> list[float]:
    out, level = [], 0
    for d in data:
        level = (level + d) & 255
        out.append(level / LEVELS)
    return out


def encode(insight: dict[str, Any]) -> bytes:
    """A protocol `Insight` (as a dict) -> the compact bytes stored in `moves.insight`."""
    maps = insight["maps"]
    header = {
        "top": [[t["usi"], t["western"], t["japanese"], round(t["prob"], DIGITS)] for t in insight["top"]],
        "value": round(insight["value"], DIGITS),
        "black_win": round(insight["black_win"], DIGITS),
        "value_head": None if insight.get("value_head") is None else round(insight["value_head"], DIGITS),
        "phase": insight["phase"],
        "think_ms": round(insight["think_ms"], 1),
        "blocks": [len(maps["se_attention"]), len(maps["activation"])],
    }
    body = b"".join(
        [
            *(_q(m) for m in maps["se_attention"]),
            _q(maps["se_attention_mean"]),
            *(_q(m) for m in maps["activation"]),
            _q(maps["saliency"]),
            _q(maps["policy_mass"]),
        ]
    )
    text = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode()
    return VERSION + zlib.compress(text + b"\x00" + body, 9)


def decode(stored: bytes | str | None) -> dict[str, Any] | None:
    """What `moves.insight` holds -> the insight dict (None stays None; old JSON text is parsed)."""
    if stored is None:
        return None
    if isinstance(stored, str):
        return json.loads(stored)
    if not stored.startswith(VERSION):
        raise CodecError(f"unknown insight format {stored[:1]!r}")
    try:
        raw = zlib.decompress(stored[1:])
        text, body = raw.split(b"\x00", 1)
        header = json.loads(text)
    except (zlib.error, ValueError) as exc:
        raise CodecError(f"corrupt insight: {exc}") from exc
    n_se, n_act = header["blocks"]
    if len(body) != MAP_SIZE * (n_se + n_act + len(_SINGLE)):
        raise CodecError(f"corrupt insight: {len(body)} map bytes for {n_se} + {n_act} blocks")
    maps = [_dq(body[i : i + MAP_SIZE]) for i in range(0, len(body), MAP_SIZE)]
    return {
        "top": [{"usi": u, "western": w, "japanese": j, "prob": p} for u, w, j, p in header["top"]],
        "value": header["value"],
        "black_win": header["black_win"],
        "value_head": header["value_head"],
        "maps": {
            "se_attention": maps[:n_se],
            "se_attention_mean": maps[n_se],
            "activation": maps[n_se + 1 : n_se + 1 + n_act],
            "saliency": maps[n_se + 1 + n_act],
            "policy_mass": maps[n_se + 2 + n_act],
        },
        "phase": header["phase"],
        "think_ms": header["think_ms"],
    }
