"""The project's data files (training, holdout, batch inputs) read into pandas, one way for every stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlship.errors import InputError

READERS = {
    ".csv": "read_csv",
    ".jsonl": "read_json",
    ".json": "read_json",
    ".parquet": "read_parquet",
}


def read_table(path: Path) -> Any:
    import pandas as pd

    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise InputError(
            f"{path}: unsupported input format {path.suffix or '(none)'}",
            hint="use .csv, .jsonl, .json or .parquet",
        )
    if not path.is_file():
        raise InputError(f"input file {path} does not exist")
    kwargs = {"lines": True} if path.suffix.lower() == ".jsonl" else {}
    try:
        return getattr(pd, reader)(path, **kwargs)
    except Exception as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
