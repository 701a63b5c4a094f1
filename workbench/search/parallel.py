"""Trials as Dask tasks: a ``LocalCluster`` of worker processes on this machine by default, an
existing cluster when given its scheduler's address (the same code path), or one worker thread
in this process (``workers=0``: no start-up, for small searches and debugging).

Workers compute and return; they never write the store, so they need no shared file system.
A worker that dies mid-trial: the scheduler gives the trial to another worker once
(``ALLOWED_FAILURES``); dying again, the trial fails with that reason and the search goes on.

Example:
    >>> with TrialPool(workers=2) as pool:                          # doctest: +SKIP
    ...     future = pool.submit(pow, 2, 10)
    ...     [(f, outcome.value) for f, outcome in pool.finished([future])]
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from workbench.errors import WorkbenchError

ALLOWED_FAILURES = 1  # worker deaths a trial survives (a LocalCluster's scheduler setting)
CONNECT_TIMEOUT_S = 5


@dataclass
class Outcome:
    """A finished task: its ``value``, or ``failure`` in words (the value is then None)."""

    value: Any = None
    failure: str | None = None


class TrialPool:
    """Dask workers for trials (see the module doc). ``workers``: how many local worker
    processes (default one per core; 0: a thread of this process); ``scheduler``: the address
    of a running Dask scheduler (``tcp://host:8786``), whose workers are used instead."""

    def __init__(self, workers: int | None = None, scheduler: str | None = None):
        if workers is not None and (workers < 0 or scheduler is not None):
            raise WorkbenchError(
                f"Received workers={workers} and scheduler={scheduler!r}; expected workers 0 "
                "or more on this machine, or a scheduler address without workers (its "
                "cluster has its own).")
        self.workers, self.scheduler = workers, scheduler
        self.client = self.cluster = None

    def __enter__(self) -> "TrialPool":
        from distributed import Client

        if self.scheduler is not None:
            self.client = _connect(self.scheduler)
        else:
            self.cluster = self._local_cluster()
            self.client = Client(self.cluster)
        return self

    def __exit__(self, *exc) -> None:
        for part in (self.client, self.cluster):
            if part is not None:
                part.close()

    def _local_cluster(self):
        import dask
        from distributed import LocalCluster

        count = os.cpu_count() or 1 if self.workers is None else self.workers
        with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
            return LocalCluster(n_workers=max(count, 1), threads_per_worker=1,
                                processes=count > 0, dashboard_address=None,
                                silence_logs=logging.CRITICAL)

    @property
    def size(self) -> int:
        """How many trials run at once: the cluster's worker threads (at least one)."""
        info = self.client.scheduler_info(n_workers=-1)["workers"].values()
        return max(sum(worker.get("nthreads", 1) for worker in info), 1)

    @property
    def where(self) -> str:
        """The pool in words, e.g. ``'2 local worker processes'``."""
        size = self.size
        if self.scheduler is not None:
            return f"{size} worker thread{'s' * (size != 1)} of the Dask cluster at " \
                   f"{self.scheduler}"
        if self.workers == 0:
            return "one worker thread in this process"
        return f"{size} local worker process{'es' * (size != 1)}"

    def share(self, value):
        """Send ``value`` (e.g. the task, with its model) to the workers once."""
        try:
            return self.client.scatter(value, broadcast=True, hash=False)
        except Exception as error:  # noqa: BLE001 - pickling errors have many types
            raise WorkbenchError(
                f"Could not send {type(value).__name__} to the Dask workers ({error}); run "
                "with workers=0 (--workers 0) to search in this process.") from error

    def submit(self, function, *args):
        return self.client.submit(function, *args, pure=False)

    def finished(self, futures, timeout: float | None = None):
        """The ``(future, Outcome)`` of the futures done now, waiting up to ``timeout`` seconds
        for the first (None: until one is done)."""
        from distributed import wait

        try:
            done = wait(list(futures), timeout=timeout, return_when="FIRST_COMPLETED").done
        except TimeoutError:
            return []
        return [(future, _outcome(future)) for future in done]

    def cancel(self, futures) -> None:
        if futures:
            self.client.cancel(list(futures))


def _outcome(future) -> Outcome:
    from distributed import KilledWorker

    if future.status == "finished":
        return Outcome(future.result())
    if future.status == "cancelled":
        return Outcome(failure="cancelled")
    error = future.exception()
    if isinstance(error, KilledWorker):
        return Outcome(failure="its worker died twice (a crash or out of memory)")
    if isinstance(error, WorkbenchError):
        return Outcome(failure=str(error))
    return Outcome(failure=f"{type(error).__name__}: {error}")


def _connect(address: str):
    from distributed import Client

    try:
        return Client(address, timeout=f"{CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError, ValueError) as error:
        raise WorkbenchError(
            f"No Dask scheduler answered at {address!r} within {CONNECT_TIMEOUT_S} s ({error}). "
            "Expected the address of a running scheduler, e.g. tcp://127.0.0.1:8786: start one "
            "with `dask scheduler` and workers with `dask worker ADDRESS`, or leave out "
            "--scheduler to run on this machine.") from None
