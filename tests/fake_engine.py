"""A scripted USI engine that misbehaves on purpose: `python fake_engine.py MODE [LOG]`.

Modes: `good` (always answers 7g7f, Black's first move), `no_readyok` (never answers isready),
`garbage` (prints noise instead of usiok), `illegal` (answers every go with an illegal move),
`resign` (answers every go with `bestmove resign`),
`exit_in_go` (exits with code 3 when told to search), `hang_in_go` (never answers go, ignores stop),
`slow_until_stop` (answers go only when told to stop). With LOG, every line received is appended to
that file.
"""

import sys

mode = sys.argv[1]
log = open(sys.argv[2], "a") if len(sys.argv) > 2 else None  # noqa: SIM115


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


for raw in sys.stdin:
    line = raw.strip()
    if log:
        log.write(line + "\n")
        log.flush()
    if line == "usi":
        if mode == "garbage":
            for i in range(50):
                say(f"~~ {i} \x00\x7f not usi at all")
            continue
        say("id name FakeEngine " + mode)
        say("option name Skill Level type spin default 20 min -20 max 20")
        say("usiok")
    elif line == "isready":
        if mode != "no_readyok":
            say("readyok")
    elif line.startswith("go"):
        if mode == "exit_in_go":
            sys.stderr.write("fake engine: giving up mid-search\n")
            sys.stderr.flush()
            sys.exit(3)
        if mode in ("hang_in_go", "slow_until_stop"):
            continue
        if mode == "illegal":
            say("info depth 1 score cp 10 pv 1a1b")
            say("bestmove 1a1b")
        elif mode == "resign":
            say("info depth 1 score mate -1")
            say("bestmove resign")
        else:
            say("info depth 1 score cp 10 pv 7g7f")
            say("bestmove 7g7f")
    elif line == "stop" and mode == "slow_until_stop":
        say("info depth 1 score cp 3 pv 7g7f")
        say("bestmove 7g7f")
    elif line == "quit":
        break
