"""Tables read in chunks and written as they go: CSV and Parquet through pyarrow's streaming readers,
JSON lines through pandas' chunked reader, and a `.json` array (which cannot be streamed) whole.

Every chunk comes out as a pandas DataFrame, the type the project's preprocess is written for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from mlship.errors import InputError

INPUT_SUFFIXES = (".csv", ".jsonl", ".json", ".parquet")
OUTPUT_SUFFIXES = (".csv", ".jsonl", ".parquet")


class Chunks:
    """The chunks of one input file and how far through it the reading is (`fraction`, None if unknown)."""

    def __init__(self, path: Path, rows: int):
        self.path = path
        self.rows = rows
        self._fraction: Callable[[], float | None] = lambda: None

    @property
    def fraction(self) -> float | None:
        return self._fraction()

    def __iter__(self) -> Iterator[Any]:
        suffix = self.path.suffix.lower()
        try:
            if suffix == ".csv":
                yield from self._csv()
            elif suffix == ".parquet":
                yield from self._parquet()
            elif suffix == ".jsonl":
                yield from self._jsonl()
            else:
                yield from self._json()
        except InputError:
            raise
        except (ValueError, OSError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise InputError(
                f"cannot read {self.path}: {exc}",
                hint="column types are taken from the first rows; a column that changes type later "
                "(a number column with text further down) stops the run: fix the file or write it as Parquet",
            ) from None

    def _csv(self) -> Iterator[Any]:
        import pyarrow as pa
        from pyarrow import csv

        with self.path.open("rb") as probe:
            schema = csv.open_csv(probe, convert_options=csv_options()).schema
        convert = csv_options({f.name: pa.string() for f in schema if kept_as_text(f.type)})
        size = max(self.path.stat().st_size, 1)
        with self.path.open("rb") as handle:
            self._fraction = _position(handle, size)
            reader = csv.open_csv(handle, convert_options=convert)
            yield from _rechunk(reader, self.rows)

    def _parquet(self) -> Iterator[Any]:
        from pyarrow import parquet

        file = parquet.ParquetFile(self.path)
        total = max(file.metadata.num_rows, 1)
        done = 0
        self._fraction = lambda: done / total
        for batch in file.iter_batches(batch_size=self.rows):
            done += batch.num_rows
            yield batch.to_pandas()

    def _jsonl(self) -> Iterator[Any]:
        import pandas as pd

        size = max(self.path.stat().st_size, 1)
        with self.path.open("rb") as handle:
            self._fraction = _position(handle, size)
            yield from pd.read_json(handle, lines=True, chunksize=self.rows)

    def _json(self) -> Iterator[Any]:
        import pandas as pd

        frame = pd.read_json(self.path)
        self._fraction = lambda: 1.0
        for start in range(0, len(frame), self.rows):
            yield frame.iloc[start : start + self.rows]


def csv_options(column_types: dict[str, Any] | None = None) -> Any:
    """pandas' reading of a CSV, which the project's code is used to: empty fields are missing values."""
    from pyarrow import csv

    return csv.ConvertOptions(strings_can_be_null=True, column_types=column_types or {})


def kept_as_text(arrow_type: Any) -> bool:
    """Dates stay text (as they arrive in a request) instead of becoming timestamps, and a column with
    no value in the rows read so far is text. Both engines read a table's columns by this rule."""
    import pyarrow as pa

    return bool(pa.types.is_temporal(arrow_type) or pa.types.is_null(arrow_type))


def _position(handle: IO[bytes], size: int) -> Callable[[], float | None]:
    def fraction() -> float | None:
        try:
            return min(handle.tell() / size, 1.0)
        except (OSError, ValueError):
            return None

    return fraction


def _rechunk(reader: Any, rows: int) -> Iterator[Any]:
    """Record batches of whatever size the reader makes, as DataFrames of `rows` rows (the last fewer)."""
    import pyarrow as pa

    pending: list[Any] = []
    held = 0
    for batch in reader:
        pending.append(batch)
        held += batch.num_rows
        while held >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows).to_pandas()
            rest = table.slice(rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending).to_pandas()


class Writer:
    """Appends scored chunks to `path`: CSV with one header, JSON lines, Parquet row groups."""

    def __init__(self, path: Path, suffix: str):
        self.path = path
        self.suffix = suffix
        self._handle: IO[bytes] | None = None
        self._parquet: Any = None
        self._schema: Any = None
        self.rows = 0

    def write(self, frame: Any) -> None:
        if self.suffix == ".parquet":
            self._write_parquet(frame)
        else:
            if self._handle is None:
                self._handle = self.path.open("wb")
            if self.suffix == ".csv":
                frame.to_csv(self._handle, index=False, header=self.rows == 0)
            else:
                self._handle.write(frame.to_json(orient="records", lines=True).encode())
        self.rows += len(frame)

    def _write_parquet(self, frame: Any) -> None:
        import pyarrow as pa
        from pyarrow import parquet

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._parquet is None:
            self._schema = _settled(table.schema)
            self._parquet = parquet.ParquetWriter(self.path, self._schema)
        try:
            table = table.cast(self._schema)
        except (ValueError, TypeError, pa.ArrowException) as exc:
            raise InputError(
                f"row {self.rows} on has other column types than the rows before it ({exc})",
                hint="write the output as .csv or .jsonl, or give the input fixed types (Parquet)",
            ) from None
        self._parquet.write_table(table)

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._handle is not None:
            self._handle.close()
        if self.rows == 0 and not self.path.exists():
            self.path.touch()


def _settled(schema: Any) -> Any:
    """A column that is all missing in the first chunk gets a type later chunks can fill: text."""
    import pyarrow as pa

    fields = [pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in schema]
    return pa.schema(fields, metadata=schema.metadata)
