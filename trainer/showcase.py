"""The showcase: one human-paced game at a time, played by the newest weights, in its own thread.

The trainer copies its weights in after every PPO update (`update_weights`), each copy with a new
version that every published move carries. Moves come one per `interval_s` (slow / normal / fast or
exact seconds), sampled at `temperature` from the same forward pass that produced the move's insight.

Controls (from the server's `control` messages or the trainer): pause, resume, step (one move while
paused), speed, predict_hold (stop before the next move, compute it and its insight, publish them as
`pending_move` for the server to keep secret), release (play exactly the held move) and plan (a
strategy poll's choice for the next game: forced opening moves and/or a sampling temperature).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
import uuid
from collections.abc import Callable

import torch

from showcase_core.engines.play import FORFEIT, VOID
from showcase_core.protocol import (
    Control,
    GameEnd,
    GameStart,
    Match,
    Move,
    MoveNames,
    Payload,
    PendingMove,
    Plan,
)
from showcase_core.shogi.actions import action_to_move, move_to_action
from showcase_core.shogi.castles import style_payload
from showcase_core.shogi.game import DEFAULT_MAX_PLIES, Game
from showcase_core.shogi.notation import names
from showcase_core.shogi.records import ILLEGAL_MOVE, RESIGN, to_kif
from trainer.insight import analyse
from trainer.model import ActorCriticBase

# A match game the engine ended on its turn: how its KIF says so (the reason sent in game_end -> records).
_DECIDED = {"resignation": RESIGN, "illegal_move": ILLEGAL_MOVE}

log = logging.getLogger("trainer.showcase")

SPEEDS = {"slow": 4.0, "normal": 2.0, "fast": 0.75}

Emit = Callable[[str, Payload], None]


class Showcase:
    def __init__(
        self,
        model: ActorCriticBase,
        emit: Emit,
        *,
        interval_s: float = SPEEDS["normal"],
        temperature: float = 0.5,
        max_plies: int = DEFAULT_MAX_PLIES,
        seed: int = 0,
        name: str = "Shogi Showcase AI",
        potential: float = 0.0,
        material_cap: float = 0.0,
        opponents=None,
        elo_now: Callable[[], float | None] = lambda: None,
    ):
        self.model = copy.deepcopy(model).eval().requires_grad_(False)  # saliency needs only the input
        self.opponents = opponents  # trainer.matches.Opponents: whom a plan's match may name
        self.elo_now = elo_now  # the AI's ladder Elo at its latest evaluation, for the scorecard
        self.matches_played = 0
        self._seed = seed
        self.emit = emit
        self.interval_s = interval_s
        self.temperature = temperature
        self.max_plies = max_plies
        self.name = name
        self.potential = potential  # added to the value head's output: see trainer.insight.analyse
        self.material_cap = material_cap
        self.weights_version = 0
        self.games_played = 0
        self._generator = torch.Generator().manual_seed(seed)
        self._cond = threading.Condition()
        self._paused = False
        self._steps = 0
        self._hold_requested: str | None = None  # poll id asking for a hold
        self._held: tuple[int, PendingMove] | None = None  # (move, what was published)
        self._release: str | None = None
        self._plan: Plan | None = None  # for the next game
        self._stopping = False
        self._weights_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.game: Game | None = None
        self.game_id: str | None = None
        self._published: list[tuple[str, Payload]] = []  # this game's game_start and moves, for a replay
        self._published_lock = threading.Lock()
        self.error: BaseException | None = None

    # -- controls (any thread) --------------------------------------------------------------------------
    @property
    def state(self) -> str:
        if self._stopping:
            return "stopped"
        if self._held is not None:
            return "held"
        return "paused" if self._paused else "playing"

    def update_weights(self, state_dict: dict, version: int | None = None) -> int:
        """Copy new weights in (the next move uses them); returns the new version."""
        with self._weights_lock:
            self.model.load_state_dict(state_dict)
            self.weights_version = self.weights_version + 1 if version is None else version
            return self.weights_version

    def pause(self) -> None:
        self._set(_paused=True)

    def resume(self) -> None:
        self._set(_paused=False)

    def step(self) -> None:
        with self._cond:
            self._steps += 1
            self._cond.notify_all()

    def set_speed(self, speed: float | str) -> None:
        seconds = SPEEDS[speed] if isinstance(speed, str) else float(speed)
        if not 0 < seconds <= 600:
            raise ValueError(f"speed must be in (0, 600] seconds per move, got {seconds}")
        self._set(interval_s=seconds)

    def predict_hold(self, poll_id: str) -> None:
        self._set(_hold_requested=poll_id)

    def release(self, poll_id: str | None = None) -> None:
        """Play the held move (or drop a hold not yet taken). `poll_id` must name the poll that holds;
        None releases whatever is held. A release for another poll is ignored: a late one must never
        play a move that a newer poll is still voting on."""
        with self._cond:
            if self._held is not None:
                if poll_id is None or poll_id == self._held[1].poll_id:
                    self._release = poll_id or ""
            elif self._hold_requested is not None and poll_id in (None, self._hold_requested):
                self._hold_requested = None  # cancelled before the hold was taken
            self._cond.notify_all()

    def set_temperature(self, temperature: float) -> None:
        """The sampling temperature of the games after this one (a plan's own still wins)."""
        self._set(temperature=float(temperature))

    def set_plan(self, plan: Plan) -> None:
        """Apply `plan` to the next game (a later plan replaces one not yet used)."""
        self._set(_plan=plan)

    def handle(self, control: Control) -> None:
        """Apply a protocol `control` message."""
        if control.action == "pause":
            self.pause()
        elif control.action == "resume":
            self.resume()
        elif control.action == "step":
            self.step()
        elif control.action == "speed" and control.seconds is not None:
            self.set_speed(control.seconds)
        elif control.action == "predict_hold":
            self.predict_hold(control.poll_id or "")
        elif control.action == "release":
            self.release(control.poll_id)
        elif control.action == "plan" and control.plan is not None:
            self.set_plan(control.plan)

    def _set(self, **fields) -> None:
        with self._cond:
            for key, value in fields.items():
                setattr(self, key, value)
            self._cond.notify_all()

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> Showcase:
        assert self._thread is None, "showcase already started"
        self._thread = threading.Thread(target=self._run, name="showcase", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._set(_stopping=True)
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            torch.set_num_threads(1)  # one core at most: the trainer and the server need theirs
            while not self._stopping:
                self._play_one_game()
        except BaseException as exc:  # surfaced through .error and the log, never silent
            self.error = exc
            log.exception("showcase stopped by an error")

    # -- the game ------------------------------------------------------------------------------------
    def current_game_messages(self) -> list[tuple[str, Payload]]:
        """The running game's game_start and moves so far (for a server that just (re)connected)."""
        with self._published_lock:
            return list(self._published)

    def _publish(self, t: str, payload: Payload) -> None:
        with self._published_lock:
            if t == "game_start":
                self._published = [(t, payload)]
            elif t == "move":
                self._published.append((t, payload))
            elif t == "game_end":
                self._published = []
        self.emit(t, payload)

    def _open_match(self, plan: Plan | None, temperature: float):
        """(player, Match, label) for a plan that names an opponent; (None, None, label) otherwise, the
        label saying why a match could not be played (the AI then plays itself)."""
        label = plan.label if plan else None
        if plan is None or plan.opponent is None:
            return None, None, label
        from trainer.matches import OpponentUnavailable

        if self.opponents is None:
            return None, None, f"{plan.label}: not played (matches are off)"[:160]
        try:
            player = self.opponents.open(
                plan.opponent, temperature=temperature, seed=self._seed + self.matches_played
            )
        except OpponentUnavailable as exc:
            log.warning("match not played: %s", exc)
            return None, None, f"{plan.label}: not played ({exc})"[:160]
        agent = "black" if self.matches_played % 2 == 0 else "white"  # colours alternate match by match
        self.matches_played += 1
        match = Match(
            opponent=plan.opponent, opponent_name=player.name[:120], agent=agent,
            agent_elo=self.elo_now(), opponent_elo=player.elo,
        )  # fmt: skip
        return player, match, label

    def _play_one_game(self) -> None:
        self.game = game = Game(max_plies=self.max_plies)
        self.game_id = game_id = uuid.uuid4().hex[:16]
        with self._cond:
            plan, self._plan = self._plan, None
        temperature = self.temperature if plan is None or plan.temperature is None else plan.temperature
        forced = list(plan.opening) if plan else []
        player, match, label = self._open_match(plan, temperature)
        try:
            self._play_game(game, game_id, player, match, label, temperature, forced)
        finally:  # an engine opponent's process ends with its game, whatever happens
            if player is not None:
                player.close()

    def _play_game(self, game, game_id, player, match, label, temperature, forced) -> None:
        opponent_colour = None if match is None else (1 if match.agent == "black" else 0)  # cshogi: WHITE 1
        black = player.name if opponent_colour == 0 else self.name
        white = player.name if opponent_colour == 1 else self.name
        self._publish(
            "game_start",
            GameStart(
                game_id=game_id,
                kind="showcase",
                start_sfen=game.sfen(),
                black=black[:200],
                white=white[:200],
                weights_version=self.weights_version,
                plan=label,
                match=match,
            ),
        )
        ended: tuple[str, str] | None = None  # (result, reason) when the opponent gave no move
        last = time.monotonic() - self.interval_s
        while not game.is_over:
            opponents_turn = opponent_colour is not None and game.turn == opponent_colour
            # A prediction hold is for the AI's move: the opponent keeps to the pause and the pace.
            if not self._wait_turn(last, hold=not opponents_turn):
                return
            force = self._forced_move(game, forced)
            if opponents_turn:
                move = force if force is not None else player.move(game)
                if move is None:
                    ai = "black" if opponent_colour == 1 else "white"
                    if player.code == VOID:  # the engine died or hung: not a result. The server
                        # closes the game as interrupted when the next one starts; never scored.
                        log.warning("match game %s void: %s", game_id, player.why)
                        self.games_played += 1
                        return
                    ended = (ai, "illegal_move" if player.code == FORFEIT else "resignation")
                    log.info("match game %s: %s", game_id, player.why)
                    break
                self._play_opponent(game, game_id, move)
            elif self._hold_requested is not None:
                if not self._hold_and_release(game, game_id, temperature, force):
                    return
            else:
                move, payload = self._think(game, game_id, temperature, force)
                self._play(game, move, payload)
            last = time.monotonic()
        self.games_played += 1
        result, reason = ended if ended is not None else (game.outcome.result, game.outcome.reason)
        self._publish(
            "game_end",
            GameEnd(
                game_id=game_id,
                result=result,
                reason=reason,
                plies=game.ply,
                final_sfen=game.sfen(),
                kif=to_kif(game, black=black, white=white, decided=_DECIDED.get(reason) if ended else None),
            ),
        )

    def _play_opponent(self, game: Game, game_id: str, move: int) -> None:
        """A match opponent's move: published without insight (it is not the AI's choice)."""
        before, prev = game.sfen(), (game.moves[-1] if game.moves else None)
        named = MoveNames(**names(game, move, prev))
        game.push(move)
        after = game.sfen()
        self._publish(
            "move",
            Move(
                game_id=game_id, ply=game.ply, sfen_before=before, move=named, sfen_after=after,
                chosen_prob=None, weights_version=self.weights_version, style=style_payload(after),
            ),
        )  # fmt: skip

    def _wait_turn(self, last: float, hold: bool = True) -> bool:
        """Block until a move is due: not paused (or a step asked for) and the interval passed, or
        (with `hold`) a hold was requested. Returns False when stopping."""
        with self._cond:
            while not self._stopping:
                if hold and self._hold_requested is not None:
                    return True
                if self._paused and self._steps:
                    self._steps -= 1
                    return True
                if not self._paused:
                    remaining = last + self.interval_s - time.monotonic()
                    if remaining <= 0:
                        return True
                    self._cond.wait(remaining)
                else:
                    self._cond.wait()
            return False

    @staticmethod
    def _forced_move(game: Game, forced: list[str]) -> int | None:
        """The plan's next opening move, while the game is still on the plan's line."""
        if not forced:
            return None
        usi = forced.pop(0)
        move = next((m for m, u in zip(game.legal_moves(), game.legal_usi(), strict=True) if u == usi), None)
        if move is None:  # validated at the server; a line that stops being legal just ends the plan
            log.warning("plan move %s is not legal at ply %d; the network plays on", usi, game.ply + 1)
            forced.clear()
        return move

    def _think(
        self, game: Game, game_id: str, temperature: float, force: int | None = None
    ) -> tuple[int, PendingMove]:
        with self._weights_lock:
            version = self.weights_version
            analysis = analyse(self.model, game, potential=self.potential, material_cap=self.material_cap)
        probs = analysis.probs
        if force is not None:  # the plan's move, with what the network thought of it
            action, move = move_to_action(force, game.turn), force
        else:
            if temperature <= 0:
                action = int(probs.argmax())
            else:
                tempered = torch.softmax(analysis.logits / temperature, dim=-1)
                action = int(torch.multinomial(tempered, 1, generator=self._generator))
            move = action_to_move(action, game)
        prev = game.moves[-1] if game.moves else None
        payload = PendingMove(
            game_id=game_id,
            ply=game.ply + 1,
            sfen_before=game.sfen(),
            move=MoveNames(**names(game, move, prev)),
            chosen_prob=float(probs[action]),
            weights_version=version,
            insight=analysis.insight,
            poll_id=self._hold_requested,
        )
        return move, payload

    def _play(self, game: Game, move: int, payload: PendingMove) -> None:
        game.push(move)
        after = game.sfen()
        self._publish(
            "move",
            Move(
                game_id=payload.game_id,
                ply=payload.ply,
                sfen_before=payload.sfen_before,
                move=payload.move,
                sfen_after=after,
                chosen_prob=payload.chosen_prob,
                weights_version=payload.weights_version,
                insight=payload.insight,
                style=style_payload(after),
            ),
        )

    def _hold_and_release(self, game: Game, game_id: str, temperature: float, force: int | None) -> bool:
        poll_id = self._hold_requested
        move, payload = self._think(game, game_id, temperature, force)
        with self._cond:
            holding = self._hold_requested is not None and self._hold_requested == poll_id
            if holding:
                self._held = (move, payload)
                self._release = None
        if not holding:  # the hold was cancelled while the move was being chosen: just play it
            self._play(game, move, payload)
            return True
        self.emit("pending_move", payload)
        with self._cond:
            while self._release is None and not self._stopping:
                self._cond.wait()
            if self._stopping:
                return False
            self._held = None
            if self._hold_requested == poll_id:  # a newer poll's request stays for the next move
                self._hold_requested = None
            self._release = None
        self._play(game, move, payload)
        return True
