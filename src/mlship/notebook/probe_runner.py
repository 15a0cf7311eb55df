"""Run a notebook's code once with instrumentation, in a fresh interpreter (the evidence for a plan).

    python -m mlship.notebook.probe_runner SPEC.json OUT.json

SPEC lists the notebook's statements in order (display lines left out), each with the names it
touches and the sub-expressions to probe. The run records, per statement, what each name it writes
holds afterwards (a frame of how many rows, a reduction, a fitted estimator, ...) and, per probe,
what the sub-expression evaluated to. Data reads are pointed at the files the user gave. Nothing
from mlship is imported here: the notebook's own packages only.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

READERS = ("read_csv", "read_parquet", "read_json", "read_excel", "read_table", "read_feather", "read_pickle")
MAX_VALUE_ITEMS = 200


def _redirect(mapping: dict[str, str]) -> Callable[[Any], Any]:
    """A path as the notebook wrote it -> the file the user gave (by the whole path or its name)."""
    by_name = {Path(k.replace("\\", "/")).name: v for k, v in mapping.items()}

    def resolve(path: Any) -> Any:
        if isinstance(path, str | os.PathLike):
            text = os.fspath(path)
            if text in mapping:
                return mapping[text]
            name = Path(text.replace("\\", "/")).name
            if not os.path.exists(text) and name in by_name:
                return by_name[name]
        return path

    return resolve


def _patch_readers(mapping: dict[str, str], reads: list[dict[str, Any]]) -> None:
    import pandas as pd

    resolve = _redirect(mapping)
    for name in READERS:
        original = getattr(pd, name, None)
        if original is None:
            continue

        def reader(*args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
            if args:
                args = (resolve(args[0]), *args[1:])
            for key in ("filepath_or_buffer", "path", "path_or_buf", "io"):
                if key in kwargs:
                    kwargs[key] = resolve(kwargs[key])
            result = _original(*args, **kwargs)
            _remember(result)
            given = args[0] if args else next(iter(kwargs.values()), None)
            reads.append({"reader": _name, "path": str(given), "rows": int(len(result))})
            return result

        setattr(pd, name, reader)


# Row indexes known to be rows of the data: what the readers returned, what was fitted or scored.
SOURCES: list[Any] = []


def _frames(ns: dict[str, Any]) -> dict[str, Any]:
    import pandas as pd

    frames = {k: v for k, v in ns.items() if isinstance(v, pd.DataFrame) and not k.startswith("__")}
    for i, source in enumerate(SOURCES):
        frames[f"__source_{i}"] = source
    return frames


def _remember(value: Any) -> None:
    import pandas as pd

    rows = isinstance(value, pd.DataFrame | pd.Series) and len(value) > 1
    if rows and not any(value.index is s.index for s in SOURCES) and len(SOURCES) < 50:
        SOURCES.append(pd.DataFrame(index=value.index))


def _is_estimator(value: Any) -> bool:
    if isinstance(value, type) or not callable(getattr(value, "fit", None)):
        return False
    return any(callable(getattr(value, m, None)) for m in ("predict", "transform", "predict_proba"))


def _fitted(value: Any) -> bool:
    try:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(value)
        return True
    except Exception:
        return any(k.endswith("_") and not k.startswith("_") for k in getattr(value, "__dict__", {}))


def _plain(value: Any) -> Any:
    """A JSON value for a small reduction (scalars, short lists and mappings), else None."""
    import numpy as np
    import pandas as pd

    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, list | tuple | pd.Index) and len(value) <= MAX_VALUE_ITEMS:
        listed = [_plain(v) for v in value]
        return listed if all(v is not None for v in listed) else None
    if isinstance(value, pd.Series | dict) and len(value) <= MAX_VALUE_ITEMS:
        items = dict(value.items())
        if all(isinstance(k, str | int) for k in items):
            out = {str(k): _plain(v) for k, v in items.items()}
            return (
                out
                if all(v is not None or items[k] is None for k, v in zip(items, out.values(), strict=True))
                else None
            )
    return None


def describe(
    value: Any, frames: dict[str, Any], *, exclude: str | None = None, lengths: set[int] | None = None
) -> dict[str, Any]:
    """What a value is, as far as serving cares: rows of the data, a reduction, a fitted estimator.
    `lengths`: row counts of the data the statement read (an array of as many rows is rows of it)."""
    import numpy as np
    import pandas as pd

    others = [f for k, f in frames.items() if k != exclude]
    lengths = {len(f) for f in others} | (lengths or set())
    if isinstance(value, pd.DataFrame | pd.Series | pd.Index):
        index = value if isinstance(value, pd.Index) else value.index
        same = any(len(f.index) == len(index) and f.index.equals(index) for f in others)
        subset = (
            not isinstance(value, pd.Index)
            and any(
                index.name == f.index.name and len(index) < len(f.index) and bool(index.isin(f.index).all())
                for f in others
            )
            and len(index) > 0
        )
        kind = (
            "frame"
            if isinstance(value, pd.DataFrame)
            else "series"
            if isinstance(value, pd.Series)
            else "index"
        )
        out: dict[str, Any] = {"kind": kind, "rows": int(len(value)), "rowlike": bool(same or subset)}
        if subset and not same:
            out["subset"] = True
        if isinstance(value, pd.DataFrame):
            out["columns"] = [str(c) for c in value.columns[:2000]]
            out["range_index"] = isinstance(value.index, pd.RangeIndex)
        elif isinstance(value, pd.Series):
            out["name"] = None if value.name is None else str(value.name)
        return out
    if isinstance(value, np.ndarray):
        rows = int(value.shape[0]) if value.ndim else 0
        return {"kind": "array", "rows": rows, "rowlike": bool(value.ndim and rows in lengths and rows > 1)}
    if _is_estimator(value):
        return {"kind": "estimator", "class": type(value).__name__, "id": id(value), "fitted": _fitted(value)}
    if isinstance(value, list | tuple | dict | set):
        return {"kind": "collection", "rows": len(value), "rowlike": len(value) in lengths and len(value) > 1}
    if value is None:  # what an in-place method returns: no value at all
        return {"kind": "none"}
    if isinstance(value, bool | int | float | str | bytes | np.generic):
        return {"kind": "scalar"}
    if hasattr(value, "__module__") and type(value).__name__ == "module":
        return {"kind": "module"}
    if callable(value):
        return {"kind": "callable"}
    return {"kind": "other", "type": type(value).__name__}


def main(spec_path: str, out_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    os.chdir(spec["cwd"])
    sys.path.insert(0, spec["cwd"])
    os.environ.setdefault("MPLBACKEND", "Agg")
    facts: dict[str, Any] = {
        "stmts": {}, "probes": {}, "reads": [], "rows": {}, "splits": {}, "error": None,
        "seeded": [], "seeded_splits": [],
    }  # fmt: skip
    seed = int(spec.get("seed", 0))
    _patch_readers(spec["files"], facts["reads"])
    # Jupyter's own builtins: a statement that displays still runs (its display goes nowhere).
    ns: dict[str, Any] = {"__name__": "__main__", "display": lambda *args, **kwargs: None}
    probes: dict[str, Any] = facts["probes"]

    def probe(key: str, value: Any, made: bool = False) -> Any:
        if made and _seed_unset(value, seed) and key not in facts["seeded"]:
            facts["seeded"].append(key)
        seen = probes.get(key)
        if seen is None:
            info = describe(value, _frames(ns))
            if not info.get("rowlike") and info["kind"] not in {"estimator", "module", "callable"}:
                info["value"] = _plain(value)
            info["count"] = 1
            info["ids"] = [id(value)] if info["kind"] == "estimator" else []
            probes[key] = info
        else:
            seen["count"] += 1
            if seen["kind"] == "estimator" and id(value) not in seen["ids"] and len(seen["ids"]) < 50:
                seen["ids"].append(id(value))
        return value

    # Row labels carried by arrays made from a labelled frame (`X = pipeline.fit_transform(df)`).
    carried: dict[int, tuple[Any, list[int]]] = {}

    def labels(key: str, value: Any) -> Any:
        if key not in facts["rows"]:
            found = _labels(value)
            if found is None and id(value) in carried and carried[id(value)][0] is value:
                found = carried[id(value)][1]
            facts["rows"][key] = found
            _remember(value)
        return value

    ns["__mlship_probe__"] = probe
    ns["__mlship_rows__"] = labels
    current = {"key": ""}
    patched = False
    started = time.perf_counter()
    for item in spec["stmts"]:
        current["key"] = item["key"]
        if not patched and ("model_selection" in item["code"] or "sklearn" in sys.modules):
            # Patched before the notebook imports it (only then: importing scikit-learn takes time).
            patched = _patch_split(facts, current, seed)
        names = item["names"]
        before = {n: len(ns[n]) for n in names if n in ns and hasattr(ns[n], "__len__") and _rows_like(ns[n])}
        from_rows = any(n in before for n in item.get("reads", names))
        before_labels = {
            n: found for n in item.get("reads", []) if n in ns and (found := _known_labels(ns[n], carried))
        }
        try:
            code = compile(item["code"], f"<cell {item['cell']}>", "exec")
            with contextlib.redirect_stdout(sys.stderr):
                exec(code, ns)
        except BaseException as exc:  # the notebook's own error: reported with its cell
            facts["error"] = {
                "key": item["key"],
                "cell": item["cell"],
                "type": type(exc).__name__,
                "message": str(exc).strip().splitlines()[0][:300] if str(exc).strip() else "",
            }
            break
        if not from_rows:  # a frame made from no other rows (a loader, a constructor): the data itself
            for name in item.get("writes", []):
                if name in ns and type(ns[name]).__name__ == "DataFrame":
                    _remember(ns[name])
        frames = _frames(ns)
        read_rows = {count for n, count in before.items() if n in item.get("reads", names) and count > 1}
        after = {n: describe(ns[n], frames, exclude=n, lengths=read_rows) for n in names if n in ns}
        for n, info in after.items():
            if info["kind"] in {"collection", "index", "scalar"}:
                info["value"] = _plain(ns[n])
        for n, count in before.items():
            if n in after and "rows" in after[n]:
                after[n]["rows_before"] = count
        _carry(ns, item, before_labels, carried)
        facts["stmts"][item["key"]] = after
    facts["seconds"] = round(time.perf_counter() - started, 3)
    Path(out_path).write_text(json.dumps(facts, default=str))


def _known_labels(value: Any, carried: dict[int, tuple[Any, list[int]]]) -> list[int] | None:
    found = _labels(value)
    if found is None and id(value) in carried and carried[id(value)][0] is value:
        return carried[id(value)][1]
    return found


def _carry(ns: dict[str, Any], item: dict[str, Any], before: dict[str, list[int]], carried: dict) -> None:
    """An array the statement made with as many rows as the one labelled frame it read has its labels."""
    import numpy as np

    for name in item.get("writes", []):
        value = ns.get(name)
        if not isinstance(value, np.ndarray) or not value.ndim:
            continue
        sources = [found for found in before.values() if len(found) == len(value)]
        if len(sources) == 1:
            carried[id(value)] = (value, sources[0])
            if len(carried) > 1000:
                carried.pop(next(iter(carried)))


def _labels(value: Any) -> list[int] | None:
    """Integer row labels of a pandas object (positions in the file it was read from), else None."""
    index = getattr(value, "index", None)
    if index is None or not hasattr(index, "dtype") or index.dtype.kind not in "iu" or len(index) > 1_000_000:
        return None
    return [int(v) for v in index]


def _seed_unset(value: Any, seed: int) -> bool:
    """Seed a just-made estimator or shuffling splitter whose `random_state` is unset; True if done."""
    if isinstance(value, type):
        return False
    get_params = getattr(value, "get_params", None)
    if callable(get_params) and callable(getattr(value, "set_params", None)):
        try:
            params = get_params(deep=False)
        except Exception:
            return False
        if "random_state" not in params or params["random_state"] is not None or _fitted(value):
            return False
        value.set_params(random_state=seed)
        return True
    if (
        type(value).__module__.startswith("sklearn.model_selection")
        and getattr(value, "shuffle", False) is True
        and getattr(value, "random_state", 0) is None
    ):
        value.random_state = seed
        return True
    return False


def _patch_split(facts: dict[str, Any], current: dict[str, str], seed: int) -> bool:
    """Record the row labels of each output of `train_test_split` (the holdout's rows); a shuffled
    split without `random_state` gets `seed` (and the statement is reported)."""
    try:
        import sklearn.model_selection as selection
    except ImportError:
        return True
    original = selection.train_test_split
    record = facts["splits"]

    def split(*arrays: Any, **options: Any) -> Any:
        if options.get("random_state") is None and options.get("shuffle", True):
            options["random_state"] = seed
            if current["key"] not in facts["seeded_splits"]:
                facts["seeded_splits"].append(current["key"])
        outputs = original(*arrays, **options)
        labels = [_labels(out) for out in outputs]
        if any(label is None for label in labels) and isinstance(options.get("random_state"), int) and arrays:
            # Arrays carry no row labels: the same split of 0..n-1 gives their positions in the input.
            import numpy as np

            positions = original(np.arange(len(arrays[0])), **options)
            labels = [label if label is not None else [int(p) for p in positions[i % 2]]
                      for i, label in enumerate(labels)]  # fmt: skip
        record.setdefault(current["key"], labels)
        return outputs

    selection.train_test_split = split
    return True


def _rows_like(value: Any) -> bool:
    import numpy as np
    import pandas as pd

    return isinstance(value, pd.DataFrame | pd.Series | np.ndarray)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
