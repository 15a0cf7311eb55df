"""The input schema: validate records against it, check that the model answers every record it
allows (boundaries, every category, optional fields left out), and derive it from training data."""

from __future__ import annotations

import functools
import json
from typing import Any

from mlship.config import FieldSpec
from mlship.contract.records import answer_problem, sample_records, show, typical_record
from mlship.contract.report import CheckResult, judged, skipped
from mlship.serving.validate import FieldRule, compile_schema, is_missing

DATA_ROWS_CHECKED = 10_000
MAX_CATEGORIES = 50


def field_problem(spec: FieldSpec, value: Any) -> str | None:
    """Why `value` breaks the field's spec, or None when the schema allows it: the runtime's own rule
    (`serving.validate`, strict: ranges and allowed values too), with a number written as text read
    as the number and NaN (a data file's missing value) as missing."""
    return _rule(spec).check(None if is_missing(value) else value, True, text_numbers=True)


@functools.lru_cache(maxsize=512)
def _compiled(key: str) -> FieldRule:
    return compile_schema({"field": json.loads(key)})[0]


def _rule(spec: FieldSpec) -> FieldRule:
    return _compiled(json.dumps(spec.model_dump(mode="json"), sort_keys=True))


def record_problems(schema: dict[str, FieldSpec], record: dict[str, Any]) -> list[str]:
    return [
        f"{name} {problem}"
        for name, spec in schema.items()
        if (problem := field_problem(spec, record.get(name))) is not None
    ]


def check_schema(project: Any, target: Any) -> CheckResult:
    contract = project.config.contract
    schema = contract.schema_
    if not schema:
        return skipped("schema", "schema", "no contract.schema (derive one: mlship test --init-schema)")
    failures = _data_violations(project, schema)
    for index, example in enumerate(contract.examples):
        label = example.name or f"example {index + 1}"
        failures += [f"{label}: {p}" for p in record_problems(schema, dict(example.input))]
    cases = allowed_records(schema, _base_record(project, schema))
    failures += _unanswered(target, cases)
    return judged(
        "schema",
        "schema",
        failures,
        f"the data and examples keep the schema; {len(cases)} records at its edges answered",
        what="schema expectations",
        fields=len(schema),
        edge_records=len(cases),
    )


def _base_record(project: Any, schema: dict[str, FieldSpec]) -> dict[str, Any]:
    """A real record that keeps the schema, so one changed field is the only thing at its edge."""
    for record in sample_records(project, 50):
        if not record_problems(schema, record):
            return record
    return typical_record(schema)


def allowed_records(schema: dict[str, FieldSpec], base: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(description, record) pairs: each field at its min and max, each allowed value, and each
    optional field null and absent; the other fields as in `base`."""
    cases: list[tuple[str, dict[str, Any]]] = []
    for name, spec in schema.items():
        values: list[tuple[str, Any]] = []
        if spec.min is not None:
            values.append(("the schema's min", _typed(spec, spec.min)))
        if spec.max is not None:
            values.append(("the schema's max", _typed(spec, spec.max)))
        values += [("an allowed value", v) for v in spec.values or []]
        if spec.type == "boolean":
            values += [("a boolean", True), ("a boolean", False)]
        if not spec.required:
            values.append(("optional", None))
        cases += [(f"{name}={show(v)} ({why})", {**base, name: v}) for why, v in values]
        if not spec.required:
            cases.append((f"{name} absent (optional)", {k: v for k, v in base.items() if k != name}))
    return cases


def _typed(spec: FieldSpec, value: float) -> Any:
    return int(value) if spec.type == "integer" and float(value).is_integer() else value


def _unanswered(target: Any, cases: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Records the schema allows that got no valid answer (a batch first, then one by one)."""
    # A record without a field cannot share a batch with records that have it: the batch's
    # column would exist (as null) and the absence would go untested.
    batch = [(d, r) for d, r in cases if "absent" not in d]
    alone = [(d, r) for d, r in cases if "absent" in d]
    outcome = target.call([r for _, r in batch]) if batch else None
    if outcome is not None and not answer_problem(outcome, len(batch)):
        batch = []
    failures = []
    for description, record in batch + alone:
        problem = answer_problem(target.call([record]), 1)
        if problem:
            failures.append(f"{description}: the schema allows it, but {problem}")
    return failures


def _data_violations(project: Any, schema: dict[str, FieldSpec]) -> list[str]:
    from mlship.contract.records import frame_records, input_columns, request_data
    from mlship.datafiles import read_table

    cfg = project.config
    role = request_data(project)
    if role is None:
        return []
    frame = read_table(project.data_path(role))
    frame = frame[input_columns(project, frame)].head(DATA_ROWS_CHECKED)
    records = frame_records(frame)
    failures = []
    for name, spec in schema.items():
        if name not in frame.columns:
            if spec.required:
                failures.append(f"{name}: required by the schema, but {cfg.data[role]} has no such column")
            continue
        bad = [(r[name], p) for r in records if (p := field_problem(spec, r.get(name))) is not None]
        if bad:
            shown = ", ".join(dict.fromkeys(show(v) for v, _ in bad[:20]).keys())
            failures.append(
                f"{name}: {len(bad)} of {len(records)} rows of {cfg.data[role]} break the schema"
                f" ({bad[0][1]}; values: {shown})"
            )
    return failures


def derive_schema(frame: Any) -> dict[str, dict[str, Any]]:
    """A schema from training data: observed types and ranges, categories when there are few,
    required where no value is missing. A start for the user to own, not a verdict."""
    import pandas as pd

    schema: dict[str, dict[str, Any]] = {}
    for name in frame.columns:
        column = frame[name]
        present = column.dropna()
        spec: dict[str, Any]
        if pd.api.types.is_bool_dtype(column):
            spec = {"type": "boolean"}
        elif pd.api.types.is_numeric_dtype(column):
            # Integers with gaps arrive as floats (NaN has no integer form): whole numbers stay integers.
            whole = (
                bool(column.isna().any()) and len(present) > 0 and bool((present == present.round()).all())
            )
            kind = "integer" if pd.api.types.is_integer_dtype(column) or whole else "number"
            cast = int if kind == "integer" else float
            spec = {"type": kind}
            if len(present):
                spec.update(min=cast(present.min()), max=cast(present.max()))
        else:
            values = sorted(present.astype(str).unique().tolist())
            spec = (
                {"type": "category", "values": values}
                if len(values) <= MAX_CATEGORIES
                else {"type": "string"}
            )
        if column.isna().any():
            spec["required"] = False
        schema[str(name)] = spec
    return schema
