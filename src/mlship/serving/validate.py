"""Request validation: the body's shape, then each record against the contract schema.

Every problem names the record index and the field, so a client can fix its input. Types and
required fields are always checked when a schema exists; ranges and category values only in
strict mode (`serving.strict_schema`), because a model may be asked outside its training range
on purpose (the log then shows it to `mlship monitor`). Strict mode also takes numbers only as
JSON numbers, not as text: what it accepts is exactly what /openapi.json publishes.
"""

from __future__ import annotations

import json
import math
import operator
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlship.serving import jsonio

MAX_ERRORS = 20
_DICT_ONLY = frozenset({dict})


class RequestError(Exception):
    """The client's request is unusable; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or []


def parse_json(body: bytes) -> Any:
    """Strict JSON: NaN and Infinity are refused (they cannot be logged or answered as JSON)."""
    if not body:
        raise RequestError(400, "the request body is empty; send JSON")
    try:
        return jsonio.decode(body)
    except (jsonio.JSONDecodeError, RecursionError) as exc:
        raise RequestError(400, f"the request body is not valid UTF-8 JSON: {exc}") from None


def _describe(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


# Numbers stored as text, in ASCII digits only: the same patterns are published in /openapi.json,
# so what the runtime reads as a number and what the document says it reads are one rule.
NUMBER_TEXT = r"^\s*[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$"
INTEGER_TEXT = r"^\s*[-+]?[0-9]+(\.0*)?\s*$"
BLANK_TEXT = r"^\s*$"
_NUMBER_TEXT, _INTEGER_TEXT = re.compile(NUMBER_TEXT), re.compile(INTEGER_TEXT)
FLOAT_MAX = sys.float_info.max


def as_number(value: Any, *, integer: bool = False) -> Any:
    """A number stored as text ("196.70", as CSV exports and forms send it; " " for none) read as the
    number; any other value as it is. The one rule for number fields, in serving and in the contract."""
    if isinstance(value, str):
        if not value.strip():
            return None
        if (_INTEGER_TEXT if integer else _NUMBER_TEXT).match(value):
            return float(value)
    return value


def is_missing(value: Any) -> bool:
    """A missing value: null in a request, NaN in a data file or a frame."""
    return value is None or (isinstance(value, float) and value != value)


def is_finite(value: Any) -> bool:
    """A number a 64-bit float can hold: integers of 400 digits are numbers, but not finite ones."""
    if isinstance(value, int):
        return -FLOAT_MAX <= value <= FLOAT_MAX
    return math.isfinite(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    return _is_number(value) and (isinstance(value, int) or float(value).is_integer())


TYPE_CHECKS = {
    "number": (_is_number, "a number"),
    "integer": (_is_integer, "an integer"),
    "string": (lambda v: isinstance(v, str), "a string"),
    "boolean": (lambda v: isinstance(v, bool), "true or false"),
    "category": (lambda v: isinstance(v, (str, int)) and not isinstance(v, bool), "a category (string)"),
}


# The JSON types each kind accepts without conversion (bool is not an int here: type() is exact).
EXACT_TYPES: dict[str, frozenset[type]] = {
    "number": frozenset({int, float}),
    "integer": frozenset({int}),
    "string": frozenset({str}),
    "boolean": frozenset({bool}),
    "category": frozenset({str, int}),
}


@dataclass(frozen=True)
class FieldRule:
    name: str
    kind: str
    required: bool
    minimum: float | None
    maximum: float | None
    values: frozenset[Any] | None
    test: Any = None
    wanted: str = "a value"

    def check(self, value: Any, strict: bool, *, text_numbers: bool | None = None) -> str | None:
        """Why `value` breaks this field, or None. `strict` also enforces the published ranges and
        allowed values; numbers written as text are read as numbers unless strict (JSON numbers,
        as published) -- `text_numbers` overrides that for data files (the contract's checks)."""
        if self.kind in ("number", "integer") and (not strict if text_numbers is None else text_numbers):
            value = as_number(value, integer=self.kind == "integer")
        if value is None:
            return "is required" if self.required else None
        if self.test is not None and not self.test(value):
            return f"must be {self.wanted}, got {_describe(value)}"
        if self.kind in ("number", "integer") and not is_finite(value):
            return "must be a finite number"
        if not strict:
            return None
        if self.minimum is not None and value < self.minimum:
            return f"must be >= {self.minimum:g}, got {_describe(value)}"
        if self.maximum is not None and value > self.maximum:
            return f"must be <= {self.maximum:g}, got {_describe(value)}"
        if self.values is not None and value not in self.values:
            return f"must be one of {sorted(map(str, self.values))}, got {_describe(value)}"
        return None

    def column_ok(self, column: list[Any], strict: bool) -> bool:
        """Every value (none of them null) passes `check` as it is; False when in doubt."""
        exact = EXACT_TYPES.get(self.kind)
        if exact is None:
            return None not in column  # no type to check: only presence
        if not exact.issuperset(map(type, column)):  # one C-level pass, no generator
            return False
        if self.kind in ("number", "integer") and column:
            low, high = min(column), max(column)
            if not (is_finite(low) and is_finite(high)):
                return False
            if strict and (
                (self.minimum is not None and low < self.minimum)
                or (self.maximum is not None and high > self.maximum)
            ):
                return False
        if strict and self.values is not None:
            return all(value in self.values for value in column)
        return True


def compile_schema(schema: Mapping[str, Any] | None) -> list[FieldRule]:
    rules = []
    for name, spec in (schema or {}).items():
        spec = spec or {}
        values = spec.get("values")
        kind = str(spec.get("type", "any"))
        test, wanted = TYPE_CHECKS.get(kind, (None, "a value"))
        rules.append(
            FieldRule(
                name=str(name),
                kind=kind,
                required=bool(spec.get("required", True)),
                minimum=spec.get("min"),
                maximum=spec.get("max"),
                values=frozenset(values) if values is not None else None,
                test=test,
                wanted=wanted,
            )
        )
    return rules


class Validator:
    """Checks a decoded body `{"records": [...]}` and returns the list of records."""

    def __init__(self, schema: Mapping[str, Any] | None, *, strict: bool = False):
        self.rules = compile_schema(schema)
        self.strict = strict

    def records(self, payload: Any) -> list[dict[str, Any]]:
        if not isinstance(payload, dict):
            raise RequestError(422, 'the body must be a JSON object like {"records": [{...}, ...]}')
        records = payload.get("records")
        if records is None:
            raise RequestError(422, 'the body has no "records" list')
        if not isinstance(records, list):
            raise RequestError(422, f'"records" must be a list of objects, got {type(records).__name__}')
        if not records:
            raise RequestError(422, '"records" is empty; send at least one record')
        self.check(records)
        return records

    def records_as_sent(self, payload: Any) -> tuple[list[dict[str, Any]], bool]:
        """`records`, and whether they are still exactly what the client sent (no optional field
        left out had to be added as null)."""
        records = self.records(payload)
        return records, not self._filled

    def check(self, records: list[Any]) -> None:
        self._filled = False
        # One record: the per-record check is as quick and needs no column lists.
        if (
            len(records) > 1
            and self.rules
            and _DICT_ONLY.issuperset(map(type, records))  # a C-level pass, no generator
            and self._columns_ok(records)
        ):
            return
        self._check_each(records)

    _filled = False  # the last check added a left-out optional field (read on the same loop turn)

    def _columns_ok(self, records: list[dict[str, Any]]) -> bool:
        """The common case, one pass per column with no conversion: every value already of its
        field's JSON type. False sends the request to the record-by-record check, which reads
        numbers stored as text and names each problem."""
        strict = self.strict
        for rule in self.rules:
            name = rule.name
            try:  # every record has the field: a C-level pass
                column = list(map(operator.itemgetter(name), records))
            except KeyError:
                column = [record.get(name) for record in records]
            present = column
            if not rule.required and None in column:
                present = [value for value in column if value is not None]
                for record in records:  # left out -> null, as in _check_each
                    if name not in record:
                        record[name] = None
                        self._filled = True
            if not rule.column_ok(present, strict):
                return False
        return True

    def _check_each(self, records: list[Any]) -> None:
        errors: list[dict[str, Any]] = []
        rules, strict = self.rules, self.strict
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                errors.append(_error(index, None, f"must be an object, got {_describe(record)}"))
            elif rules:
                for rule in rules:
                    value = record.get(rule.name)
                    if value is None and not rule.required:
                        # An optional field left out is sent to the model as missing (null),
                        # so every record carries the same columns, alone or batched.
                        if rule.name not in record:
                            record[rule.name] = None
                            self._filled = True
                        continue
                    problem = rule.check(value, strict)
                    if problem is not None:
                        errors.append(_error(index, rule.name, problem))
            elif not record:
                errors.append(_error(index, None, "is an empty object"))
            if len(errors) >= MAX_ERRORS:
                break
        if errors:
            errors = errors[:MAX_ERRORS]
            first = errors[0]["message"]
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise RequestError(422, first + more, errors)


def _error(index: int, field: str | None, problem: str) -> dict[str, Any]:
    where = f"records[{index}]" + (f".{field}" if field else "")
    return {"record": index, "field": field, "message": f"{where} {problem}"}
