"""The record validator: types and required fields always, ranges and categories when strict."""

from __future__ import annotations

import pytest

from mlship.serving.validate import RequestError, Validator

SCHEMA = {
    "price": {"type": "number", "min": 0, "max": 100},
    "promo": {"type": "integer"},
    "store": {"type": "category", "values": ["north", "south"]},
    "flag": {"type": "boolean", "required": False},
}
GOOD = {"price": 5, "promo": 1.0, "store": "north"}


def problems(validator: Validator, records: list) -> list[str]:
    try:
        validator.records({"records": records})
    except RequestError as exc:
        assert exc.status == 422
        return [e["message"] for e in exc.errors]
    return []


def test_types_and_required() -> None:
    lenient = Validator(SCHEMA)
    assert problems(lenient, [GOOD, {**GOOD, "price": 500, "store": "east"}]) == []
    assert problems(lenient, [{**GOOD, "price": True}]) == ["records[0].price must be a number, got true"]
    assert problems(lenient, [{**GOOD, "promo": 1.5}]) == ["records[0].promo must be an integer, got 1.5"]
    assert problems(lenient, [{**GOOD, "flag": "yes"}]) == [
        'records[0].flag must be true or false, got "yes"'
    ]
    assert problems(lenient, [{"store": "north"}]) == [
        "records[0].price is required",
        "records[0].promo is required",
    ]


def test_missing_optional_fields_become_null() -> None:
    record = dict(GOOD)
    Validator(SCHEMA).records({"records": [record]})
    assert record == {**GOOD, "flag": None}


def test_strict_checks_ranges_and_categories() -> None:
    strict = Validator(SCHEMA, strict=True)
    assert problems(strict, [{**GOOD, "price": 500}]) == ["records[0].price must be <= 100, got 500"]
    assert problems(strict, [{**GOOD, "price": -1}]) == ["records[0].price must be >= 0, got -1"]
    assert problems(strict, [{**GOOD, "store": "east"}]) == [
        "records[0].store must be one of ['north', 'south'], got \"east\""
    ]


def test_errors_are_capped() -> None:
    found = problems(Validator(SCHEMA), [{}] * 100)
    assert len(found) == 20


@pytest.mark.parametrize("body", [None, [], {"records": {}}, {"records": []}])
def test_body_shape(body: object) -> None:
    with pytest.raises(RequestError) as info:
        Validator(SCHEMA).records(body)
    assert info.value.status == 422


def test_without_schema_records_must_be_objects() -> None:
    assert problems(Validator(None), [{"a": 1}]) == []
    assert problems(Validator(None), [{}, 3]) == [
        "records[0] is an empty object",
        "records[1] must be an object, got 3",
    ]


@pytest.mark.parametrize("strict", [False, True])
def test_the_column_check_accepts_only_what_the_record_check_accepts(strict: bool) -> None:
    """Bodies of several records take the column-by-column check first; whatever it lets through,
    the record-by-record check (the one that names problems) must let through too, and a body
    it refuses gets the record-by-record verdict."""
    import copy
    import random

    schema = {**SCHEMA, "name": {"type": "string"}, "any": {"type": "any", "required": False}}
    values = [None, True, False, 0, 1, -3, 2.5, 1e300, 10**400, -(10**400), 150, "", " ", "3", "2.5"]
    values += ["3e2", "north", "east", "x", [], {}, 1.0, float("inf")]
    rng = random.Random(17)
    validator = Validator(schema, strict=strict)
    accepted = 0
    for _ in range(3000):
        records = []
        for _ in range(rng.randint(2, 4)):
            base = {"price": 5.0, "promo": 1, "store": "north", "name": "a", "flag": True}
            for field in rng.sample(list(schema), rng.randint(0, 2)):
                if rng.random() < 0.2:
                    base.pop(field, None)
                else:
                    base[field] = rng.choice(values)
            records.append(base)
        fast = copy.deepcopy(records)
        if validator._columns_ok(fast):
            accepted += 1
            validator._check_each(fast)  # raises if the column check let a bad value through
            assert fast == [{**r, **{k: r.get(k) for k in ("flag", "any")}} for r in records]
        else:
            slow = copy.deepcopy(records)
            try:
                validator._check_each(slow)
                verdict = None
            except RequestError as exc:
                verdict = exc.message
            try:
                validator.check(copy.deepcopy(records))
                assert verdict is None
            except RequestError as exc:
                assert exc.message == verdict
    assert accepted > 100  # the fast path is taken, not only skipped
