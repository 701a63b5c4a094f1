"""Long work in a background thread, with state, progress and a clean cancel.

A ``Job`` runs ``work()`` off the caller's thread (a notebook kernel stays responsive), follows
the progress the pipeline reports (phase, steps done, total) and stops at the next safe point
when cancelled: between two steps of a phase, never inside a write, so the store keeps only
complete rows. Listeners hear every change (from the job's thread).

Example:
    >>> job = Job(lambda: sum(range(10)), "adding").start()
    >>> job.wait().state, job.result
    ('finished', 45)
"""

from __future__ import annotations

import threading
import traceback
from typing import Any, Callable

from workbench.progress import observed

STATES = ("pending", "running", "finished", "cancelled", "error")


class Cancelled(Exception):
    """Raised inside the job's thread at the first safe point after ``cancel()``."""


# Where a phase sits inside one recipe's run (start, share): phases are matched by a word of
# their name; anything else is a training phase, the first 70%.
PHASE_SPANS = (("converting", (0.0, 0.0)), ("calibrating", (0.70, 0.05)),
               ("evaluating", (0.75, 0.10)), ("latency", (0.85, 0.15)))
TRAINING_SPAN = (0.0, 0.70)
OUTER_PHASE = "sweep of"


class OverallProgress:
    """One fraction for the whole job, from its nested phases, that never goes backwards.

    The outer phase (a sweep over recipes) counts recipes; inside a recipe, each phase covers
    its share (``PHASE_SPANS``). A phase that starts over (pruning, then clustering) holds the
    bar where it was instead of moving it back.

    Example:
        >>> meter = OverallProgress()
        >>> meter.update("sweep of m", 0, 2); meter.update("evaluating in LiteRT", 5, 10)
        0.0
        0.4
    """

    def __init__(self):
        self.fraction, self.outer_done, self.outer_total = 0.0, 0, 1

    def update(self, phase: str, done: int, total: int | None) -> float:
        if phase.startswith(OUTER_PHASE):
            self.outer_done, self.outer_total = done, max(total or 1, 1)
            inner = 0.0
        else:
            start, share = next((span for word, span in PHASE_SPANS if word in phase),
                                TRAINING_SPAN)
            inner = start + share * (done / total if total else 0.0)
        estimate = (min(self.outer_done, self.outer_total) + inner) / self.outer_total
        self.fraction = max(self.fraction, min(estimate, 1.0))
        return round(self.fraction, 4)


class Job:
    def __init__(self, work: Callable[[], Any], description: str):
        self.work, self.description = work, description
        self.state = "pending"
        self.phase, self.done, self.total = "", 0, None
        self.overall = OverallProgress()
        self.epochs: list[dict] = []  # one per finished training epoch: phase, epoch, metrics
        self.log: list[tuple[float, str]] = []  # (time, line): phases as they start
        self.result: Any = None
        self.error = ""  # one line for the user
        self.details = ""  # the traceback, for a log
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[Job], None]] = []

    @property
    def fraction(self) -> float | None:
        """Share of the current phase done (None when the phase has no known length)."""
        return self.done / self.total if self.total else None

    def add_listener(self, listener: Callable[["Job"], None]) -> "Job":
        self._listeners.append(listener)
        return self

    def start(self) -> "Job":
        if self.state != "pending":
            raise RuntimeError(f"Job '{self.description}' was already started ({self.state}).")
        self._set(state="running")
        self._thread = threading.Thread(target=self._run, name=self.description, daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the job to stop at its next safe point."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> "Job":
        if self._thread is not None:
            self._thread.join(timeout)
        return self

    @property
    def active(self) -> bool:
        return self.state in ("pending", "running")

    @property
    def overall_fraction(self) -> float:
        """Share of the whole job done; it never decreases."""
        return 1.0 if self.state == "finished" else self.overall.fraction

    def _observe(self, phase: str, done: int, total: int | None,
                 metrics: dict | None = None) -> None:
        if self._cancel.is_set():
            raise Cancelled()
        import time

        self.overall.update(phase, done, total)
        if phase != self.phase:
            self.log.append((time.time(), phase))
        if metrics:
            self.epochs.append({"phase": phase, "epoch": done, **metrics})
        self._set(phase=phase, done=done, total=total)

    def _run(self) -> None:
        try:
            with observed(self._observe):
                result = self.work()
        except Cancelled:
            self._set(state="cancelled")
        except Exception as error:  # noqa: BLE001 - reported to the user, never raised in the UI
            from workbench.errors import WorkbenchError

            plain = isinstance(error, WorkbenchError)
            self.details = traceback.format_exc()
            self._set(state="error", error=str(error) if plain else
                      f"unexpected {type(error).__name__}: {error}")
        else:
            self.result = result
            self._set(state="finished")

    def _set(self, **changes) -> None:
        for name, value in changes.items():
            setattr(self, name, value)
        for listener in self._listeners:
            try:
                listener(self)
            except Exception:  # noqa: BLE001 - a broken listener must not kill the job
                pass
