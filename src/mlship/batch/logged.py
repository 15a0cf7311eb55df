"""`mlship predict --log`: scored rows written to the serving prediction log, as a batch source.

The lines are the serving runtime's own (mlship.serving.predlog), so `mlship monitor` and `mlship replay`
read batch traffic as they read requests: endpoint `batch`, one line per LINE_ROWS scored rows (a
request of that many records), and one line per rejected row with status 422 and its error.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from typing import Any

from mlship.serving.predlog import PredictionLog
from mlship.serving.settings import LogSettings

ENDPOINT = "batch"
LINE_ROWS = 1000  # records per log line: a large request, still quick for monitor to read


class BatchLog:
    """Writes each scored chunk to the prediction log at once (no writer thread: the run is the writer)."""

    def __init__(self, settings: LogSettings, model_version: str, run_id: str | None = None):
        # --log asks for it: a project that turned logging off for serving still gets its batch log.
        self._log = PredictionLog(dataclasses.replace(settings, enabled=True), model_version)
        self.run_id = run_id or f"batch-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        self.directory = str(self._log.directory)

    def chunk(self, frame: Any, scored: Any, seconds: float, first_row: int, tag: str = "") -> None:
        """`frame`'s rows as `scored` left them; `first_row`: the chunk's first row in the input (or
        in its partition, `tag` naming it), so each line's request_id says where its rows came from."""
        per_row_ms = seconds * 1000.0 / max(len(frame), 1)
        ok = frame.iloc[scored.ok]
        records = ok.to_dict(orient="records")
        for start in range(0, len(records), LINE_ROWS):
            part = records[start : start + LINE_ROWS]
            row = first_row + scored.ok[start]
            outputs = scored.predictions[start : start + LINE_ROWS]
            self._log.record(self._id(tag, row), ENDPOINT, 200, per_row_ms * len(part), part, outputs, None)
        for position, error in sorted(scored.errors.items()):
            record = frame.iloc[[position]].to_dict(orient="records")
            self._log.record(
                self._id(tag, first_row + position), ENDPOINT, 422, per_row_ms, record, None, error
            )
        self._log.flush()
        if self._log.failed:
            from mlship.errors import InputError

            raise InputError(
                f"cannot write the prediction log in {self.directory}",
                hint="--log-dir DIR names another directory (or leave out --log)",
            )

    def _id(self, tag: str, row: int) -> str:
        return f"{self.run_id}-{tag}{row}"

    @property
    def written(self) -> int:
        return self._log.written

    def close(self) -> None:
        self._log.close()
