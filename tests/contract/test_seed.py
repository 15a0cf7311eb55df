"""--init-schema and --init-examples: written once into mlship.yaml, every other byte kept."""

from __future__ import annotations

import pytest
import yaml

from mlship.contract.seed import insert_contract_key
from mlship.errors import ConfigError, UsageError

from .contract_support import contract_json, mlship


def _cut(text: str, key: str) -> str:
    """mlship.yaml without its contract.<key> block (the lines indented under `  key:`)."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  {key}:"))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(("    ", "  #")))
    return "".join(lines[:start] + lines[end:])


def test_init_schema_derives_from_training_data_and_keeps_the_rest_of_the_file(demand):
    path = demand / "mlship.yaml"
    before = _cut(path.read_text(), "schema")
    path.write_text(before)
    proc = mlship("test", str(demand), "--init-schema")
    assert proc.returncode == 0, proc.stderr
    after = path.read_text()
    added = [line for line in after.splitlines(keepends=True) if line not in before.splitlines(keepends=True)]
    # Only the new block: every comment and line the user wrote is still there, in order.
    assert "".join(line for line in after.splitlines(keepends=True) if line not in added) == before
    schema = yaml.safe_load(after)["contract"]["schema"]
    assert schema["price"] == {"type": "number", "min": 2.04, "max": 11.97}
    assert schema["promo"] == {"type": "integer", "min": 0, "max": 1}
    assert schema["store"] == {"type": "category", "values": ["city", "north", "south"]}
    assert schema["temperature"]["required"] is False  # 11 rows lack it
    assert "demand" not in schema  # the target (params.target) is not an input
    assert "# derived by `mlship test --init-schema` from data/train.csv (400 rows)" in after
    # The derived schema is one the model keeps.
    code, report = contract_json(demand, "--check", "schema", "--check", "extremes")
    assert code == 0, report


def test_init_schema_never_overwrites_the_users_schema(demand):
    path = demand / "mlship.yaml"
    before = path.read_text()
    proc = mlship("test", str(demand), "--init-schema")
    assert proc.returncode == 2
    assert "contract.schema already exists (mlship.yaml:" in proc.stderr and "yours now" in proc.stderr
    assert path.read_text() == before


def test_init_examples_records_the_models_outputs_and_they_catch_a_change(demand):
    path = demand / "mlship.yaml"
    path.write_text(_cut(path.read_text(), "examples"))
    proc = mlship("test", str(demand), "--init-examples", "--json")
    assert proc.returncode == 0, proc.stderr
    examples = yaml.safe_load(path.read_text())["contract"]["examples"]
    assert len(examples) == 5
    outputs = sorted(e["output"] for e in examples)
    assert outputs[0] < 60 < 190 < outputs[-1]  # spread over the range, not five alike
    assert all(e["tolerance"] == round(max(e["output"] * 0.01, 0.01), 2) for e in examples)
    code, report = contract_json(demand, "--check", "examples")
    assert code == 0


CONTRACT_LINES = ["# made by a test", "price: {type: number}"]


def test_insert_appends_a_contract_section_when_there_is_none():
    text = "name: demo  # keep me\nparams:\n  seed: 1\n"
    new, line = insert_contract_key(text, "schema", CONTRACT_LINES)
    assert new == text + "contract:\n  schema:\n    # made by a test\n    price: {type: number}\n"
    assert line == 5


def test_insert_goes_under_an_existing_contract_at_its_indentation():
    text = "name: demo\ncontract:\n    # my latency\n    latency: {batch_size: 10}\nlogging: {}\n"
    new, line = insert_contract_key(text, "schema", CONTRACT_LINES)
    assert new == (
        "name: demo\ncontract:\n    schema:\n        # made by a test\n        price: {type: number}\n"
        "    # my latency\n    latency: {batch_size: 10}\nlogging: {}\n"
    )
    assert yaml.safe_load(new)["contract"]["latency"] == {"batch_size": 10}


@pytest.mark.parametrize("value", ["", " {}", " null", " ~"])
def test_insert_replaces_an_empty_contract(value):
    new, _ = insert_contract_key(f"name: demo\ncontract:{value}\nlogging: {{}}\n", "schema", CONTRACT_LINES)
    assert yaml.safe_load(new)["contract"] == {"schema": {"price": {"type": "number"}}}
    assert new.endswith("logging: {}\n")


def test_insert_fills_an_empty_key_and_refuses_a_full_one():
    new, _ = insert_contract_key("contract:\n  schema:\n  extremes: false\n", "schema", CONTRACT_LINES)
    assert yaml.safe_load(new)["contract"] == {"schema": {"price": {"type": "number"}}, "extremes": False}
    with pytest.raises(UsageError, match=r"contract.schema already exists \(mlship.yaml:2\)"):
        insert_contract_key("contract:\n  schema:\n    a: {type: number}\n", "schema", CONTRACT_LINES)


def test_insert_refuses_an_inline_contract_and_a_non_mapping_file():
    with pytest.raises(UsageError, match="written inline"):
        insert_contract_key("contract: {extremes: false}\n", "schema", CONTRACT_LINES)
    with pytest.raises(ConfigError):
        insert_contract_key("- a\n- b\n", "schema", CONTRACT_LINES)
