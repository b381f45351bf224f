"""The wire protocol: schema export, validation with reasons, and the live integration run."""

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from showcase_core.protocol import (
    FROM_TRAINER,
    PAYLOADS,
    SECRET,
    TO_TRAINER,
    Control,
    ProtocolError,
    dumps,
    json_schema,
    make,
    parse,
)

ROOT = Path(__file__).resolve().parents[1]


def test_committed_schema_is_the_generated_one():
    result = subprocess.run(
        [sys.executable, "-m", "trainer", "protocol", "--schema"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    committed = json.loads((ROOT / "docs" / "protocol.schema.json").read_text())
    assert json.loads(result.stdout) == committed == json_schema()
    jsonschema.Draft202012Validator.check_schema(committed)


def test_made_messages_validate_against_the_schema():
    validator = jsonschema.Draft202012Validator(json_schema())
    message = make("control", Control(action="speed", seconds=1.5), seq=3, ts=42)
    validator.validate(json.loads(dumps(message)))
    assert message == {
        "t": "control",
        "v": 3,
        "ts": 42,
        "d": {
            "action": "speed",
            "seconds": 1.5,
            "poll_id": None,
            "plan": None,
            "knob": None,
            "value": None,
            "change_id": None,
            "source": None,
            "revert_of": None,
        },
    }


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "not JSON"),
        ("[]", "bad envelope"),
        ('{"t": "control", "v": -1, "ts": 0, "d": {}}', "bad envelope: v"),
        ('{"t": "teleport", "v": 0, "ts": 0, "d": {}}', "unknown message type 'teleport'"),
        ('{"t": "control", "v": 0, "ts": 0, "d": {"action": "explode"}}', "control: action"),
        ('{"t": "control", "v": 0, "ts": 0, "d": {"action": "speed", "seconds": 0}}', "control: seconds"),
        ('{"t": "control", "v": 0, "ts": 0, "d": {"action": "pause", "x": 1}}', "control: x"),
        ('{"t": "move", "v": 0, "ts": 0, "d": {}}', "not accepted here"),
        ("x" * (1 << 21), "exceeds"),
    ],
)
def test_bad_messages_are_refused_with_a_reason(text, reason):
    with pytest.raises(ProtocolError, match=reason):
        parse(text, allowed=TO_TRAINER)


def test_message_sets_are_consistent():
    assert set(PAYLOADS) >= FROM_TRAINER | TO_TRAINER
    assert SECRET <= FROM_TRAINER
    with pytest.raises(ProtocolError, match="not finite"):
        make("metrics", {"update": 1, "samples": 1, "values": {"ppo/approx_kl": float("inf")}}, seq=0)
    with pytest.raises(ProtocolError, match="unknown message type"):
        make("nope", {}, seq=0)


def test_every_example_in_the_protocol_doc_is_valid():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text()
    blocks = re.findall(r"```json\n(.*?)\n```", text, flags=re.S)
    validator = jsonschema.Draft202012Validator(json_schema())
    # Long arrays in the run's examples are cut short with "..."; every complete example must validate.
    complete = [json.loads(b) for b in blocks if '"..."' not in b]
    for message in complete:
        validator.validate(message)
    kinds = {m["t"] for m in complete}
    assert {"control", "poll_open", "poll_reveal", "poll_closed", "chat_highlight", "leaderboard"} <= kinds
