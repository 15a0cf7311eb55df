"""Scoring chunks through the serving Pipeline, in this process or in `jobs` worker processes that each
load the model once. A chunk that fails is split in halves until the rows that fail stand alone, so one
bad row costs a few extra calls, not the chunk.
"""

from __future__ import annotations

import contextlib
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from mlship.serving.pipeline import Pipeline, PipelineError, RuntimeSpec


@dataclass
class Scored:
    """One chunk's outcome: a prediction for each row that scored, the error of each that did not."""

    predictions: list[Any] = field(default_factory=list)
    ok: list[int] = field(default_factory=list)  # positions in the chunk, in order
    errors: dict[int, str] = field(default_factory=dict)


class Fatal(Exception):
    """The project's code is broken for every row (e.g. predict returns the wrong number of values)."""


def score_chunk(pipeline: Pipeline, frame: Any, max_errors: int | None) -> Scored:
    """Score `frame`; a failing slice is halved until its bad rows are isolated (or more than
    `max_errors` are found, when the search stops: the run is over anyway)."""
    out = Scored()
    _score(pipeline, frame, 0, out, max_errors)
    return out


def _score(pipeline: Pipeline, frame: Any, offset: int, out: Scored, max_errors: int | None) -> None:
    try:
        with contextlib.redirect_stdout(sys.stderr):  # the project's prints are not data
            predictions = pipeline.predict_frame(frame)
    except PipelineError as exc:
        raise Fatal(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - the project's code may raise anything for a row
        if len(frame) == 1:
            out.errors[offset] = f"{type(exc).__name__}: {exc}"
            return
        half = len(frame) // 2
        for start, part in ((0, frame.iloc[:half]), (half, frame.iloc[half:])):
            if max_errors is not None and len(out.errors) > max_errors:
                return
            _score(pipeline, part, offset + start, out, max_errors)
        return
    out.predictions.extend(predictions)
    out.ok.extend(range(offset, offset + len(frame)))


# A worker process's pipeline, loaded once by `_init_worker`.
_worker_pipeline: Pipeline | None = None


def _init_worker(spec: RuntimeSpec) -> None:
    import signal

    global _worker_pipeline
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    with contextlib.redirect_stdout(sys.stderr):
        _worker_pipeline = Pipeline(spec)


def _worker_score(frame: Any, max_errors: int | None) -> Scored:
    assert _worker_pipeline is not None
    return score_chunk(_worker_pipeline, frame, max_errors)


def score_stream(
    pipeline: Pipeline,
    chunks: Iterable[Any],
    *,
    jobs: int,
    max_errors: int | None,
) -> Iterator[tuple[Any, Scored]]:
    """(chunk, its Scored) in input order. With jobs > 1, up to 2 chunks per worker are in flight:
    memory stays bounded by the chunk size, whatever the input's."""
    if jobs <= 1:
        for frame in chunks:
            yield frame, score_chunk(pipeline, frame, max_errors)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: the parent holds pyarrow's threads, which a forked child must not inherit.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker, initargs=(pipeline.spec,))
    pending: deque[tuple[Any, Any]] = deque()
    try:
        for frame in chunks:
            pending.append((frame, pool.submit(_worker_score, frame, max_errors)))
            if len(pending) >= 2 * jobs:
                yield _done(pending.popleft())
        while pending:
            yield _done(pending.popleft())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _done(item: tuple[Any, Any]) -> tuple[Any, Scored]:
    from concurrent.futures.process import BrokenProcessPool

    frame, future = item
    try:
        return frame, future.result()
    except BrokenProcessPool as exc:
        raise Fatal(f"a worker process died ({exc}); run with --jobs 1 to see the project's error") from None
