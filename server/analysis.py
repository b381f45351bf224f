"""Live engine analysis of the showcase (torch-free): one analysis engine process, judged off the
event loop, the live game first and archived games after, results published when ready and stored
with their move. The showcase never waits for it.

Queues: the live queue keeps only the newest `analysis_live_backlog` positions (when the engine falls
behind a fast showcase, older positions are skipped and counted, so the analysis stays near the
board); the archive queue (games analysed on request) is bounded and served only when no live
position waits. An engine that fails is restarted at the next position; until one succeeds the pages
read "analysis unavailable" with the reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from dataclasses import dataclass

from server import store as st
from showcase_core.engines.judge import WinModel, judge_move
from showcase_core.engines.ladder import ANALYSIS_SPEC, NO_ENGINE, load_table
from showcase_core.engines.usi import Engine, EngineError, SearchResult, resolve_command
from showcase_core.protocol import Analysis, EngineState, MoveNames, now_ms
from showcase_core.shogi.game import Game, IllegalMoveError, SfenError
from showcase_core.shogi.notation import names, usi

log = logging.getLogger("server.analysis")


@dataclass
class Request:
    game_id: str | None  # None: only the root, for a held position
    ply: int
    sfen_before: str
    usi: str | None
    live: bool


ROOTS_KEPT = 8


class Analyst:
    def __init__(self, settings, *, hub, store, live, report_error):
        self.hub, self.store, self.live_state, self.report_error = hub, store, live, report_error
        updates = {"command": settings.analysis_engine, "go": {"nodes": settings.analysis_nodes}}
        self.spec = ANALYSIS_SPEC.model_copy(update=updates)
        self.search_dirs = tuple(settings.engine_dirs)
        self.enabled = settings.analysis_nodes > 0
        table = load_table()
        wm = table.get("win_model")
        self.model = WinModel(wm["k"], "ladder.json") if wm else None
        self.engine = Engine(self.spec, search_dirs=self.search_dirs)
        self.held: deque[Request] = deque(maxlen=2)  # positions held for a poll: searched first
        self.live: deque[Request] = deque(maxlen=settings.analysis_live_backlog)
        self.archive: deque[Request] = deque()
        self.archive_limit = settings.analysis_archive_limit
        self._wake = asyncio.Event()
        self.roots: OrderedDict[str, SearchResult] = OrderedDict()  # sfen -> the root search, newest last
        self.state = EngineState(available=False)
        self._check()

    def _check(self) -> None:
        if not self.enabled:
            self.state = EngineState(available=False, message="live analysis off (SHOWCASE_ANALYSIS_NODES=0)")
        elif resolve_command(self.spec.command, self.search_dirs) is None:
            self.state = EngineState(
                available=False,
                message=f"{NO_ENGINE} (or set SHOWCASE_ANALYSIS_ENGINE / SHOWCASE_ENGINE_DIRS)",
            )
        elif self.model is None:
            self.state = EngineState(
                available=False, message="no fitted winning-chance model: run python -m trainer bench ladder"
            )
        else:
            self.state = EngineState(
                available=True, engine=f"{self.spec.command}, nodes {self.spec.go['nodes']}"
            )

    # -- requests --
    def submit_move(self, move: dict) -> None:
        """A showcase move to judge (newest first; old live positions make way)."""
        if not self.state.available:
            return
        done = self.live_state.analyses.get(move["ply"])
        if (done and done["game_id"] == move["game_id"]) or any(
            (r.game_id, r.ply) == (move["game_id"], move["ply"]) for r in self.live
        ):
            return  # a move the trainer sent again (after a reconnect): judged once
        if len(self.live) == self.live.maxlen:
            self._count(skipped=1)
        self.live.append(
            Request(move["game_id"], move["ply"], move["sfen_before"], move["move"]["usi"], True)
        )
        self._wake.set()

    def submit_root(self, sfen: str) -> None:
        """Search a held position now, so the reveal can show the engine's choice beside chat's."""
        if self.state.available and sfen not in self.roots:
            self.held.append(Request(None, 0, sfen, None, True))
            self._wake.set()

    def best_for(self, sfen: str) -> MoveNames | None:
        """The engine's choice in `sfen` if it has searched it (None when not ready or not legal)."""
        root = self.roots.get(sfen)
        if root is None:
            return None
        game = Game(sfen)
        move = next((m for m in game.legal_moves() if usi(m) == root.bestmove), None)
        return MoveNames(**names(game, move)) if move else None

    def label(self) -> str:
        """The engine's name and limit, or why there is no analysis."""
        if not self.state.available:
            return self.state.message or "analysis unavailable"
        return f"{self.engine.engine_name or self.spec.command}, nodes {self.spec.go['nodes']}"

    def submit_game(self, game: dict) -> int:
        """Queue an archived game's moves (those without analysis); returns how many were queued."""
        if not self.state.available:
            raise RuntimeError(self.state.message or "analysis unavailable")
        queued = {(r.game_id, r.ply) for r in self.archive}
        todo = [m for m in game["moves"] if not m.get("analysis") and (game["id"], m["ply"]) not in queued]
        if len(self.archive) + len(todo) > self.archive_limit:
            raise OverflowError(f"the archive queue holds at most {self.archive_limit} moves")
        for m in todo:
            self.archive.append(Request(game["id"], m["ply"], m["sfen_before"], m["usi"], False))
        self._count()
        self._wake.set()
        return len(todo)

    def _count(self, **add: int) -> None:
        d = self.state.model_dump()
        for k, v in add.items():
            d[k] += v
        d["queued_archive"] = len(self.archive)
        self.state = EngineState(**d)

    # -- the worker --
    async def run(self) -> None:
        while True:
            queue = next((q for q in (self.held, self.live, self.archive) if q), None)
            if queue is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            req = queue.popleft()
            try:
                if req.usi is None:
                    await asyncio.to_thread(self._root, req.sfen_before)
                    continue
                analysis = await asyncio.to_thread(self._judge, req)
            except EngineError as exc:
                log.warning("analysis failed: %s", exc)
                self._count(failed=1)
                self.state = EngineState(
                    **{**self.state.model_dump(), "message": f"analysis unavailable: {exc.reason}"}
                )
                self.hub.publish("engine_state", self.state.model_dump(), now_ms())
                continue
            except (IllegalMoveError, SfenError, ValueError) as exc:
                log.warning("analysis refused %s ply %s: %s", req.game_id, req.ply, exc)
                self._count(failed=1)
                continue
            had_message = self.state.message is not None
            self._count(analysed=1)
            d = analysis.model_dump(mode="json")
            try:
                await self.store.write(lambda c, d=d: st.set_analysis(c, analysis=d))
            except Exception as exc:  # shown in /healthz; the viewers still get it
                self.report_error(f"store analysis: {exc!r}")
            if req.live:
                self.live_state.add_analysis(d)
                self.hub.publish("analysis", d, now_ms())
            if had_message:
                self.state = EngineState(**{**self.state.model_dump(), "message": None})
                self.hub.publish("engine_state", self.state.model_dump(), now_ms())

    def _root(self, sfen: str) -> SearchResult:
        root = self.roots.get(sfen)
        if root is None:
            root = self.engine.search(sfen, [])
            self.roots[sfen] = root
            while len(self.roots) > ROOTS_KEPT:
                self.roots.popitem(last=False)
        return root

    def _judge(self, req: Request) -> Analysis:
        game = Game(req.sfen_before)
        played = next((m for m in game.legal_moves() if usi(m) == req.usi), None)
        if played is None:
            raise IllegalMoveError(f"{req.usi} is not legal in {req.sfen_before}")
        j = judge_move(
            self.engine,
            req.sfen_before,
            [],
            req.usi,
            black_to_move=game.turn == 0,
            model=self.model,
            root=self._root(req.sfen_before),
        )
        best_move = next((m for m in game.legal_moves() if usi(m) == j.best_usi), None)
        if best_move is None:  # 'resign', 'win' or an illegal move: nothing to show as the engine's move
            raise EngineError(f"the analysis engine answered {j.best_usi!r}, not a legal move")
        name = self.engine.engine_name or self.spec.command

        def score(s):
            return s.as_dict() if s is not None else None

        return Analysis(
            game_id=req.game_id,
            ply=req.ply,
            engine=f"{name}, nodes {self.spec.go['nodes']}",
            played=MoveNames(**names(game, played)),
            best=MoveNames(**names(game, best_move)),
            pv=j.best_pv[:16],
            best_score=score(j.best_score),
            played_score=score(j.played_score),
            black_chance_before=j.black_chance_before,
            black_chance_after=j.black_chance_after,
            loss=round(j.loss, 2),
            label=j.label,
            accuracy=None if j.accuracy != j.accuracy else round(j.accuracy, 1),
            nodes=j.nodes,
            elapsed_ms=int(j.elapsed_s * 1000),
        )

    def close(self) -> None:
        self.engine.close()
