"""The pages' JavaScript runs in OBS's browser source, Chromium 127: eslint (eslint.config.mjs) passes on
static/js and fails on anything newer, API or syntax (each probe is linted as if it were a page module)."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ESLINT = ROOT / "node_modules" / ".bin" / "eslint"

if not ESLINT.exists():
    if os.environ.get("CI"):  # make install runs npm ci: a missing eslint there is a failure
        raise RuntimeError("node_modules has no eslint; make install should have run npm ci")
    pytest.skip("the compatibility check needs npm ci (make install)", allow_module_level=True)


def lint(code: str | None = None) -> subprocess.CompletedProcess:
    args = [str(ESLINT), "--no-warn-ignored"]
    if code is None:
        return subprocess.run([*args, "static/js"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    return subprocess.run(
        [*args, "--stdin", "--stdin-filename", "static/js/probe.js"],
        cwd=ROOT,
        input=code,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_pages_use_nothing_newer_than_chromium_127():
    result = lint()
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("export const t = Promise.try(() => 1);\n", "Promise.try"),  # Chrome 128
        ("export const r = RegExp.escape('x');\n", "RegExp.escape"),  # Chrome 136
        ("export const a = new Float16Array(2);\n", "Float16Array"),  # Chrome 135
        ("export const b = new Uint8Array(2).toBase64();\n", "toBase64"),  # Chrome 140
        ("document.body.moveBefore(document.body.firstChild, null);\n", "moveBefore"),  # Chrome 133
        ("{ using handle = open(); }\n", "Parsing error"),  # explicit resource management, Chrome 134
    ],
)
def test_a_newer_api_or_syntax_fails_the_check(code, expected):
    result = lint(code)
    assert result.returncode == 1 and expected in result.stdout, result.stdout + result.stderr


def test_what_chromium_127_has_passes():
    code = "export const s = new Set([1]).union(new Set([2]));\nexport const w = Promise.withResolvers();\n"
    result = lint(code)
    assert result.returncode == 0, result.stdout
