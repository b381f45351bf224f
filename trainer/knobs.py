"""Learning knobs that can change while a run goes on: parameter challenges (chat votes, the streamer
approves) and the control room's direct changes, always within the config's `[knobs]` bounds.

A request arrives as a `control` message with action "knob" on the publisher's thread. It is checked
at once: a knob that does not exist, a value outside the bounds, or a revert of a change that was never
applied is refused, with the reason, as a `knob_change` message (status "refused"). An accepted one
waits for the training loop, which calls `apply_pending` before each update: from that update on, the
optimiser's learning rate, PPO's entropy coefficient or the showcase's temperature is the new value.
Each applied change is published (`knob_change`, status "applied", with the update that first used
it), kept in the run record (`run.json`, `knob_changes`), announced as a milestone, and stored in
every checkpoint, so a resumed run keeps its knobs. A revert sets the knob back to the value the
change replaced (a change in its own right, naming the one it reverts).

The learning rate knob is the base of the schedule (`ppo.lr_schedule`): a linear or cosine schedule
scales the new base from the next update on.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from showcase_core.protocol import KNOB_NAMES, Control, Knob, KnobChange, Milestone

LABELS = {
    "ent_coef": "entropy coefficient",
    "learning_rate": "learning rate",
    "temperature": "showcase temperature",
    "greedy_share": "opponent mix (greedy share)",
}


@dataclass
class Applied:
    """One change the loop applied (what the run record keeps)."""

    change_id: str
    knob: str
    old: float
    new: float
    update: int  # the first update that used the new value
    source: str
    revert_of: str | None = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class Knobs:
    """The run's current knob values, their bounds, and the changes waiting for the next update."""

    def __init__(self, cfg, *, emit: Callable[[str, object], None] | None = None, saved: dict | None = None):
        self.bounds = {name: tuple(getattr(cfg.knobs, name)) for name in KNOB_NAMES}
        self.values = {
            "ent_coef": float(cfg.ppo.ent_coef),
            "learning_rate": float(cfg.ppo.learning_rate),
            "temperature": float(cfg.live.temperature),
            "greedy_share": float(cfg.curriculum.greedy_share),
        }
        self.changes: list[Applied] = []
        if saved:  # a resumed run: the values and the history its checkpoint kept
            self.values.update({k: float(v) for k, v in saved.get("values", {}).items() if k in self.values})
            self.changes = [Applied(**c) for c in saved.get("changes", [])]
        self.emit = emit
        self._lock = threading.Lock()
        self._pending: list[tuple[str, str, float, str, str | None]] = []

    # -- the publisher's thread -----------------------------------------------------------------------
    def request(self, control: Control) -> str | None:
        """Check a "knob" control; queue it for the next update, or refuse it (published) with the
        reason. Returns the reason of a refusal, None when queued."""
        change_id = control.change_id or uuid.uuid4().hex[:12]
        source = control.source or "control room"
        with self._lock:
            reason, knob, value = self._check(control)
            if reason is None:
                self._pending.append((change_id, knob, value, source, control.revert_of))
        if reason is not None:
            self._publish(
                KnobChange(
                    change_id=change_id,
                    knob=control.knob,
                    new=control.value,
                    status="refused",
                    reason=reason,
                    source=source,
                    revert_of=control.revert_of,
                )
            )
        return reason

    def _check(self, control: Control) -> tuple[str | None, str | None, float | None]:
        if control.revert_of is not None:
            change = next((c for c in self.changes if c.change_id == control.revert_of), None)
            if change is None:
                return f"no applied change {control.revert_of!r} to revert", control.knob, control.value
            knob, value = change.knob, change.old
        else:
            knob, value = control.knob, control.value
            if knob is None or value is None:
                return "a knob change needs a knob and a value", knob, value
        if knob not in self.bounds:
            return f"unknown knob {knob!r} (knobs: {', '.join(KNOB_NAMES)})", knob, value
        low, high = self.bounds[knob]
        if not low <= value <= high:
            return (
                f"{LABELS[knob]} {value:g} is outside the run's bounds [{low:g}, {high:g}] (config [knobs])",
                knob,
                value,
            )
        return None, knob, value

    # -- the training loop ----------------------------------------------------------------------------
    def apply_pending(
        self, update: int, *, settings=None, showcase=None, collector=None, record: dict | None = None
    ) -> list[Applied]:
        """Apply what was queued, in order, before update `update` runs (the loop reads `values` for
        the learning rate; the entropy coefficient goes into `settings`, the temperature into the
        showcase's next game, the opponent mix into the collector's next games). Returns the changes
        applied."""
        with self._lock:
            pending, self._pending = self._pending, []
        done = []
        for change_id, knob, value, source, revert_of in pending:
            applied = Applied(change_id, knob, self.values[knob], value, update, source, revert_of)
            self.values[knob] = value
            self.changes.append(applied)
            done.append(applied)
        if settings is not None:
            settings.ent_coef = self.values["ent_coef"]
        if showcase is not None and done:
            showcase.set_temperature(self.values["temperature"])
        if collector is not None:
            collector.set_greedy_share(self.values["greedy_share"])
        for applied in done:
            if record is not None:
                record.setdefault("knob_changes", []).append(applied.as_dict())
            self._publish(
                KnobChange(
                    change_id=applied.change_id,
                    knob=applied.knob,
                    old=applied.old,
                    new=applied.new,
                    status="applied",
                    update=update,
                    source=applied.source,
                    revert_of=applied.revert_of,
                )
            )
            verb = "reverted" if applied.revert_of else "changed"
            self._emit(
                "milestone",
                Milestone(
                    kind="knob_change",
                    update=update,
                    title=f"{applied.source[:80]} {verb} the {LABELS[applied.knob]}: "
                    f"{applied.old:g} -> {applied.new:g}",
                    detail=f"From update {update} on, {LABELS[applied.knob]} = {applied.new:g} "
                    f"(bounds {self.bounds[applied.knob][0]:g} to {self.bounds[applied.knob][1]:g}).",
                    value=applied.new,
                ),
            )
        return done

    def status(self) -> list[Knob]:
        return [
            Knob(name=n, label=LABELS[n], value=self.values[n], low=self.bounds[n][0], high=self.bounds[n][1])
            for n in KNOB_NAMES
        ]

    def state(self) -> dict:
        """What a checkpoint keeps."""
        return {"values": dict(self.values), "changes": [c.as_dict() for c in self.changes]}

    def _publish(self, change: KnobChange) -> None:
        self._emit("knob_change", change)

    def _emit(self, t: str, payload) -> None:
        if self.emit is not None:
            self.emit(t, payload)
