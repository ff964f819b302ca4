"""`blurfuse predict` over many files at the model's pace.

Reading and decoding files and computing their features (blur score, edge maps, input tensors)
is CPU work that does not need the model; done in the same thread it adds its time to every
batch. Here a small pool of threads reads and prepares the next batches (OpenCV and numpy release
the GIL for most of it) while the calling thread runs the model on the current one, so the
model rarely waits. Answers are those of `Predictor.predict_batch`, in input order.
"""

from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from fusion.predictor import Prediction, PreparedBatch, Predictor

OnBatch = Callable[[list[int], list[np.ndarray], list[Prediction]], None]


@dataclass
class StreamResult:
    """Predictions and read errors by input index, and how fast the stream went."""

    predictions: dict[int, Prediction] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        return len(self.predictions) / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _ReadBatch:
    indices: list[int]
    arrays: list[np.ndarray]
    errors: dict[int, str]
    prepared: PreparedBatch | None


def default_workers() -> int:
    """Reader threads: one per core beyond two, or none (batches prepared inline) on two cores or fewer.

    On 2 cores a reader thread competes with torch's two threads and holds Python's lock through
    its per-image Python code: `bench/bench_predict_folder.py` measured the threaded stream at 0.87x
    the inline path there. Beyond two cores the readers have a core to themselves."""
    cores = os.cpu_count() or 1
    return cores - 2 if cores > 2 else 0


def _read_and_prepare(predictor: Predictor, paths: Sequence[Path], indices: range) -> _ReadBatch:
    from features.image import load_image

    read, arrays, errors = [], [], {}
    for index in indices:
        try:
            arrays.append(load_image(paths[index]))
            read.append(index)
        except (ValueError, OSError) as error:
            errors[index] = str(error) or type(error).__name__
    return _ReadBatch(read, arrays, errors, predictor.prepare(arrays) if arrays else None)


def _read_batches(predictor: Predictor, paths: Sequence[Path], chunks: list[range], workers: int) -> Iterator[_ReadBatch]:
    """The chunks read and prepared in order: inline when `workers` is 0, else by a pool that keeps
    `workers + 1` batches in flight, so the readers work on the next batches while the model runs."""
    if workers == 0:
        for chunk in chunks:
            yield _read_and_prepare(predictor, paths, chunk)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="blurfuse-read") as pool:
        pending: deque[Future] = deque()
        for chunk in chunks:
            pending.append(pool.submit(_read_and_prepare, predictor, paths, chunk))
            if len(pending) > workers + 1:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def predict_stream(predictor: Predictor, paths: Sequence[Path], batch_size: int = 64, workers: int | None = None,
                   progress: bool = True, on_batch: OnBatch | None = None) -> StreamResult:
    """Predict every file in `paths`; `on_batch(indices, arrays, predictions)` sees each batch as it
    is answered (to write pictures without keeping every image). Unreadable files become errors."""
    from tqdm.auto import tqdm

    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    workers = default_workers() if workers is None else workers
    if not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be a non-negative integer (0: prepare batches inline), got {workers!r}")
    chunks = [range(start, min(start + batch_size, len(paths))) for start in range(0, len(paths), batch_size)]
    result, start = StreamResult(), time.perf_counter()
    with tqdm(total=len(paths), desc="predict", unit="img", disable=not progress) as bar:
        for read in _read_batches(predictor, paths, chunks, workers):
            result.errors.update(read.errors)
            if read.prepared is not None:
                predictions = predictor.predict_prepared(read.prepared)
                result.predictions.update(zip(read.indices, predictions))
                if on_batch is not None:
                    on_batch(read.indices, read.arrays, predictions)
            bar.update(len(read.indices) + len(read.errors))
    result.seconds = time.perf_counter() - start
    return result
