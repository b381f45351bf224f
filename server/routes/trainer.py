"""/ws/trainer: the trainer's link. Token-checked, every message validated, state and archive fed,
public messages fanned out to viewers; the pending move of a poll stays here."""

from __future__ import annotations

import hmac
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from server import store as st
from server.routes import services
from showcase_core.protocol import FROM_TRAINER, SECRET, ProtocolError, now_ms, parse

log = logging.getLogger("server.trainer")
router = APIRouter()

POLICY_VIOLATION, UNSUPPORTED_DATA, GOING_AWAY = 1008, 1003, 1001


def token_ok(presented: str | None, expected: str | None) -> bool:
    if not expected or not presented:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


def bearer(ws: WebSocket) -> str | None:
    value = ws.headers.get("authorization", "")
    return value[7:] if value.lower().startswith("bearer ") else None


def announce(s) -> None:
    s.hub.publish("trainer_status", s.live.trainer_status(), now_ms())


async def _persist(s, t: str, d: dict) -> None:
    run_id = s.live.run_id
    store = s.store
    if t == "hello":
        store.submit(lambda c: st.record_hello(c, run_id=d["run_id"], hello=d))
    elif t == "game_start":
        if d["kind"] == "showcase":  # one showcase game at a time: an older open one was cut off
            reason = "the trainer went away mid-game (its next showcase game started)"
            store.submit(lambda c: st.close_interrupted(c, reason=reason, kind="showcase", keep=d["game_id"]))
        store.submit(lambda c: st.start_game(c, run_id=run_id, game=d))
    elif t == "move":
        store.submit(lambda c: st.add_move(c, move=d))
    elif t == "game_end":
        await store.write(lambda c: st.end_game(c, end=d))  # durable before we go on
    elif t == "metrics":
        store.submit(
            lambda c: st.add_metrics(c, run_id=run_id or "unknown", update=d["update"], values=d["values"])
        )
    elif t == "milestone":
        store.submit(lambda c: st.add_milestone(c, run_id=run_id, milestone=d))
    elif t == "attention_frame":
        store.submit(lambda c: st.add_attention_frame(c, run_id=run_id, frame=d))


def _already_live(live, t: str, d: dict) -> bool:
    """True for a showcase game_start or move the live state (and so every viewer) already has."""
    game = live.game
    if game is None or d.get("game_id") != game["game_id"]:
        return False
    if t == "game_start":
        return True
    if t == "move":
        return bool(live.moves) and d["ply"] <= live.moves[-1]["ply"]
    return False


@router.websocket("/ws/trainer")
async def trainer_link(ws: WebSocket) -> None:
    s = services(ws)
    await ws.accept()  # accept first so the refusal carries a close code and reason, not a bare 403
    if not token_ok(bearer(ws), s.settings.trainer_token):
        await ws.close(code=POLICY_VIOLATION, reason="missing or wrong trainer token")
        return
    previous = s.trainer_link
    if previous is not None:  # a restarted trainer replaces a link that has not noticed it is dead
        await previous.close(code=GOING_AWAY, reason="replaced by a new trainer connection")
        await s.polls.on_trainer_gone()  # the old link's own clean-up is skipped once it is replaced
    s.trainer_link = ws
    s.control_seq = 0
    first = True
    archive_only: set[str] = set()  # evaluation / self-play games: stored, and only announced live
    try:
        while True:
            text = await ws.receive_text()
            try:
                envelope, payload = parse(text, allowed=FROM_TRAINER)
                if first and envelope.t != "hello":
                    raise ProtocolError(f"the first message must be hello, got {envelope.t!r}")
            except ProtocolError as exc:
                log.warning("closing the trainer link: %s", exc)
                await ws.close(code=UNSUPPORTED_DATA, reason=str(exc)[:120])
                return
            d = payload.model_dump(mode="json")
            repeat = _already_live(s.live, envelope.t, d)
            s.live.apply(envelope.t, d)
            if first:
                first = False
                s.live.trainer["connected"] = True
                announce(s)
                await s.polls.on_trainer_hello()
            try:
                await _persist(s, envelope.t, d)
            except Exception as exc:  # keep the stream up; the archive error shows in /healthz
                log.exception("could not store %s", envelope.t)
                s.report_error(f"store {envelope.t}: {exc!r}")
            if envelope.t == "game_start" and d["kind"] != "showcase":
                archive_only.add(d["game_id"])
            if envelope.t in ("gae_trace", "attention_frame"):
                continue  # large and for one page: served by /api/gae and /api/timelapse, not pushed
            if envelope.t in SECRET:
                await s.polls.on_trainer_message(envelope.t, d)  # held for the poll, never published
                continue
            if envelope.t == "move" and d["game_id"] in archive_only:
                continue  # a replay for the archive, not the live feed
            if repeat:
                # A reconnecting trainer replays the showcase game so far (and may have the same
                # game_start queued too): stored idempotently above, but viewers already have it.
                s.repeats_skipped += 1
                continue
            if envelope.t == "game_end":
                archive_only.discard(d["game_id"])
            s.hub.publish(envelope.t, d, envelope.ts)
            if envelope.t == "move":
                s.analyst.submit_move(d)
            if envelope.t in ("move", "status"):
                await s.polls.on_trainer_message(envelope.t, d)
    except WebSocketDisconnect:
        pass
    finally:
        if s.trainer_link is ws:
            s.trainer_link = None
            s.live.trainer["connected"] = False
            announce(s)
            try:
                await s.polls.on_trainer_gone()
            except Exception as exc:  # e.g. the store closing at shut-down; the poll is gone either way
                log.warning("could not cancel the poll cleanly: %r", exc)
