"""The poll engine: pause-and-predict rounds and strategy polls, driven by chat, the streamer and the
trainer link. One poll at a time, a state machine:

    idle -> holding (predict only: waiting for the showcase's held move) -> open -> closed
         -> revealed (predict) -> idle          or -> idle (strategy: the winning plan applied)
    any state before the reveal -> idle on cancel (trainer gone, no votes, streamer): no points.

The held move (`pending_move`) lives only in this process until the reveal: it is never published,
never stored before the reveal, and never part of a snapshot. Votes are validated against the held
position (exactly one legal move, or the reason why not); one vote per user id, the last one counts.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Literal

from server import store as st
from server.chat import ChatMessage
from showcase_core.protocol import (
    ChatHighlight,
    Control,
    Leaderboard,
    LeaderboardEntry,
    MoveNames,
    Plan,
    PollChoice,
    PollClosed,
    PollOpen,
    PollReveal,
    PollTally,
    TopMove,
    now_ms,
)
from showcase_core.shogi.game import Game, SfenError
from showcase_core.shogi.notation import MoveParseError, names, parse_move
from showcase_core.shogi.openings import OPENINGS, TEMPERATURES

log = logging.getLogger("server.polls")

HELP = (
    "!predict <move> during a prediction round (7g7f, P-7f or ７六歩; a bare move works too), "
    "!vote <n> in a strategy poll, !score for your points, !top for the leaderboard"
)
MOD_HELP = "mods: !pause, !resume, !skip (cancel the poll), !predictround [seconds]"
COOLDOWN_COMMANDS = ("!help", "!commands", "!top")  # answers the whole channel reads
MOD_COMMANDS = ("!pause", "!resume", "!skip", "!predictround")


class PollError(Exception):
    """A streamer request that cannot be done now; `status` is the HTTP status that says so."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status


@dataclass
class Poll:
    id: str
    kind: Literal["predict", "strategy"]
    question: str
    window_s: float
    state: str = "holding"
    topic: str | None = None  # strategy: "opening", "temperature", "opponent" or "knob" (a challenge)
    knob: str | None = None  # a parameter challenge's knob; its choices carry {"knob", "value"}
    winner: dict | None = None  # a challenge's winning choice while it waits for the streamer
    choices: list[dict] = field(default_factory=list)  # strategy: {key, label, plan}
    opened_at: float = 0.0
    closes_at: float = 0.0
    sfen: str | None = None
    game_id: str | None = None
    ply: int | None = None
    votes: dict[str, tuple[str, str]] = field(default_factory=dict)  # user id -> (name, choice key)
    counts: dict[str, int] = field(default_factory=dict)  # choice key -> votes, kept with `votes`
    labels: dict[str, str] = field(default_factory=dict)  # choice key -> what the tally shows
    answered: set[str] = field(default_factory=set)  # users already told why a vote failed
    parsed: OrderedDict = field(default_factory=OrderedDict)  # text -> (usi, label) or error
    position: Game | None = None
    pending: dict | None = None  # the secret
    reveal: dict | None = None

    def public(self) -> PollOpen:
        return PollOpen(
            poll_id=self.id,
            kind=self.kind,
            question=self.question,
            closes_at_ms=int(self.closes_at * 1000),
            choices=[PollChoice(key=c["key"], label=c["label"], votes=0) for c in self.choices],
            sfen=self.sfen,
        )

    def vote(self, user_id: str, name: str, key: str) -> None:
        """Count `user_id` once: a new vote replaces the user's earlier one (O(1), however big chat is)."""
        old = self.votes.get(user_id)
        if old is not None:
            self.counts[old[1]] -= 1
        self.votes[user_id] = (name, key)
        self.counts[key] = self.counts.get(key, 0) + 1

    def tally(self, limit: int | None = 10) -> PollTally:
        counts: dict[str, int] = {c["key"]: 0 for c in self.choices}
        counts.update((k, v) for k, v in self.counts.items() if v or k in counts)
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        if self.kind == "strategy":  # every choice, in its own order
            ordered = sorted(counts.items(), key=lambda kv: int(kv[0]))
        return PollTally(
            poll_id=self.id,
            total_votes=len(self.votes),
            choices=[PollChoice(key=k, label=self.labels.get(k, k), votes=v) for k, v in ordered[:limit]],
        )


class UserLimiter:
    """At most `limit` chat commands per user in `window_s`; remembers a bounded number of users."""

    def __init__(self, limit: int, window_s: float, users: int = 10_000):
        self.limit, self.window_s, self.users = limit, window_s, users
        self.seen: OrderedDict[str, deque[float]] = OrderedDict()

    def allow(self, user_id: str, now: float) -> bool:
        times = self.seen.pop(user_id, None) or deque()
        while times and now - times[0] >= self.window_s:
            times.popleft()
        self.seen[user_id] = times
        if len(self.seen) > self.users:
            self.seen.popitem(last=False)
        if len(times) >= self.limit:
            return False
        times.append(now)
        return True


class PollEngine:
    def __init__(self, *, settings, store, hub, live, send_control, clock=time.time):
        self.settings = settings
        self.store = store
        self.hub = hub
        self.live = live
        self.send_control = send_control  # async (Control) -> bool: False when no trainer link
        self.clock = clock
        self.current: Poll | None = None
        self.leaderboard: list[dict] = []
        self.sources: list = []  # chat sources, for posting results
        self.analyst = None  # server.analysis.Analyst: the engine's choice for a held position
        self._timer: asyncio.Task | None = None
        self._limiter = UserLimiter(settings.chat_user_limit, settings.chat_user_window_s)
        self._ignore = {u.lower().lstrip("@") for u in settings.chat_ignore_users}
        self._last_answer: dict[str, float] = {}  # command -> when it was last answered (monotonic)
        self.ignored: dict[str, int] = {"shared_chat": 0, "ignored_user": 0, "rate_limited": 0,
                                        "cooldown": 0, "not_a_mod": 0}  # fmt: skip
        self._highlights: deque[float] = deque()
        self._moves_since_poll = 0
        self._release_on_hello = False

    # -- lifecycle ----------------------------------------------------------------------------------------
    async def start(self) -> None:
        cancelled = await self.store.write(lambda c: st.cancel_open_polls(c, reason="server restarted"))
        if cancelled:
            log.warning("closed %d poll(s) left open by the previous run as cancelled", cancelled)
        await self._refresh_leaderboard(publish=False)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    @property
    def state(self) -> str:
        return self.current.state if self.current else "idle"

    def snapshot_parts(self) -> dict:
        """The public poll state for a viewer's snapshot (never the held move)."""
        poll = self.current
        visible = poll is not None and poll.state in ("open", "closed", "revealed", "approval")
        return {
            "poll": poll.public().model_dump(mode="json") if visible else None,
            "tally": poll.tally().model_dump(mode="json") if visible else None,
            "reveal": poll.reveal if visible else None,
            "leaderboard": self._entries(),
        }

    # -- the streamer -------------------------------------------------------------------------------------
    async def open_predict(self, window_s: float | None = None) -> dict:
        self._check_can_open()
        if self.live.game is None:
            raise PollError("no showcase game is in progress to predict", 409)
        poll = Poll(
            id=uuid.uuid4().hex[:12],
            kind="predict",
            question="What will the AI play next?",
            window_s=window_s or self.settings.predict_window_s,
        )
        self.current = poll
        self._moves_since_poll = 0
        self._schedule(self.settings.hold_timeout_s, self._hold_timed_out, poll)  # before the hold can come
        if not await self.send_control(Control(action="predict_hold", poll_id=poll.id)):
            self._cancel_timer()
            self.current = None
            raise PollError("no trainer is connected", 503)
        return self.describe()

    def _opponent_plans(self) -> list[tuple[str, Plan]]:
        """ "Who does it play next?": its earliest and latest kept checkpoints and the engine rungs
        nearest its latest ladder Elo, from the opponents the trainer offers in its status."""
        offered = (self.live.status or {}).get("opponents", []) if self.live.trainer["connected"] else []
        past = [o for o in offered if o["id"].startswith("past:")]
        rungs = [o for o in offered if o["id"].startswith("rung:") and o.get("elo") is not None]
        elo_points = self.live.metrics.get("eval/ladder_elo") or []
        agent = next((v for _, v in reversed(elo_points) if v is not None), 0.0)
        picks = [past[0], past[-1]] if len(past) > 1 else past
        picks += sorted(rungs, key=lambda o: abs(o["elo"] - agent))[: 4 - len(picks)]
        if len(picks) < 2:
            raise PollError(
                "the trainer offers fewer than two match opponents yet (it lists them in its status)"
            )
        return [
            (o["name"][:60], Plan(label=f"match against {o['name']}"[:120], opponent=o["id"])) for o in picks
        ]

    async def open_strategy(
        self, topic: Literal["opening", "temperature", "opponent"], window_s: float | None = None
    ):
        self._check_can_open()
        if topic == "opening":
            question = "Which opening should the AI play next game?"
            plans = [(o.label, Plan(label=o.label, opening=list(o.moves))) for o in OPENINGS.values()]
        elif topic == "opponent":
            question = "Who does the AI play next?"
            plans = self._opponent_plans()
        else:
            question = "How adventurous should the AI be next game?"
            plans = [(label, Plan(label=label, temperature=t)) for label, t in TEMPERATURES.values()]
        choices = [
            {"key": str(i), "label": label, "plan": plan.model_dump(mode="json")}
            for i, (label, plan) in enumerate(plans[:5], start=1)
        ]
        poll = Poll(
            id=uuid.uuid4().hex[:12],
            kind="strategy",
            question=question,
            window_s=window_s or self.settings.strategy_window_s,
            topic=topic,
            choices=choices,
            labels={c["key"]: c["label"] for c in choices},
        )
        self.current = poll
        await self._open(poll)
        return self.describe()

    def _knob_choices(self, knob: str) -> tuple[dict, list[tuple[str, float]]]:
        """A challenge's choices for `knob`: keep it, or one of up to four values within the bounds the
        trainer's status names (halve, double, a quarter, four times; spread over the bounds from 0)."""
        offered = (self.live.status or {}).get("knobs", []) if self.live.trainer["connected"] else []
        spec = next((k for k in offered if k["name"] == knob), None)
        if spec is None:
            names = ", ".join(k["name"] for k in offered) or "none yet (the trainer lists them in its status)"
            raise PollError(f"the trainer offers no knob {knob!r} to challenge (knobs: {names})", 422)
        value, low, high = spec["value"], spec["low"], spec["high"]
        wanted = (
            [value * f for f in (0.5, 2.0, 0.25, 4.0)]
            if value > 0
            else [low + (high - low) * f for f in (0.1, 0.25, 0.5, 1.0)]
        )
        picks: list[float] = []
        for v in wanted:
            v = float(f"{v:.3g}")
            if low <= v <= high and v != value and v not in picks:
                picks.append(v)
        if not picks:
            raise PollError(
                f"{spec['label']} {value:g} has no other value within its bounds [{low:g}, {high:g}]", 422
            )
        options = [(f"keep {spec['label']} at {value:g}", value)]
        options += [
            (f"{spec['label']} {v:g} ({'up' if v > value else 'down'} from {value:g})", v)
            for v in sorted(picks)
        ]
        return spec, options

    async def open_challenge(self, knob: str, window_s: float | None = None) -> dict:
        """A parameter challenge: chat votes among bounded values of one learning knob; the result
        waits for the streamer's approval (or rejection) before it goes to the trainer."""
        self._check_can_open()
        spec, options = self._knob_choices(knob)
        choices = [
            {"key": str(i), "label": label[:120], "plan": {"knob": knob, "value": value}}
            for i, (label, value) in enumerate(options, start=1)
        ]
        poll = Poll(
            id=uuid.uuid4().hex[:12],
            kind="strategy",
            question=f"Chat's challenge: what should the AI's {spec['label']} be? (the streamer approves)",
            window_s=window_s or self.settings.strategy_window_s,
            topic="knob",
            knob=knob,
            choices=choices,
            labels={c["key"]: c["label"] for c in choices},
        )
        self.current = poll
        await self._open(poll)
        return self.describe()

    async def approve(self) -> dict:
        """The streamer accepts chat's choice: it goes to the trainer, applied at its next update."""
        poll = self._awaiting()
        choice = poll.winner
        change = choice["plan"]
        control = Control(
            action="knob",
            knob=change["knob"],
            value=change["value"],
            change_id=poll.id,
            source="chat challenge",
        )
        if not await self.send_control(control):
            raise PollError("no trainer is connected to apply it (the challenge still waits)", 503)
        self._cancel_timer()
        self.current = None
        poll.state = "applied"
        answer = {"key": choice["key"], "label": choice["label"], "plan": change}
        await self.store.write(lambda c: st.close_poll(c, poll_id=poll.id, outcome="applied", answer=answer))
        self._publish("poll_closed", PollClosed(poll_id=poll.id, outcome="applied", reason=choice["label"]))
        await self._say(f"Approved: {choice['label']}, from the AI's next training update.")
        return {"approved": poll.id, "change_id": poll.id, "knob": change["knob"], "value": change["value"]}

    async def reject(self, reason: str = "rejected by the streamer") -> dict:
        poll = self._awaiting()
        await self._cancel(poll, reason)
        await self._say(f"Not this time: {poll.winner['label']} was {reason}.")
        return {"rejected": poll.id, "reason": reason}

    def _awaiting(self) -> Poll:
        poll = self.current
        if poll is None or poll.state != "approval":
            raise PollError(f"no challenge is waiting for approval (state: {self.state})")
        return poll

    async def _approval_timed_out(self, poll: Poll) -> None:
        if self.current is poll and poll.state == "approval":
            await self.reject("not approved in time")

    async def close_now(self) -> dict:
        poll = self.current
        if poll is None or poll.state != "open":
            raise PollError(f"no poll is open for voting (state: {self.state})")
        try:
            await self._close(poll)
        except Exception as exc:
            log.exception("poll %s: closing failed", poll.id)
            await self._fail(poll)
            raise PollError(f"the poll could not be closed and was cancelled: {exc!r}", 500) from exc
        return self.describe()

    async def cancel(self, reason: str) -> dict:
        poll = self.current
        if poll is None or poll.state not in ("holding", "open", "approval"):
            raise PollError(f"no poll to cancel (state: {self.state})")
        await self._cancel(poll, reason)
        return {"cancelled": poll.id, "reason": reason}

    def describe(self) -> dict:
        poll = self.current
        if poll is None:
            return {"state": "idle"}
        return {
            "state": poll.state,
            "poll_id": poll.id,
            "kind": poll.kind,
            "question": poll.question,
            "closes_at_ms": int(poll.closes_at * 1000) if poll.closes_at else None,
            "total_votes": len(poll.votes),
            "choices": [{"key": c["key"], "label": c["label"]} for c in poll.choices or []],
            "topic": poll.topic,
            "knob": poll.knob,
            "winner": {"key": poll.winner["key"], "label": poll.winner["label"]} if poll.winner else None,
            "approve_by_ms": int(poll.closes_at * 1000) if poll.state == "approval" else None,
        }

    def _check_can_open(self) -> None:
        if self.current is not None:
            raise PollError(f"a poll is already running ({self.current.kind}, {self.current.state})")
        if not self.live.trainer["connected"]:
            raise PollError("no trainer is connected", 503)

    # -- the trainer link ---------------------------------------------------------------------------------
    async def on_trainer_message(self, t: str, d: dict) -> None:
        poll = self.current
        if t == "pending_move":
            await self._on_pending(d)
        elif t == "status" and d["showcase"] == "held" and poll is None:
            # Held with no poll to wait for (a server restart, a lost release): let the game go on.
            await self.send_control(Control(action="release"))
        elif (
            t == "move"
            and poll is not None
            and poll.state in ("open", "closed")
            and (d["game_id"], d["ply"]) == (poll.game_id, poll.ply)
        ):  # the held move was played before the reveal: the round is void
            await self._cancel(poll, "the showcase played its move before the reveal")
        elif t == "move" and self.live.game is not None and d["game_id"] == self.live.game["game_id"]:
            every = self.settings.predict_every_moves
            self._moves_since_poll += 1
            if every and self._moves_since_poll >= every and self.current is None:
                try:
                    await self.open_predict()
                except PollError as exc:
                    log.info("scheduled predict round not opened: %s", exc)

    async def on_trainer_hello(self) -> None:
        if self._release_on_hello:  # a showcase may still be held by a poll that was cancelled
            self._release_on_hello = False
            await self.send_control(Control(action="release"))

    async def on_trainer_gone(self) -> None:
        poll = self.current
        # Once voting has closed the result stands: the reveal goes on and the release waits for hello.
        if poll is not None and poll.state in ("holding", "open"):
            await self._cancel(poll, "the trainer disconnected")
            self._release_on_hello |= poll.kind == "predict"

    async def _on_pending(self, d: dict) -> None:
        poll = self.current
        if poll is None or poll.kind != "predict" or poll.state != "holding" or d.get("poll_id") != poll.id:
            # Nobody is waiting for this hold (a cancelled or unknown poll): let the game go on.
            log.info("releasing a hold no open poll asked for (%s)", d.get("poll_id"))
            await self.send_control(Control(action="release", poll_id=d.get("poll_id")))
            return
        poll.pending = d
        poll.sfen, poll.game_id, poll.ply = d["sfen_before"], d["game_id"], d["ply"]
        poll.position = self._position(d)
        if self.analyst is not None:
            self.analyst.submit_root(d["sfen_before"])  # its choice is shown beside chat's at the reveal
        await self._open(poll)

    def _position(self, pending: dict) -> Game:
        """The held position, with the previous move when we know it (so 同歩 reads right)."""
        moves = self.live.moves
        if moves and moves[-1]["sfen_after"] == pending["sfen_before"]:
            try:
                game = Game(moves[-1]["sfen_before"])
                game.push_usi(moves[-1]["move"]["usi"])
                return game
            except (SfenError, ValueError):
                pass
        return Game(pending["sfen_before"])

    # -- transitions --------------------------------------------------------------------------------------
    async def _open(self, poll: Poll) -> None:
        now = self.clock()
        poll.state = "open"
        poll.opened_at = now
        poll.closes_at = now + poll.window_s + self.settings.stream_delay_s
        row = {
            "id": poll.id,
            "kind": poll.kind,
            "question": poll.question,
            "game_id": poll.game_id,
            "ply": poll.ply,
            "sfen": poll.sfen,
            "choices": [{"key": c["key"], "label": c["label"]} for c in poll.choices] or None,
            "opened_at": poll.opened_at,
            "closes_at": poll.closes_at,
        }
        await self.store.write(lambda c: st.open_poll(c, poll=row))
        if self.current is not poll or poll.state != "open":  # cancelled while the row was written
            await self.store.write(
                lambda c: st.close_poll(
                    c, poll_id=poll.id, outcome="cancelled", reason="cancelled while opening"
                )
            )
            return
        self._publish("poll_open", poll.public())
        self._publish("poll_tally", poll.tally())
        self._schedule(poll.closes_at - now, self._close, poll)
        if poll.kind == "predict":
            await self._say(f"Prediction round: what will the AI play? {HELP.split(',')[0]}")
        else:
            options = " | ".join(f"{c['key']}: {c['label']}" for c in poll.choices)
            await self._say(f"{poll.question} !vote {options}")

    async def _close(self, poll: Poll) -> None:
        if self.current is not poll or poll.state != "open":
            return
        poll.state = "closed"
        self._cancel_timer()
        if poll.kind == "predict":
            await self._reveal(poll)
        else:
            await self._apply(poll)

    async def _reveal(self, poll: Poll) -> None:
        pending = poll.pending
        assert pending is not None, "a predict poll is open only once its move is held"
        answer = pending["move"]["usi"]
        top = pending["insight"]["top"]
        top5 = {m["usi"] for m in top[:5]}
        results, winners = [], []
        for user_id, (name, usi) in poll.votes.items():
            exact = usi == answer
            points = self.settings.points_exact if exact else self.settings.points_top5 if usi in top5 else 0
            results.append({"user_id": user_id, "display_name": name, "points": points, "exact": exact})
            if exact:
                winners.append(name)
        tally = poll.tally(limit=None)  # every move chat voted for, so each of the AI's top-5 has its share
        reveal = PollReveal(
            poll_id=poll.id,
            answer=MoveNames(**pending["move"]),
            ai_top=[TopMove(**m) for m in top[:5]],
            choices=tally.choices,
            winners=sorted(winners)[:20],
            engine_move=self.analyst.best_for(pending["sfen_before"]) if self.analyst else None,
            engine=self.analyst.label() if self.analyst else None,
        )
        stored = {"move": pending["move"], "ai_top": top[:5], "chosen_prob": pending["chosen_prob"]}

        def write(c):
            st.award(c, results=results)
            st.close_poll(c, poll_id=poll.id, outcome="revealed", answer=stored)

        await self.store.write(write)
        poll.state = "revealed"
        poll.reveal = reveal.model_dump(mode="json")
        self._publish("poll_reveal", reveal)
        await self._refresh_leaderboard(publish=True)
        if not await self.send_control(Control(action="release", poll_id=poll.id)):
            self._release_on_hello = True
        await self._say(self._summary(poll, pending, winners))
        self._schedule(self.settings.reveal_s, self._finish, poll)

    async def _apply(self, poll: Poll) -> None:
        tally = poll.tally()
        if not poll.votes:
            await self._cancel(poll, "no votes")
            return
        # Most votes wins; a tie goes to the lower-numbered choice.
        best = max(tally.choices, key=lambda c: (c.votes, -int(c.key)))
        choice = next(c for c in poll.choices if c["key"] == best.key)
        if poll.topic == "knob":  # a challenge: the streamer has the last word
            poll.state, poll.winner = "approval", choice
            poll.closes_at = self.clock() + self.settings.challenge_approval_s
            poll.reveal = PollReveal(poll_id=poll.id, choices=tally.choices).model_dump(mode="json")
            self._publish("poll_reveal", PollReveal(poll_id=poll.id, choices=tally.choices))
            self._publish(
                "poll_closed",
                PollClosed(poll_id=poll.id, outcome="awaiting_approval", reason=choice["label"]),
            )
            self._schedule(self.settings.challenge_approval_s, self._approval_timed_out, poll)
            await self._say(
                f"Chat chose: {choice['label']} ({best.votes} of {tally.total_votes} votes); "
                "waiting for the streamer's approval."
            )
            return
        plan = Plan.model_validate(choice["plan"])
        if not await self.send_control(Control(action="plan", poll_id=poll.id, plan=plan)):
            await self._cancel(poll, "no trainer is connected to apply the result")
            return
        answer = {"key": choice["key"], "label": choice["label"], "plan": choice["plan"]}
        await self.store.write(lambda c: st.close_poll(c, poll_id=poll.id, outcome="applied", answer=answer))
        poll.reveal = PollReveal(poll_id=poll.id, choices=tally.choices).model_dump(mode="json")
        self._publish("poll_reveal", PollReveal(poll_id=poll.id, choices=tally.choices))
        self._publish("poll_closed", PollClosed(poll_id=poll.id, outcome="applied", reason=choice["label"]))
        self.current = None
        await self._say(
            f"Chat chose: {choice['label']} ({best.votes} of {tally.total_votes} votes), next game."
        )

    async def _finish(self, poll: Poll) -> None:
        if self.current is poll:
            self.current = None
            self._publish("poll_closed", PollClosed(poll_id=poll.id, outcome="revealed"))

    async def _cancel(self, poll: Poll, reason: str) -> None:
        self._cancel_timer()
        if self.current is poll:
            self.current = None
        if poll.state != "holding" or poll.opened_at:
            await self.store.write(
                lambda c: st.close_poll(c, poll_id=poll.id, outcome="cancelled", reason=reason)
            )
        if poll.kind == "predict" and poll.state in ("holding", "open", "closed"):
            await self.send_control(Control(action="release", poll_id=poll.id))
        poll.state = "cancelled"
        self._publish("poll_closed", PollClosed(poll_id=poll.id, outcome="cancelled", reason=reason))
        log.info("poll %s cancelled: %s", poll.id, reason)

    async def _fail(self, poll: Poll) -> None:
        """After an error mid-transition: no poll stuck open, no showcase stuck held, no points."""
        was_current = self.current is poll
        if was_current:
            self.current = None
        self._cancel_timer()
        if poll.kind == "predict" and not await self.send_control(Control(action="release", poll_id=poll.id)):
            self._release_on_hello = True
        try:
            await self.store.write(
                lambda c: st.close_poll(c, poll_id=poll.id, outcome="cancelled", reason="internal error")
            )
        except Exception:
            log.exception("poll %s: could not record the cancel", poll.id)
        poll.state = "cancelled"
        if was_current:
            self._publish(
                "poll_closed", PollClosed(poll_id=poll.id, outcome="cancelled", reason="internal error")
            )

    async def _hold_timed_out(self, poll: Poll) -> None:
        if self.current is poll and poll.state == "holding":
            await self._cancel(poll, "the showcase did not hold its move in time")

    def _schedule(self, delay: float, action, poll: Poll) -> None:
        self._cancel_timer()

        async def later():
            await asyncio.sleep(max(0.0, delay))
            self._timer = None
            try:
                await action(poll)
            except Exception:  # a failed transition must not leave the poll stuck: cancel it
                log.exception("poll %s: %s failed", poll.id, action.__name__)
                await self._fail(poll)

        self._timer = asyncio.get_running_loop().create_task(later())

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    # -- chat ---------------------------------------------------------------------------------------------
    async def on_chat(self, msg: ChatMessage) -> str | None:
        """Handle one chat line; returns what to answer the user, if anything."""
        text = msg.text.strip()
        if not text:
            return None
        if msg.shared_from is not None and not self.settings.chat_shared:
            self.ignored["shared_chat"] += 1  # a partner channel's viewer: not ours to count
            return None
        if msg.login in self._ignore:
            self.ignored["ignored_user"] += 1
            return None
        now = time.monotonic()
        if not self._limiter.allow(msg.user_id, now):
            self.ignored["rate_limited"] += 1
            return None
        command, _, arg = text.partition(" ")
        command = command.lower()
        if msg.source == "local" and not command.startswith("!"):
            self._highlight(msg, text)
        if command in MOD_COMMANDS:
            if not msg.is_mod:
                self.ignored["not_a_mod"] += 1
                return None
            return await self._mod_command(command, arg.strip())
        if command in COOLDOWN_COMMANDS and msg.source != "local":
            last = self._last_answer.get(command)
            if last is not None and now - last < self.settings.chat_command_cooldown_s:
                self.ignored["cooldown"] += 1
                return None
            self._last_answer[command] = now
        if command == "!predict":
            return await self._vote_move(msg, arg.strip(), explicit=True)
        if command == "!vote":
            return await self._vote_choice(msg, arg.strip())
        if command == "!score":
            return await self._score(msg)
        if command == "!top":
            entries = self.leaderboard[:5]
            if not entries:
                return "no predictions scored yet"
            return "top predictors: " + ", ".join(
                f"{i}. {e['user']} {e['points']}" for i, e in enumerate(entries, 1)
            )
        if command in ("!help", "!commands"):
            return HELP + ("; " + MOD_HELP if msg.is_mod else "")
        if command.startswith("!"):
            return None  # someone else's bot command
        poll = self.current
        if poll is not None and poll.kind == "predict" and poll.state == "open" and len(text) <= 24:
            return await self._vote_move(msg, text, explicit=False)  # a bare move during a round
        return None

    async def _mod_command(self, command: str, arg: str) -> str:
        """A moderator's (or the broadcaster's) control of the show; the answer says what happened."""
        if command in ("!pause", "!resume"):
            action = command[1:]
            sent = await self.send_control(Control(action=action))
            return f"showcase game: {action}d" if sent else "no trainer is connected"
        try:
            if command == "!skip":
                done = await self.cancel("skipped by a moderator")
                return f"poll {done['cancelled']} skipped"
            window = None
            if arg:
                try:
                    window = float(arg)
                except ValueError:
                    return f"!predictround takes the voting seconds, e.g. !predictround 30; got {arg[:20]!r}"
                if not 5 <= window <= 600:
                    return "!predictround: the voting time must be 5 to 600 seconds"
            opened = await self.open_predict(window)
            return f"prediction round opened: {opened.get('question', 'what will the AI play next?')}"
        except PollError as exc:
            return str(exc)

    async def _vote_move(self, msg: ChatMessage, text: str, *, explicit: bool) -> str | None:
        poll = self.current
        if poll is None or poll.kind != "predict" or poll.state not in ("open", "closed", "revealed"):
            return self._refuse(msg, poll, "no prediction round is open") if explicit else None
        if poll.state != "open":
            return self._refuse(msg, poll, "voting has closed for this round")
        if not text:
            return self._refuse(msg, poll, "name a move: !predict 7g7f (or P-7f, ７六歩)")
        outcome = poll.parsed.get(text)
        if outcome is None:
            try:
                move = parse_move(poll.position, text)
                prev = poll.position.moves[-1] if poll.position.moves else None
                named = names(poll.position, move, prev)
                outcome = (named["usi"], f"{named['japanese']} {named['western']}")
            except MoveParseError as exc:
                outcome = exc
            poll.parsed[text] = outcome
            if len(poll.parsed) > 2000:
                poll.parsed.popitem(last=False)
        if isinstance(outcome, MoveParseError):
            return self._refuse(msg, poll, outcome.message) if explicit else None
        usi, label = outcome
        self._record_vote(poll, msg, usi, label)
        return f"counted: {label}" if msg.source == "local" else None

    async def _vote_choice(self, msg: ChatMessage, arg: str) -> str | None:
        poll = self.current
        if poll is None or poll.kind != "strategy":
            return self._refuse(msg, poll, "no strategy poll is open")
        if poll.state != "open":
            return self._refuse(msg, poll, "voting has closed for this poll")
        keys = [c["key"] for c in poll.choices]
        key = arg.strip().lstrip("#")
        if key not in keys:
            return self._refuse(msg, poll, f"vote with a number from 1 to {len(keys)}: !vote 1")
        self._record_vote(poll, msg, key, poll.labels[key])
        return f"counted: {poll.labels[key]}" if msg.source == "local" else None

    def _record_vote(self, poll: Poll, msg: ChatMessage, key: str, label: str) -> None:
        poll.vote(msg.user_id, msg.display_name, key)
        poll.labels.setdefault(key, label)
        ts = self.clock()
        self.store.submit(
            lambda c: st.record_vote(
                c, poll_id=poll.id, user_id=msg.user_id, display_name=msg.display_name, choice=key, ts=ts
            )
        )
        self._publish("poll_tally", poll.tally())
        self._highlight(msg, f"voted {label}")

    def _refuse(self, msg: ChatMessage, poll: Poll | None, reason: str) -> str | None:
        """The reason, once per user per poll on Twitch (so a spammer gets one answer), always locally."""
        if msg.source == "local":
            return reason
        if poll is not None:
            if msg.user_id in poll.answered:
                return None
            poll.answered.add(msg.user_id)
        return reason

    async def _score(self, msg: ChatMessage) -> str:
        row = await self.store.read(lambda c: st.user_score(c, user_id=msg.user_id))
        if row is None:
            return "no scored predictions yet: join the next prediction round"
        return (
            f"{row['points']} points, {row['correct']}/{row['total']} exact, streak {row['streak']},"
            f" rank {row['rank']}"
        )

    def _highlight(self, msg: ChatMessage, text: str) -> None:
        """Show a chat line on the overlay: at most a few per second, however busy chat is."""
        now = time.monotonic()
        while self._highlights and now - self._highlights[0] >= 1.0:
            self._highlights.popleft()
        if len(self._highlights) >= self.settings.highlights_per_s:
            return
        self._highlights.append(now)
        self._publish(
            "chat_highlight", ChatHighlight(user=msg.display_name, text=text[:500], source=msg.source)
        )

    async def _say(self, text: str) -> None:
        for source in self.sources:
            if source.can_post:
                await source.say(text)

    def _summary(self, poll: Poll, pending: dict, winners: list[str]) -> str:
        move = pending["move"]
        share = f"{pending['chosen_prob'] * 100:.0f}%"
        who = f"{len(winners)} of {len(poll.votes)} got it" if poll.votes else "nobody voted"
        return f"The AI played {move['japanese']} ({move['western']}, it gave it {share}). {who}."

    # -- output -------------------------------------------------------------------------------------------
    def _publish(self, t: str, payload) -> None:
        self.hub.publish(t, payload.model_dump(mode="json"), now_ms())

    def _entries(self) -> list[dict]:
        return [
            LeaderboardEntry(
                user=e["user"], points=e["points"], correct=e["correct"], total=e["total"], streak=e["streak"]
            ).model_dump(mode="json")
            for e in self.leaderboard
        ]

    async def _refresh_leaderboard(self, *, publish: bool) -> None:
        self.leaderboard = await self.store.read(
            lambda c: st.leaderboard(c, limit=self.settings.leaderboard_size)
        )
        if publish:
            self._publish(
                "leaderboard", Leaderboard(entries=[LeaderboardEntry(**e) for e in self._entries()])
            )
