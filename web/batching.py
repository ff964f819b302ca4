"""Micro-batching: concurrent requests gathered for a few milliseconds and run as one batch.

On a CPU a forward pass over 16 images costs little more than over one, so a server answering
each request alone leaves most of the machine idle. Request threads hand their decoded image to
one worker thread, which takes the first waiting request, gathers whatever else arrives within
`max_wait_s` (up to `max_size`), and runs them through the same batch path as `blurfuse predict`
(`Predictor.predict_and_explain_batch`). Each request then gets exactly its own answer.

Only the worker thread touches the model, so requests never compete for torch's threads. When a
batch fails, its items are retried one by one, so one unusable image cannot fail its neighbours.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

DEFAULT_MAX_SIZE = 32
DEFAULT_MAX_WAIT_MS = 5.0

RunBatch = Callable[[Sequence[Any], Sequence[bool]], list[Any]]


@dataclass
class _Job:
    image: Any
    explain: bool
    future: Future = field(default_factory=Future)


@dataclass
class BatchStats:
    """How well requests were gathered: the mean batch size is the figure to watch."""

    batches: int = 0
    items: int = 0

    @property
    def mean_size(self) -> float:
        return self.items / self.batches if self.batches else 0.0


class MicroBatcher:
    """`submit(image, explain)` blocks until the batch holding it has run and returns its answer."""

    def __init__(self, run_batch: RunBatch, max_size: int = DEFAULT_MAX_SIZE, max_wait_ms: float = DEFAULT_MAX_WAIT_MS) -> None:
        if not isinstance(max_size, int) or max_size < 1:
            raise ValueError(f"max_size must be a positive integer, got {max_size!r}")
        if not 0 <= max_wait_ms <= 1000:
            raise ValueError(f"max_wait_ms must lie in [0, 1000], got {max_wait_ms!r}")
        self.run_batch, self.max_size, self.max_wait_s = run_batch, max_size, max_wait_ms / 1000.0
        self.stats = BatchStats()
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name="blurfuse-batcher", daemon=True)
        self._thread.start()

    def submit(self, image: Any, explain: bool = False) -> Any:
        if not self._thread.is_alive():
            raise RuntimeError("the batcher is closed")
        job = _Job(image, explain)
        self._queue.put(job)
        return job.future.result()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _gather(self) -> list[_Job] | None:
        """The next batch: the first waiting job and whatever arrives within the wait; None to stop."""
        first = self._queue.get()
        if first is None:
            return None
        jobs = [first]
        deadline = time.monotonic() + self.max_wait_s
        while len(jobs) < self.max_size:
            try:
                job = self._queue.get(timeout=max(0.0, deadline - time.monotonic())) if self.max_wait_s else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._queue.put(None)  # stop after this batch
                break
            jobs.append(job)
        return jobs

    def _serve(self) -> None:
        while (jobs := self._gather()) is not None:
            self.stats.batches += 1
            self.stats.items += len(jobs)
            try:
                results = self.run_batch([j.image for j in jobs], [j.explain for j in jobs])
            except Exception:  # noqa: BLE001 - retried one by one below, each job gets its own error
                self._one_by_one(jobs)
                continue
            for job, result in zip(jobs, results):
                job.future.set_result(result)

    def _one_by_one(self, jobs: list[_Job]) -> None:
        for job in jobs:
            try:
                job.future.set_result(self.run_batch([job.image], [job.explain])[0])
            except Exception as error:  # noqa: BLE001 - handed to the request that sent this image
                job.future.set_exception(error)
