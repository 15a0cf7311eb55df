"""`mlship predict`: a table of any size scored chunk by chunk through the serving pipeline.

The output is written to a temporary file beside the target and moved into place only when every
chunk is done, so an interrupted or stopped run never leaves a file that looks complete. Rows the
project's code cannot score go to a reject file (JSON lines: `_row`, `_error`, then the row's columns).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlship.batch.tables import INPUT_SUFFIXES, OUTPUT_SUFFIXES, Chunks, Writer
from mlship.errors import InputError, ProjectCodeError, UsageError
from mlship.outfiles import check_target

ProgressFn = Callable[[int, float | None], None]

DEFAULT_BATCH_ROWS = 50_000
DEFAULT_MAX_ERRORS = 100


@dataclass
class PredictResult:
    input: str
    output: str
    rows: int  # rows scored and written to the output
    seconds: float
    model_version: str
    rejected: int = 0
    rejects: str | None = None  # the reject file, when some rows were rejected
    jobs: int = 1
    engine: str = "local"
    log: str | None = None  # the prediction log directory written to (--log)
    master: str | None = None  # --engine spark: the Spark master the job ran on

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_rejects(output: Path) -> Path:
    return output.with_name(f"{output.stem}.rejects.jsonl")


@dataclass
class _Run:
    """A run's running totals and the first error (for the message when the run stops)."""

    scored: int = 0
    rejected: int = 0
    read: int = 0
    first_error: str | None = None


def predict_file(
    project: Any,
    *,
    input: Path,
    output: Path,
    force: bool = False,
    jobs: int = 1,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    max_errors: int | None = DEFAULT_MAX_ERRORS,
    rejects: Path | None = None,
    id_column: str | None = None,
    progress: ProgressFn | None = None,
    log: Any = None,
) -> PredictResult:
    """Score `input` into `output` (the input's columns and a `prediction` column, in input order).
    `log`: LogSettings of the prediction log the scored rows are also written to (`--log`)."""
    from mlship.batch.logged import BatchLog
    from mlship.project import load_pipeline

    explicit_rejects = rejects is not None
    rejects = rejects or default_rejects(output)
    _check_options(
        input,
        output,
        rejects,
        explicit_rejects=explicit_rejects,
        force=force,
        jobs=jobs,
        batch_rows=batch_rows,
        max_errors=max_errors,
    )
    pipeline = load_pipeline(project)
    chunks = Chunks(input, batch_rows)
    out_tmp, rej_tmp = _temporary(output), _temporary(rejects)
    writer, reject_writer = Writer(out_tmp, output.suffix.lower()), Writer(rej_tmp, ".jsonl")
    run = _Run()
    batch_log = BatchLog(log, pipeline.spec.model_version) if log is not None else None
    started = last = time.perf_counter()
    try:
        with sigterm_interrupts(), _fs_errors(output):
            from mlship.batch.score import Fatal, score_stream

            try:
                for frame, scored in score_stream(
                    pipeline, _checked(chunks, id_column), jobs=jobs, max_errors=max_errors
                ):
                    if batch_log is not None:
                        now = time.perf_counter()
                        batch_log.chunk(frame, scored, now - last, run.read)
                        last = now
                    _write_chunk(frame, scored, run, writer, reject_writer, id_column)
                    if max_errors is not None and run.rejected > max_errors:
                        raise too_many_rejected(input, rejects, run, max_errors)
                    if progress is not None:
                        progress(run.read, chunks.fraction)
            except Fatal as exc:
                raise ProjectCodeError(f"the project's predict failed: {exc}") from None
            finally:
                writer.close()
                reject_writer.close()
                if batch_log is not None:
                    batch_log.close()
                if run.rejected:
                    os.replace(rej_tmp, rejects)  # the evidence stays, whether the run finished or not
            if run.scored == 0:
                raise nothing_scored(input, rejects, run)
            os.replace(out_tmp, output)
            if not run.rejected and (force or not explicit_rejects):
                rejects.unlink(missing_ok=True)  # a stale reject file would describe another run
    finally:
        for tmp in (out_tmp, rej_tmp):
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    seconds = time.perf_counter() - started
    return PredictResult(
        str(input),
        str(output),
        run.scored,
        round(seconds, 4),
        pipeline.spec.model_version,
        rejected=run.rejected,
        rejects=str(rejects) if run.rejected else None,
        jobs=jobs,
        log=batch_log.directory if batch_log is not None else None,
    )


def _check_options(
    input: Path,
    output: Path,
    rejects: Path,
    *,
    explicit_rejects: bool,
    force: bool,
    jobs: int,
    batch_rows: int,
    max_errors: int | None,
) -> None:
    """Everything that can be refused before the model is loaded or a row is read. The default reject
    file is this command's own and replaced by each run; one named with --rejects is the user's."""
    for path, option in ((output, "--output"), (rejects, "--rejects")):
        if path.exists() and path.resolve() == input.resolve():
            raise UsageError(f"{option} {path} is the --input file", hint="write to another file")
        check_target(path, option)
        if path.exists() and not force and (option == "--output" or explicit_rejects):
            raise UsageError(f"{path} already exists", hint=f"choose another {option} or pass --force")
        if option == "--output" and output.suffix.lower() not in OUTPUT_SUFFIXES:
            raise InputError(f"{output}: unsupported output format", hint="use .csv, .jsonl or .parquet")
    if output.absolute() == rejects.absolute():
        raise UsageError("--rejects and --output are the same file")
    if input.suffix.lower() not in INPUT_SUFFIXES:
        raise InputError(
            f"{input}: unsupported input format {input.suffix or '(none)'}",
            hint="use .csv, .jsonl, .json or .parquet",
        )
    if input.is_dir():
        raise InputError(f"input {input} is a directory, not a file", hint="pass the data file")
    if not input.is_file():
        raise InputError(f"input file {input} does not exist")
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {jobs}")
    if batch_rows < 1:
        raise UsageError(f"--batch-rows must be at least 1, not {batch_rows}")
    if max_errors is not None and max_errors < 0:
        raise UsageError(f"--max-errors must be 0 or more, not {max_errors}")


def _checked(chunks: Chunks, id_column: str | None) -> Iterator[Any]:
    for frame in chunks:
        if id_column is not None and id_column not in frame.columns:
            raise UsageError(
                f"--id-column {id_column!r} is not a column of {chunks.path}",
                hint=f"its columns: {', '.join(map(str, frame.columns))}",
            )
        yield frame


def _write_chunk(
    frame: Any, scored: Any, run: _Run, writer: Writer, reject_writer: Writer, id_column: str | None
) -> None:
    if scored.ok:
        writer.write(frame.iloc[scored.ok].assign(prediction=scored.predictions))
    if scored.errors:
        positions = sorted(scored.errors)
        bad = frame.iloc[positions]
        lead = {"_row": [run.read + p for p in positions], "_error": [scored.errors[p] for p in positions]}
        if id_column is not None:
            lead = {"_row": lead["_row"], id_column: bad[id_column].tolist(), "_error": lead["_error"]}
        rest = bad.drop(columns=[id_column]) if id_column is not None else bad
        import pandas as pd

        reject_writer.write(pd.concat([pd.DataFrame(lead, index=bad.index), rest], axis=1))
        if run.first_error is None:
            run.first_error = f"row {lead['_row'][0]}: {lead['_error'][0]}"
    run.scored += len(scored.ok)
    run.rejected += len(scored.errors)
    run.read += len(frame)


def too_many_rejected(input: object, rejects: Path, run: Any, max_errors: int) -> InputError:
    """The stop when rejects pass --max-errors (either engine: `run` has `rejected` and `first_error`)."""
    return InputError(
        f"{input}: more than {max_errors} rows were rejected ({run.rejected}), so no output was written "
        f"(the first, {run.first_error})",
        hint=f"the rejected rows and their errors are in {rejects}; --max-errors N lets more through",
    )


def nothing_scored(input: object, rejects: Path, run: Any) -> InputError:
    if not run.rejected:
        return InputError(f"{input} has no rows")
    return InputError(
        f"{input}: no row could be scored (the first, {run.first_error})",
        hint=f"the rejected rows and their errors are in {rejects}",
    )


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (a scheduler stopping the job) unwinds like Ctrl-C, so the temporary files are removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _fs_errors(output: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise InputError(f"cannot write --output {output}: {exc.strerror or exc}") from None
