"""Seed the contract once: `--init-schema` from the training data, `--init-examples` from the
trained model. The block is inserted as text under `contract:` so every other byte of the
user's mlship.yaml -- comments, order, quoting -- stays as it was; an existing block is never
overwritten (the user owns it after the first write)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from mlship.config import CONFIG_FILE, parse_config
from mlship.errors import ConfigError, InputError, UsageError

EXAMPLE_TOLERANCE_FRACTION = 0.01  # of the prediction's size: float noise across platforms, not drift


@dataclass
class SeedResult:
    key: str
    path: str
    line: int
    entries: int
    text: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def init_schema(project: Any) -> SeedResult:
    from mlship.contract.records import input_columns
    from mlship.contract.schema import derive_schema
    from mlship.datafiles import read_table

    data = _training_data(project)
    frame = read_table(project.root / data)
    schema = derive_schema(frame[input_columns(project, frame)])
    lines = [f"# derived by `mlship test --init-schema` from {data} ({len(frame)} rows); yours to edit"]
    lines += [f"{_key(name)}: {_flow(spec)}" for name, spec in schema.items()]
    return _write(project, "schema", lines, len(schema), source=data)


def init_examples(project: Any, count: int = 5) -> SeedResult:
    """Golden examples: `count` training records spread over the range of predictions, with the
    trained model's outputs and a tolerance of 1% of each output (at least 0.01)."""
    from mlship.contract.records import frame_records, input_columns
    from mlship.contract.targets import InProcessTarget
    from mlship.datafiles import read_table
    from mlship.project import load_pipeline

    data = _training_data(project)
    frame = read_table(project.root / data)
    records = frame_records(frame[input_columns(project, frame)].dropna())
    if not records:
        raise InputError(f"{data} has no complete rows to take examples from")
    target = InProcessTarget(load_pipeline(project))
    outcome = target.call(records)
    if outcome.kind != "answer":
        raise InputError(f"the model does not answer the records of {data}: {outcome.message}")
    version = target.pipeline.spec.model_version
    return seed_examples(
        project,
        records,
        outcome.predictions,
        count=count,
        source=data,
        note=f"recorded by `mlship test --init-examples` from {data} and model {version}",
    )


def seed_examples(
    project: Any, records: list[dict[str, Any]], outputs: list[Any], *, count: int, source: str, note: str
) -> SeedResult:
    """Write `contract.examples`: `count` of the records spread over the range of their outputs,
    each with its output and a tolerance of 1% of it (at least 0.01); refuses an existing block.
    The one seeding path: `mlship test --init-examples` and `mlship verify` both come here."""
    from mlship.contract.records import numeric

    order = sorted(range(len(records)), key=lambda i: numeric(outputs[i], None) or 0.0)
    picks = sorted({order[round(j * (len(order) - 1) / max(count - 1, 1))] for j in range(count)})
    lines = [f"# {note}"]
    for i in picks:
        output = outputs[i]
        number = numeric(output, None)
        tolerance = round(max(abs(number) * EXAMPLE_TOLERANCE_FRACTION, 0.01), 2) if number is not None else 0
        entry = {"input": records[i], "output": output, "tolerance": tolerance}
        lines.append(f"- {_flow(entry)}")
    return _write(project, "examples", lines, len(picks), source=source)


def _training_data(project: Any) -> str:
    if "train" not in project.config.data:
        raise UsageError("no training data to derive from", hint="set data.train in mlship.yaml")
    return project.config.data["train"]


def _key(name: str) -> str:
    return yaml.safe_dump(name, default_flow_style=True).removesuffix("\n...\n").strip()


def _flow(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000)
    return text.removesuffix("\n...\n").strip()


def _write(project: Any, key: str, lines: list[str], entries: int, *, source: str) -> SeedResult:
    path = project.root / CONFIG_FILE
    text = path.read_text(encoding="utf-8")
    new_text, line = insert_contract_key(text, key, lines)
    parse_config(new_text, source=CONFIG_FILE)  # the result must still be a valid config
    _atomic_write(path, new_text)
    return SeedResult(key, str(path), line, entries, "\n".join(lines), source)


def insert_contract_key(text: str, key: str, lines: list[str]) -> tuple[str, int]:
    """`text` with `contract.<key>` set to the block `lines`; returns the new text and the line
    of the inserted key. Refuses when the key is there already (and not empty)."""
    root = yaml.compose(text)
    if root is not None and not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{CONFIG_FILE}: the top level must be a mapping")
    source = text.splitlines(keepends=True)
    if source and not source[-1].endswith("\n"):
        source[-1] += "\n"
    contract = _child(root, "contract")
    if contract is None:  # no contract section: append one at the end
        block = ["contract:\n", f"  {key}:\n", *(f"    {line}\n" for line in lines)]
        return "".join(source + block), len(source) + 2
    key_node, value = contract
    if isinstance(value, yaml.MappingNode) and value.flow_style and value.value:
        raise UsageError(
            f"contract: in {CONFIG_FILE}:{key_node.start_mark.line + 1} is written inline ({{...}})",
            hint=f"write it as a block (one key per line) and run again, or add contract.{key} by hand",
        )
    existing = _child(value, key) if isinstance(value, yaml.MappingNode) else None
    if existing is not None and not _empty(existing[1]):
        raise UsageError(
            f"contract.{key} already exists ({CONFIG_FILE}:{existing[0].start_mark.line + 1});"
            " it is yours now",
            hint="edit it by hand, or delete it and run again to derive it afresh",
        )
    if existing is not None:  # `key:` with nothing under it: drop that line, write the block there
        del source[existing[0].start_mark.line]
    indent = _indent(value, key_node)
    at = key_node.start_mark.line + 1
    if isinstance(value, yaml.ScalarNode) or (isinstance(value, yaml.MappingNode) and value.flow_style):
        # `contract:` / `contract: {}` / `contract: null`: rewrite that line as a bare `contract:`.
        source[key_node.start_mark.line] = " " * key_node.start_mark.column + "contract:\n"
    inner = " " * (indent + max(indent - key_node.start_mark.column, 2))  # the file's own step
    block = [" " * indent + f"{key}:\n", *(f"{inner}{line}\n" for line in lines)]
    return "".join(source[:at] + block + source[at:]), at + 1


def _child(node: Any, name: str) -> tuple[Any, Any] | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next(((k, v) for k, v in node.value if getattr(k, "value", None) == name), None)


def _empty(node: Any) -> bool:
    if isinstance(node, yaml.ScalarNode):
        return node.value in ("", "~", "null", "Null", "NULL")
    return not node.value


def _indent(value: Any, key_node: Any) -> int:
    """The column of the contract's own keys, or two more than `contract:` when it has none."""
    if isinstance(value, yaml.MappingNode) and value.value and not value.flow_style:
        return int(value.value[0][0].start_mark.column)
    return int(key_node.start_mark.column) + 2


def _atomic_write(path: Path, text: str) -> None:
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
