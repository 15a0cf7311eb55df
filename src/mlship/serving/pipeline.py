"""The project's preprocess -> predict -> postprocess path, shared by train, predict and serve."""

from __future__ import annotations

import functools
import importlib
import inspect
import itertools
import operator
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class PipelineError(Exception):
    """The project's code could not be imported or raised; `stage` says where."""

    def __init__(self, stage: str, message: str):
        super().__init__(f"{stage}: {message}")
        self.stage = stage
        self.message = message


class RecordError(ValueError):
    """A request's records are not usable input (the client's fault, not the model's)."""


@dataclass(frozen=True)
class RuntimeSpec:
    """What the runtime needs of mlship.yaml, as plain data (written into every image as JSON)."""

    name: str
    version: str
    source_dir: str
    artifact_dir: str
    entrypoints: Mapping[str, str | None]
    gpu: str | bool = False
    model_sha256: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuntimeSpec:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @property
    def model_version(self) -> str:
        sha = (self.model_sha256 or "")[:12]
        return f"{self.version}+{sha}" if sha else self.version


def resolve(reference: str, source_dir: str | Path) -> Callable[..., Any]:
    """Import `package.module:function` from the project's source directory."""
    module_name, _, attr = reference.partition(":")
    src = str(Path(source_dir).resolve())
    if src not in sys.path:
        sys.path.insert(0, src)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        if missing.split(".")[0] == module_name.split(".")[0]:
            raise PipelineError("import", f"module {module_name!r} not found in {src}") from exc
        raise PipelineError(
            "import",
            f"{module_name} needs the package {missing!r}, which is not installed "
            "(pip install -r requirements.txt)",
        ) from exc
    except Exception as exc:  # the project's module raised while importing
        raise PipelineError("import", f"{module_name} failed to import: {exc!r}") from exc
    try:
        function = getattr(module, attr)
    except AttributeError:
        raise PipelineError("import", f"{module_name} has no function {attr!r}") from None
    if not callable(function):
        raise PipelineError("import", f"{reference} is not callable")
    return function


def records_frame(records: list[Mapping[str, Any]], columns: tuple[str, ...] | None = None) -> Any:
    """The records as a pandas DataFrame, as `DataFrame.from_records` builds it (the same dtypes).

    When every record has exactly the fields `columns` names (the contract schema: validated
    requests do), the frame is built from one list per column, in the schema's order, by the
    constructor pandas itself builds frames from arrays with (`DataFrame._from_arrays`: the same
    per-column dtype inference as a dict of lists, without the dict's handling) and with the
    column index made once per schema: ~40% less than from_records for one record, whose
    per-record path costs more than the model on a one-row request. Records with other fields
    (or no schema) go to from_records, which keeps them all.
    """
    import pandas as pd

    if columns and records:
        names = frozenset(columns)
        if all(map(operator.eq, itertools.repeat(names), map(_keys, records))):  # C-level: no generator
            arrays = [list(map(operator.itemgetter(name), records)) for name in columns]
            build = _array_constructor()
            if build is not None:
                # A view per frame: its own name, so a preprocess that sets `columns.name` keeps it.
                index = _column_index(columns).view()
                return build(arrays, columns=index, index=pd.RangeIndex(len(records)))
            return pd.DataFrame(dict(zip(columns, arrays, strict=True)), copy=False)
    return pd.DataFrame.from_records(list(records))


_keys = operator.methodcaller("keys")


@functools.cache
def _array_constructor() -> Callable[..., Any] | None:
    """pandas' `DataFrame._from_arrays` when it takes (arrays, columns, index) as it has since
    pandas 0.23; None (a dict of lists, the same frame) if a pandas release changes it."""
    import pandas as pd

    build = getattr(pd.DataFrame, "_from_arrays", None)
    try:
        parameters = inspect.signature(build).parameters if build is not None else {}
    except (TypeError, ValueError):
        return None
    return build if {"arrays", "columns", "index"} <= parameters.keys() else None


@functools.lru_cache(maxsize=16)
def _column_index(columns: tuple[str, ...]) -> Any:
    """A schema's column index, made once (an index of text costs ~50 us to build in pandas 3)."""
    import pandas as pd

    return pd.Index(list(columns))


def _refusal(exc: KeyError, raw: Any) -> str | None:
    """What a KeyError from preprocess tells the client, or None when it is the project's own failure.

    A message (`KeyError("records lack the fields ['price']")`, pandas' "['price'] not in index") or a
    bare field name the records do not have (`frame["price"]`) is about the input. A lookup of a value
    the records hold (`STORES[store]` for an unseen store), or of a key that is not a string, failed in
    the project's code: the client cannot fix that.
    """
    key = exc.args[0] if exc.args else None
    if not isinstance(key, str):
        return None
    if any(c.isspace() for c in key):
        return key
    columns = {str(c) for c in getattr(raw, "columns", [])}
    values = getattr(raw, "values", None)
    held = key in {v for v in values.ravel() if isinstance(v, str)} if values is not None else False
    return f"the records have no field {key!r}" if key not in columns and not held else None


def to_jsonable(values: Any) -> list[Any]:
    """Predictions as plain JSON values (numpy arrays, pandas series, lists of scalars)."""
    if hasattr(values, "tolist"):
        values = values.tolist()
    elif hasattr(values, "to_numpy"):
        values = values.to_numpy().tolist()
    out = list(values)
    if _PLAIN.issuperset(map(type, out)):  # tolist() of a numeric array: nothing to convert
        return out
    return [v.item() if hasattr(v, "item") else v for v in out]


_PLAIN = frozenset({float, int, str, bool, type(None)})


class Pipeline:
    """A loaded model with the project's entrypoints bound: records in, predictions out."""

    def __init__(self, spec: RuntimeSpec):
        self.spec = spec
        eps = spec.entrypoints
        self._load = resolve(str(eps["load"]), spec.source_dir)
        self._preprocess = resolve(str(eps["preprocess"]), spec.source_dir)
        self._predict = resolve(str(eps["predict"]), spec.source_dir)
        post = eps.get("postprocess")
        self._postprocess = resolve(post, spec.source_dir) if post else None
        schema = (spec.extra or {}).get("contract_schema") or {}
        self.columns: tuple[str, ...] | None = tuple(str(name) for name in schema) or None
        if not Path(spec.artifact_dir).is_dir():
            raise PipelineError("load", f"no artifacts in {spec.artifact_dir}: run `mlship train` first")
        try:
            self.model = self._load(spec.artifact_dir)
        except Exception as exc:
            raise PipelineError("load", f"load({spec.artifact_dir!r}) raised {exc!r}") from exc

    def predict_frame(self, raw: Any) -> list[Any]:
        """Score a pandas DataFrame of raw records; one prediction per row."""
        try:
            features = self._preprocess(raw, self.model)
        except KeyError as exc:
            refusal = _refusal(exc, raw)
            if refusal is None:
                raise  # a lookup inside the project's code failed: the project's error, not the client's
            raise RecordError(f"preprocess rejected the input: {refusal}") from exc
        except (ValueError, TypeError) as exc:  # how a preprocess refuses a value (it names the field)
            raise RecordError(f"preprocess rejected the input: {exc!r}") from exc
        predictions = self._predict(self.model, features)
        if self._postprocess is not None:
            predictions = self._postprocess(predictions, raw)
        out = to_jsonable(predictions)
        if len(out) != len(raw):
            raise PipelineError("predict", f"returned {len(out)} predictions for {len(raw)} records")
        return out

    def predict_records(self, records: Iterable[Mapping[str, Any]]) -> list[Any]:
        return self.predict_frame(records_frame(list(records), self.columns))
