"""`python -m server bench overlay`: the composite `/overlay` page in a headless Chromium (Debian's,
1920 x 1080) fed by a real server (`python -m server serve` in a subprocess) from a scripted trainer
over the real protocol: `--moves` legal moves of random games (game_start / game_end around each game)
interleaved evenly with `--metrics` PPO updates, paced at `--rate` events per second like a live stream.

What "main-thread time per event" means here, measured from outside the page with Chromium's own
tracing (categories devtools.timeline and disabled-by-default-devtools.timeline) on the page's
renderer main thread:

- A *message task* is a top-level task (`RunTask`) in which a websocket message arrived
  (`WebSocketReceive`). Each message is charged the listeners it ran (the `FunctionCall`s after its
  receive mark: JSON.parse, the sequence check, the widgets' state updates) plus an equal share of the
  rest of its task.
- A *frame task* is a top-level task that rendered a frame (`FireAnimationFrame`, pre-paint, paint,
  layerize or commit in it). The widgets draw at most once per animation frame, so a frame's whole
  task is shared equally by the messages that arrived since the previous frame task. At a lower rate
  fewer messages share a frame, so the per-event figure depends on `--rate`; the frame figures do not.
- Per-event cost = message share + frame share; its median and p99 over every move and metrics message
  are the headline (target: p99 at most 8 ms), in wall time (`dur`: what a viewer waits, including
  time the thread was preempted or blocked on the compositor) and in the thread's CPU time (`tdur`,
  `*_cpu_*`: the page's own cost, steadier on a shared machine). Other main-thread tasks (timers,
  garbage collection, the harness's polls) are reported in total, not per event; `busy_ms_per_event`
  divides all main-thread task time during the run by the events received.

The page is not modified: an init script wraps `WebSocket` to count messages by type (a substring of
the envelope, inside the measured listeners, about a microsecond each) and the page's sends (only
`resync`), so the report says whether every event arrived, in one snapshot, with no resync. The hub
conflates `metrics` for a viewer that fell behind (server/hub.py), so missing metrics mean the page,
or the machine, did not keep up with the rate at some moment; moves are never conflated. The JS heap
is read with `Runtime.getHeapUsage` after `HeapProfiler.collectGarbage`, before the feed and after it
(target: growth at most 10 MB). Tracing costs the browser some CPU, so the figures are an upper bound;
`Performance.getMetrics` totals (task, script, style, layout time) come alongside. `--profile` adds a
sampling CPU profile's top functions (it slows the page: compare its timings only with each other).

Insight and metric numbers are load-test filler of the real shape and size (top-5 legal moves with
their three names, every map of `trainer/insight.py` with one map per residual block, full-precision
floats; metric keys as a run sends them): only the shape and the cost of drawing them matter here.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from websockets.asyncio.client import connect

from server.bench import TOKEN, _free_port, _percentile
from showcase_core.protocol import PROTOCOL_VERSION, dumps, make
from showcase_core.shogi.game import BLACK, Game
from showcase_core.shogi.notation import names
from showcase_core.shogi.records import to_kif

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1920, "height": 1080}
TARGET_P99_MS = 8.0
TARGET_HEAP_GROWTH_MB = 10.0
TRACE_CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline"]
# Work only a rendering update does: a task holding any of it drew a frame. (Style and layout can also
# be forced by a script, so they do not mark a frame; they are in the per-frame breakdown.)
FRAME_MARKS = frozenset({"FireAnimationFrame", "PrePaint", "Paint", "Layerize", "Commit"})
# The per-frame breakdown: report key -> trace events (outermost only, so nothing counts twice).
FRAME_PHASES = {
    "js": ("FireAnimationFrame",),  # requestAnimationFrame callbacks, with any layout they force
    "style": ("UpdateLayoutTree",),
    "layout": ("Layout",),
    "paint": ("PrePaint", "Paint"),
    "layerize": ("Layerize",),
    "commit": ("Commit",),  # handing the frame to the compositor thread; the main thread waits
}
PHASE_OF = {name: key for key, names_ in FRAME_PHASES.items() for name in names_}
KEPT = (
    FRAME_MARKS
    | PHASE_OF.keys()
    | {"RunTask", "WebSocketReceive", "FunctionCall", "TracingStartedInBrowser", "thread_name"}
)

# Counts what the page receives without touching its code: a listener added before the page's own
# `onmessage`, reading the type from the envelope's start ({"t":"move",...}), and a count of sends
# (the page only sends `resync`).
COUNTER_SCRIPT = """
(() => {
  const Native = window.WebSocket;
  const bench = { counts: {}, order: [], sent: 0, opened: 0 };
  class CountingWebSocket extends Native {
    constructor(...args) {
      super(...args);
      bench.opened += 1;
      this.addEventListener("message", (event) => {
        const text = event.data;
        const t = text.slice(6, text.indexOf('"', 6));
        bench.counts[t] = (bench.counts[t] || 0) + 1;
        bench.order.push(t);
      });
    }
    send(data) { bench.sent += 1; return super.send(data); }
  }
  window.WebSocket = CountingWebSocket;
  window.__overlayBench = bench;
})();
"""

METRIC_KEYS = (
    "losses/policy", "losses/value", "losses/entropy", "ppo/approx_kl", "ppo/clipfrac", "ppo/grad_norm",
    "ppo/explained_variance", "ppo/epochs_run", "ppo/early_stop", "adv/mean", "adv/std", "ppo/lr",
    "perf/sps", "perf/collect_sps", "perf/update_sps", "perf/samples", "selfplay/games",
    "selfplay/game_length", "selfplay/result_checkmate", "selfplay/result_max_plies",
    "selfplay/black_win_rate", "curriculum/games", "curriculum/score_vs_random",
)  # fmt: skip
HIST_EDGES = [-3.0 + 0.25 * i for i in range(25)]


# --- the trainer's side -------------------------------------------------------------------------------


def _unit_map(rng: random.Random) -> list[float]:
    values = [rng.random() for _ in range(81)]
    top = max(values)
    return [v / top for v in values]


def _insight(game: Game, chosen: int, prev: int | None, value_black: float, rng: random.Random, blocks: int):
    """Insight of the real shape for `game`'s position: the chosen move and four other legal moves as
    the top-5 with real names, every map, value and phase (numbers are filler, see the docstring)."""
    others = [m for m in game.legal_moves() if m != chosen]
    picks = [chosen, *rng.sample(others, min(4, len(others)))]
    weights = sorted((rng.expovariate(1.0) for _ in picks), reverse=True)
    mass = rng.uniform(0.3, 0.95) / sum(weights)
    top = [{**names(game, m, prev), "prob": w * mass} for m, w in zip(picks, weights, strict=True)]
    policy = [rng.random() for _ in range(81)]
    total = sum(policy)
    black = game.turn == BLACK
    ply = game.ply
    return {
        "top": top,
        "value": value_black if black else -value_black,
        "black_win": (value_black + 1.0) / 2.0,
        "maps": {
            "se_attention": [_unit_map(rng) for _ in range(blocks)],
            "se_attention_mean": _unit_map(rng),
            "activation": [_unit_map(rng) for _ in range(blocks)],
            "saliency": _unit_map(rng),
            "policy_mass": [p / total for p in policy],
        },
        "phase": "opening" if ply < 40 else "middlegame" if ply < 120 else "endgame",
        "think_ms": rng.uniform(3.0, 40.0),
    }


def _metrics(update: int, rng: random.Random) -> dict:
    values = {key: rng.uniform(0.0, 1.0) for key in METRIC_KEYS}
    values["ppo/approx_kl"] = rng.uniform(0.002, 0.07)  # crosses both colour thresholds
    values["losses/entropy"] = max(0.2, 4.0 - update * 0.0005 + rng.uniform(-0.05, 0.05))
    values["perf/samples"] = float(2048 * update)
    samples = 2048

    def hist() -> dict:
        cuts = sorted(rng.randrange(samples + 1) for _ in range(23))
        counts = [b - a for a, b in zip([0, *cuts], [*cuts, samples], strict=True)]
        return {"edges": HIST_EDGES, "counts": counts}

    histograms = {"adv/hist_raw": hist(), "adv/hist_norm": hist()}
    return {"update": update, "samples": 2048 * update, "values": values, "histograms": histograms}


def stream(moves: int, metrics: int, *, blocks: int, seed: int) -> list[tuple[str, dict]]:
    """The trainer's messages after `hello`: `moves` legal moves of random showcase games, each game
    opened by game_start and closed by game_end (the last one stays open), interleaved evenly with
    `metrics` updates."""
    rng = random.Random(seed)
    out: list[tuple[str, dict]] = []
    total = moves + metrics
    game: Game | None = None
    game_id = ""
    games = update = 0
    value_black = 0.0
    for i in range(total):
        if (i + 1) * moves // total == i * moves // total:
            update += 1
            out.append(("metrics", _metrics(update, rng)))
            continue
        if game is None or game.is_over:
            if game is not None:
                end = {"game_id": game_id, "result": game.outcome.result, "reason": game.outcome.reason,
                       "plies": game.ply, "final_sfen": game.sfen(), "kif": to_kif(game)}  # fmt: skip
                out.append(("game_end", end))
            games += 1
            game, game_id, value_black = Game(), f"bench-{games}", 0.0
            start = {"game_id": game_id, "kind": "showcase", "start_sfen": game.sfen(), "black": "bench",
                     "white": "bench", "weights_version": 1}  # fmt: skip
            out.append(("game_start", start))
        move = rng.choice(game.legal_moves())
        before, prev = game.sfen(), (game.moves[-1] if game.moves else None)
        value_black = max(-0.98, min(0.98, value_black + rng.gauss(0.0, 0.05)))
        insight = _insight(game, move, prev, value_black, rng, blocks)
        named = names(game, move, prev)
        game.push(move)
        out.append(
            (
                "move",
                {"game_id": game_id, "ply": game.ply, "sfen_before": before, "move": named,
                 "sfen_after": game.sfen(), "chosen_prob": insight["top"][0]["prob"], "weights_version": 1,
                 "insight": insight},
            )
        )  # fmt: skip
    return out


def _hello(blocks: int) -> dict:
    return {
        "protocol": PROTOCOL_VERSION, "run_id": "bench-overlay", "config": {}, "model": {"depth": blocks},
        "compile": {}, "device": "cpu", "update": 0, "reward": {}, "weights_version": 1,
    }  # fmt: skip


async def _control_viewer(
    port: int, counts: dict[str, int], ready: asyncio.Event, stop: asyncio.Event
) -> None:
    """A plain websocket viewer beside the page, counting what the server sends by type: when the page
    misses metrics and this viewer does not, the page (not the server) fell behind."""
    async with connect(f"ws://127.0.0.1:{port}/ws", proxy=None, max_size=2**22, compression=None) as ws:
        await ws.recv()  # snapshot
        ready.set()
        while not stop.is_set():
            try:
                text = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            t = text[6 : text.index('"', 6)]  # the hub writes {"t":"move",...
            counts[t] = counts.get(t, 0) + 1


async def _feed(port: int, texts: list[bytes], paced: list[bool], rate: float, out: dict, sent, done) -> None:
    """Send `texts` (hello first) on the trainer link, the paced ones `rate` per second, with a control
    viewer listening; set `sent` at the end and keep both open until `done` is set, so the page never
    sees the trainer leave mid-measurement."""
    out["control"] = {}
    ready, stop = asyncio.Event(), asyncio.Event()
    viewer = asyncio.create_task(_control_viewer(port, out["control"], ready, stop))
    await asyncio.wait_for(ready.wait(), 30)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    url = f"ws://127.0.0.1:{port}/ws/trainer"
    async with connect(url, additional_headers=headers, proxy=None, max_size=2**22, compression=None) as tr:
        await tr.send(texts[0], text=True)
        start = time.monotonic()
        k = 0
        late = 0.0
        for text, is_event in zip(texts[1:], paced[1:], strict=True):
            if is_event:
                delay = start + k / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                late = max(late, -delay)
                k += 1
            await tr.send(text, text=True)
        out["feed_s"] = time.monotonic() - start
        out["feeder_max_late_ms"] = late * 1000
        sent.set()
        await asyncio.to_thread(done.wait, 600)
    stop.set()
    await viewer


def _feeder(port: int, texts: list[bytes], paced: list[bool], rate: float, go, sent, done, results) -> None:
    """The scripted trainer and the control viewer in a process of their own: in the browser driver's
    interpreter the feed fell up to 100 ms behind its pace and then came in bursts."""
    if not go.wait(300):
        return
    out: dict = {}
    asyncio.run(_feed(port, texts, paced, rate, out, sent, done))
    results.put(out)


# --- the trace --------------------------------------------------------------------------------------


def _renderer_main(events: list[dict], url_part: str) -> tuple[int, int]:
    """(pid, tid) of the renderer main thread drawing the page whose URL contains `url_part`."""
    pid = None
    for e in events:
        if e["name"] == "TracingStartedInBrowser":
            for frame in e["args"]["data"].get("frames", []):
                if url_part in frame.get("url", "") and frame.get("processId"):
                    pid = frame["processId"]
    assert pid is not None, f"no frame with {url_part!r} in the trace"
    tids = [
        e["tid"]
        for e in events
        if e["name"] == "thread_name" and e["pid"] == pid and e["args"]["name"] == "CrRendererMain"
    ]
    assert len(tids) == 1, f"expected one CrRendererMain in renderer {pid}, found {tids}"
    return pid, tids[0]


def _tasks(events: list[dict], pid: int, tid: int, clock: str = "dur") -> list[dict]:
    """The thread's top-level tasks in order: start and duration (ms), the messages each dispatched
    (their listeners' time, ms), whether it drew a frame, and its outermost work by frame phase.
    `clock` is "dur" for wall time or "tdur" for the thread's CPU time (which leaves out the time
    the thread was preempted by other processes)."""
    main = sorted(
        (e for e in events if e["pid"] == pid and e["tid"] == tid and e.get("ph") in ("X", "I")),
        key=lambda e: (e["ts"], -e.get("dur", 0)),
    )
    tasks: list[dict] = []
    end = call_end = phase_end = -1
    for e in main:
        dur, spent = e.get("dur", 0), e.get(clock, 0) / 1000
        if e["name"] == "RunTask" and e["ph"] == "X" and e["ts"] >= end:
            end = e["ts"] + dur
            tasks.append(
                {
                    "ts": e["ts"] / 1000,
                    "dur": spent,
                    "wall": dur / 1000,
                    "messages": [],
                    "frame": False,
                    "phases": {},
                }
            )
            continue
        if not tasks or e["ts"] >= end:
            continue
        task = tasks[-1]
        if e["name"] == "WebSocketReceive":
            task["messages"].append(0.0)
        elif e["name"] == "FunctionCall" and task["messages"] and e["ts"] >= call_end:
            # The listeners a message runs (the counter's, then the page's) follow its receive mark.
            call_end = e["ts"] + dur
            task["messages"][-1] += spent
        if e["name"] in FRAME_MARKS:
            task["frame"] = True
        if e["name"] in PHASE_OF and e["ph"] == "X" and e["ts"] >= phase_end:
            phase_end = e["ts"] + dur
            key = PHASE_OF[e["name"]]
            task["phases"][key] = task["phases"].get(key, 0.0) + spent
    return tasks


def attribute(tasks: list[dict]) -> dict:
    """Charge each message its share of the main thread (see the module docstring). Returns the
    per-message costs in arrival order and the totals, all in milliseconds."""
    costs: list[float] = []
    pending: list[int] = []  # messages not drawn yet: indices into costs
    totals = {"message": 0.0, "frame": 0.0, "other": 0.0, "frame_without_messages": 0.0}
    phases = dict.fromkeys(FRAME_PHASES, 0.0)
    frame_durations: list[float] = []
    message_task_durations: list[float] = []
    mixed = idle_frames = 0
    for task in tasks:
        if task["messages"]:
            totals["message"] += task["dur"]
            message_task_durations.append(task["dur"])
            rest = max(0.0, task["dur"] - sum(task["messages"])) / len(task["messages"])
            for listeners in task["messages"]:
                pending.append(len(costs))
                costs.append(listeners + rest)
            mixed += task["frame"]  # a frame inside a message task is already in its messages' share
        elif task["frame"]:
            totals["frame"] += task["dur"]
            if pending:
                for i in pending:
                    costs[i] += task["dur"] / len(pending)
                pending = []
            else:
                totals["frame_without_messages"] += task["dur"]
                idle_frames += 1
        else:
            totals["other"] += task["dur"]
        if task["frame"]:
            frame_durations.append(task["dur"])
            for key, ms in task["phases"].items():
                phases[key] += ms
    busy = [t for t in tasks if t["messages"] or t["frame"]]
    span = (busy[-1]["ts"] + busy[-1]["wall"] - busy[0]["ts"]) if busy else 0.0
    return {
        "costs": costs,
        "totals": totals,
        "busy_ms": sum(t["dur"] for t in tasks),
        "span_ms": span,
        "phases": phases,
        "frame_durations": frame_durations,
        "message_task_durations": message_task_durations,
        "mixed_tasks": mixed,
        "frames_without_messages": idle_frames,
    }


def _by_type(costs: list[float], order: list[str]) -> tuple[list[float], dict[str, list[float]]]:
    """Per-event costs of the move and metrics messages (the page's arrival order names each traced
    message), and the same split by type; every traced message when the two counts differ."""
    by_type: dict[str, list[float]] = {"move": [], "metrics": []}
    if len(costs) != len(order):
        return costs, by_type
    for t, c in zip(order, costs, strict=True):
        if t in by_type:
            by_type[t].append(c)
    return by_type["move"] + by_type["metrics"], by_type


def top_functions(profile: dict, n: int = 8) -> tuple[list[tuple[str, float]], list[tuple[str, float]], dict]:
    """From a CDP `Profiler.stop` profile: the `n` JS functions with the most self time, the `n`
    functions with the most total time (self plus callees; the page's modules from static/js and its
    libraries from vendor/), each as ("name file:line", ms), and the time in the profiler's
    pseudo-nodes ((program) is the browser's native work: style, layout, paint, commit; (idle) is
    waiting)."""
    frames = {node["id"]: node["callFrame"] for node in profile["nodes"]}
    parent = {child: node["id"] for node in profile["nodes"] for child in node.get("children", ())}

    def label(node_id: int) -> str:
        frame = frames[node_id]
        path = urlsplit(frame["url"]).path.removeprefix("/static/js/").removeprefix("/vendor/")
        name = frame["functionName"] or "(anonymous)"
        return f"{name} {path}:{frame['lineNumber'] + 1}" if path else name

    own: dict[str, float] = {}
    total: dict[str, float] = {}
    pseudo: dict[str, float] = {}
    for node_id, delta_us in zip(profile["samples"], profile["timeDeltas"], strict=True):
        ms = delta_us / 1000
        name = label(node_id)
        if name.startswith("(") and not frames[node_id]["url"]:
            pseudo[name] = pseudo.get(name, 0.0) + ms
            continue
        own[name] = own.get(name, 0.0) + ms
        on_stack = set()
        while node_id is not None:
            if frames[node_id]["url"]:
                on_stack.add(label(node_id))
            node_id = parent.get(node_id)
        for name in on_stack:
            total[name] = total.get(name, 0.0) + ms

    def most(d: dict[str, float]) -> list[tuple[str, float]]:
        return sorted(d.items(), key=lambda kv: -kv[1])[:n]

    return most(own), most(total), pseudo


# --- the run ------------------------------------------------------------------------------------------


def _start_server(port: int, data: str) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--port", str(port), "--data-dir", data],
        env={**os.environ, "SHOWCASE_TRAINER_TOKEN": TOKEN},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError("the server did not start") from None
            time.sleep(0.1)


def _cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process so far (Linux /proc), or None where it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _heap_mb(cdp) -> float:
    """JS heap in use after a full garbage collection, in MiB."""
    cdp.send("HeapProfiler.collectGarbage")
    return cdp.send("Runtime.getHeapUsage")["usedSize"] / 2**20


def _performance(cdp) -> dict[str, float]:
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def _r(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


def _per(total: float, n: int) -> float | None:
    return round(total / n, 3) if n else None


def bench_overlay(
    moves: int, metrics: int, rate: float, *, blocks: int = 9, seed: int = 0, profile: bool = False
) -> dict:
    """Run the benchmark (see the module docstring) and return its figures as a flat dict. With
    `profile`, a sampling CPU profile of the page runs alongside and its top functions are added (the
    profiler slows the page, so timings of a profiled run are not comparable with a plain one)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(
            f"the overlay benchmark needs Debian's chromium at {CHROMIUM} (apt-get install chromium)"
        )
    built = time.monotonic()
    messages = [("hello", _hello(blocks)), *stream(moves, metrics, blocks=blocks, seed=seed)]
    texts = [dumps(make(t, d, seq=i)).encode() for i, (t, d) in enumerate(messages)]
    kinds = [t for t, _ in messages]
    del messages
    paced = [t in ("move", "metrics") for t in kinds]
    move_bytes = [len(x) for x, t in zip(texts, kinds, strict=True) if t == "move"]
    metrics_bytes = [len(x) for x, t in zip(texts, kinds, strict=True) if t == "metrics"]
    build_s = time.monotonic() - built

    port = _free_port()
    # Forked before the server, the browser and the driver's threads exist; the messages are shared.
    fork = multiprocessing.get_context("fork")
    go, sent, done = fork.Event(), fork.Event(), fork.Event()
    results = fork.Queue()
    feeder = fork.Process(
        target=_feeder, args=(port, texts, paced, rate, go, sent, done, results), daemon=True
    )
    feeder.start()
    feed: dict = {}
    events: list[dict] = []
    traced = threading.Event()
    errors: list[str] = []
    counts = "() => [window.__overlayBench.counts.move || 0, window.__overlayBench.counts.metrics || 0]"
    with tempfile.TemporaryDirectory() as data:
        server = _start_server(port, data)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=CHROMIUM,
                    headless=True,
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
                )
                version = browser.version
                page = browser.new_page(viewport=VIEWPORT)
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.add_init_script(COUNTER_SCRIPT)
                page.goto(f"http://127.0.0.1:{port}/overlay")
                page.wait_for_selector("sg-board")
                page.wait_for_function("() => (window.__overlayBench.counts.snapshot || 0) === 1")
                page.wait_for_timeout(1000)  # fonts and first frames settle
                cdp = page.context.new_cdp_session(page)
                cdp.send("Performance.enable")
                heap_before = _heap_mb(cdp)
                perf_before = _performance(cdp)
                cdp.on(
                    "Tracing.dataCollected",
                    lambda e: events.extend(x for x in e["value"] if x["name"] in KEPT),
                )
                cdp.on("Tracing.tracingComplete", lambda e: traced.set())
                cdp.send(
                    "Tracing.start",
                    {"traceConfig": {"includedCategories": TRACE_CATEGORIES}, "transferMode": "ReportEvents"},
                )
                if profile:
                    cdp.send("Profiler.enable")
                    cdp.send("Profiler.setSamplingInterval", {"interval": 200})  # microseconds
                    cdp.send("Profiler.start")
                mark = page.evaluate("() => window.__overlayBench.order.length")
                started = time.monotonic()
                go.set()
                # Wait for every move and metrics message, or, once everything is sent, for the counts
                # to stand still for 2 s: the hub conflates metrics for a viewer that fell behind.
                seen, still_since = [0, 0], time.monotonic()
                deadline = started + 3 * (moves + metrics) / rate + 60
                while time.monotonic() < deadline:
                    now = page.evaluate(counts)
                    if now == [moves, metrics]:
                        break
                    if now != seen:
                        seen, still_since = now, time.monotonic()
                    elif sent.is_set() and time.monotonic() - still_since > 2.0:
                        break
                    page.wait_for_timeout(250)
                arrived_s = time.monotonic() - started
                page.wait_for_timeout(300)  # the last frame
                cpu_profile = cdp.send("Profiler.stop")["profile"] if profile else None
                cdp.send("Tracing.end")
                while not traced.is_set():
                    page.wait_for_timeout(100)
                perf_after = _performance(cdp)
                heap_after = _heap_mb(cdp)
                page_seen = page.evaluate(
                    "() => ({counts: window.__overlayBench.counts, order: window.__overlayBench.order,"
                    " sent: window.__overlayBench.sent, opened: window.__overlayBench.opened})"
                )
                done.set()
                feed = results.get(timeout=60)
                browser.close()
        finally:
            done.set()
            feeder.join(30)
            if feeder.is_alive():
                feeder.terminate()
            server_cpu_s = _cpu_seconds(server.pid)
            server.terminate()
            server.wait(30)

    pid, tid = _renderer_main(events, "/overlay")
    split = attribute(_tasks(events, pid, tid, "dur"))
    cpu = attribute(_tasks(events, pid, tid, "tdur"))
    order = page_seen["order"][mark:]
    costs = split["costs"]
    aligned = len(costs) == len(order)
    per_event, by_type = _by_type(costs, order)
    per_event_cpu, _ = _by_type(cpu["costs"], order)
    got = page_seen["counts"]
    received = got.get("move", 0) + got.get("metrics", 0)
    frames = len(split["frame_durations"])
    p99 = _percentile(per_event, 0.99)
    p99_cpu = _percentile(per_event_cpu, 0.99)
    growth = heap_after - heap_before

    def cdp_ms(name: str) -> float:
        return (perf_after.get(name, 0.0) - perf_before.get(name, 0.0)) * 1000

    result = {
        "benchmark": "overlay",
        "page": f"/overlay {VIEWPORT['width']}x{VIEWPORT['height']}, headless Chromium {version}",
        "per_event_definition": "own message task share + share of the next frame task (see module doc)",
        "moves_sent": kinds.count("move"),
        "metrics_sent": kinds.count("metrics"),
        "games": kinds.count("game_start"),
        "blocks_per_move": blocks,
        "move_bytes_mean": round(statistics.fmean(move_bytes)),
        "metrics_bytes_mean": round(statistics.fmean(metrics_bytes)) if metrics_bytes else None,
        "rate_events_per_s": rate,
        "build_s": round(build_s, 2),
        "feed_s": _r(feed.get("feed_s"), 2),
        "feeder_max_late_ms": _r(feed.get("feeder_max_late_ms"), 1),
        "arrived_s": round(arrived_s, 2),
        "moves_received": got.get("move", 0),
        "metrics_received": got.get("metrics", 0),
        "metrics_conflated_by_hub": kinds.count("metrics") - got.get("metrics", 0),
        "every_event_arrived": got.get("move", 0) == moves and got.get("metrics", 0) == metrics,
        "control_viewer_moves_received": feed.get("control", {}).get("move", 0),
        "control_viewer_metrics_received": feed.get("control", {}).get("metrics", 0),
        "server_cpu_s": _r(server_cpu_s, 1),
        "page_got_all_the_server_sent": all(
            got.get(t, 0) == feed.get("control", {}).get(t, 0) for t in ("move", "metrics")
        ),
        "snapshots": got.get("snapshot", 0),
        "sockets_opened": page_seen["opened"],
        "resyncs_sent": page_seen["sent"],
        "page_errors": len(errors),
        "traced_messages": len(costs),
        "trace_aligned_with_page": aligned,
        "per_event_ms_p50": _r(_percentile(per_event, 0.5)),
        "per_event_ms_p99": _r(p99),
        "per_event_ms_max": _r(max(per_event, default=None)),
        "per_event_cpu_ms_p50": _r(_percentile(per_event_cpu, 0.5)),
        "per_event_cpu_ms_p99": _r(p99_cpu),
        "move_ms_p50": _r(_percentile(by_type["move"], 0.5)),
        "move_ms_p99": _r(_percentile(by_type["move"], 0.99)),
        "metrics_ms_p50": _r(_percentile(by_type["metrics"], 0.5)),
        "metrics_ms_p99": _r(_percentile(by_type["metrics"], 0.99)),
        "message_task_ms_p50": _r(_percentile(split["message_task_durations"], 0.5)),
        "message_task_ms_p99": _r(_percentile(split["message_task_durations"], 0.99)),
        "frames": frames,
        "events_per_frame": _per(len(costs), frames),
        "frame_task_ms_p50": _r(_percentile(split["frame_durations"], 0.5)),
        "frame_task_ms_p99": _r(_percentile(split["frame_durations"], 0.99)),
        "frame_task_ms_max": _r(max(split["frame_durations"], default=None)),
        "frame_task_cpu_ms_p50": _r(_percentile(cpu["frame_durations"], 0.5)),
        "frame_task_cpu_ms_p99": _r(_percentile(cpu["frame_durations"], 0.99)),
        **{f"frame_{key}_ms_mean": _per(ms, frames) for key, ms in split["phases"].items()},
        **{f"frame_{key}_cpu_ms_mean": _per(ms, frames) for key, ms in cpu["phases"].items()},
        "frames_inside_message_tasks": split["mixed_tasks"],
        "busy_ms_per_event": _per(split["busy_ms"], received),
        "busy_cpu_ms_per_event": _per(cpu["busy_ms"], received),
        "busy_share_of_feed": _r(split["busy_ms"] / split["span_ms"] if split["span_ms"] else None),
        "message_tasks_ms": round(split["totals"]["message"]),
        "frame_tasks_ms": round(split["totals"]["frame"]),
        "frames_without_new_messages": split["frames_without_messages"],
        "frame_tasks_without_new_messages_ms": round(split["totals"]["frame_without_messages"]),
        "other_tasks_ms": round(split["totals"]["other"]),
        "cdp_task_ms_per_event": _per(cdp_ms("TaskDuration"), received),
        "cdp_script_ms_per_event": _per(cdp_ms("ScriptDuration"), received),
        "cdp_style_ms_per_event": _per(cdp_ms("RecalcStyleDuration"), received),
        "cdp_layout_ms_per_event": _per(cdp_ms("LayoutDuration"), received),
        "heap_before_mb": round(heap_before, 2),
        "heap_after_mb": round(heap_after, 2),
        "heap_growth_mb": round(growth, 2),
        "target_p99_ms": TARGET_P99_MS,
        "target_heap_growth_mb": TARGET_HEAP_GROWTH_MB,
        "p99_met": p99 is not None and p99 <= TARGET_P99_MS,
        "p99_cpu_met": p99_cpu is not None and p99_cpu <= TARGET_P99_MS,
        "heap_met": growth <= TARGET_HEAP_GROWTH_MB,
    }
    if cpu_profile is not None:
        own, total, pseudo = top_functions(cpu_profile)
        sampled = sum(cpu_profile["timeDeltas"]) / 1000
        busy = sampled - pseudo.get("(idle)", 0.0)
        result["profile_sampled_ms"] = round(sampled)
        for name, ms in sorted(pseudo.items()):
            result[f"profile_{name.strip('()').replace(' ', '_')}_ms"] = round(ms)
        result["profile_js_ms"] = round(
            busy - pseudo.get("(program)", 0.0) - pseudo.get("(garbage collector)", 0.0)
        )
        for i, (name, ms) in enumerate(own, 1):
            result[f"profile_self_{i}"] = f"{name}: {ms:.0f} ms ({100 * ms / busy:.1f}% of busy)"
        for i, (name, ms) in enumerate(total, 1):
            result[f"profile_total_{i}"] = f"{name}: {ms:.0f} ms ({100 * ms / busy:.1f}% of busy)"
    return result
