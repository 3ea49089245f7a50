"""The live view: progress, the last thing that happened and the current front, redrawn on every change.
Without a terminal (CI logs) it prints one line per stage result instead."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from .evaluation import StageEvent
from .loop import EVALUATED, current_front
from .pareto import Constraints
from .store import RunStore
from .summary import candidates_table


def describe_event(store: RunStore, event: StageEvent) -> str:
    """'candidate 4: measured, rung 0/2: continues (ranked 1 of 3 at rung 0, top 1 continue)'."""
    what = f"rung {event.rung} {event.status}" if event.rung else event.status
    text = f"candidate {event.candidate_id}: {what}"
    if event.reason:
        text += f" ({event.stage}: {event.reason[:80]})"
    if event.rung and event.status == "trained":
        text += f" ({store.get_candidate(event.candidate_id).metrics.get('promotion', '')})"
    if event.status == "measured":
        metrics = store.get_candidate(event.candidate_id).metrics
        if metrics.get("rungs", 1) > 1:
            text += f", rung {metrics['rung']}/{metrics['rungs'] - 1}: {metrics.get('promotion', '')}"
    return text


class LiveView:
    def __init__(self, console: Console, iterations: int, constraints: Constraints, enabled: bool = True):
        self.console = console
        self.iterations = iterations
        self.constraints = constraints
        self.started = time.monotonic()
        self.last = "starting"
        self._live = Live(Text("starting"), console=console, refresh_per_second=4, transient=False) if enabled else None

    def __enter__(self) -> "LiveView":
        if self._live:
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live:
            self._live.__exit__(*exc)

    def on_change(self, store: RunStore, event: StageEvent | None) -> None:
        if event is not None:
            self.last = describe_event(store, event)
        if self._live is None:
            if event is not None:  # logs / CI: one line per stage result instead of a redrawn screen
                evaluated = len(store.candidates(EVALUATED))
                self.console.print(f"[{time.monotonic() - self.started:6.0f} s] {evaluated}/{self.iterations} evaluated | "
                                   f"{self.last}", highlight=False)
            return
        candidates = store.candidates()
        evaluated = sum(c.status in EVALUATED for c in candidates)
        rejected = sum(c.status == "rejected" for c in candidates)
        elapsed = time.monotonic() - self.started
        header = Text(f"evaluated {evaluated}/{self.iterations}  rejected before training {rejected}  "
                      f"elapsed {elapsed:.0f} s  |  {self.last}")
        front = current_front(store, self.constraints)
        table = candidates_table(front, {c.id for c in front}, "current Pareto front")
        self._live.update(Group(header, table))
