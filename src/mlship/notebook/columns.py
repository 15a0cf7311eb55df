"""Raw columns the notebook converts to numbers (`pd.to_numeric(df[c], errors="coerce")`,
`df[c].astype(float)`, `.replace(" ", np.nan).astype(float)`), found statically, so the request schema
types such a column by what the code makes of it rather than by how the file stores it."""

from __future__ import annotations

import ast
from typing import Any

from mlship.notebook.read import Notebook

FLOATS = {"float", "float16", "float32", "float64", "Float32", "Float64", "double"}
INTS = {
    "int",
    "int8",
    "int16",
    "int32",
    "int64",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "uint8",
    "uint32",
    "uint64",
}


def _kind(node: ast.expr) -> str | None:
    """'number' / 'integer' for a numeric dtype written as `float`, `'float64'`, `np.int64`."""
    name = (
        node.id
        if isinstance(node, ast.Name)
        else node.attr
        if isinstance(node, ast.Attribute)
        else node.value
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        else None
    )
    if name in FLOATS:
        return "number"
    if name in INTS:
        return "integer"
    return None


def _columns_in(node: ast.AST) -> set[str]:
    return {
        sub.slice.value
        for sub in ast.walk(node)
        if isinstance(sub, ast.Subscript)
        and isinstance(sub.slice, ast.Constant)
        and isinstance(sub.slice.value, str)
    }


def _func_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _converted(value: ast.expr, column: str) -> str | None:
    """What `value` converts `column` to, when it is built from that column."""
    for sub in ast.walk(value):
        if not isinstance(sub, ast.Call):
            continue
        name = _func_name(sub)
        if name == "to_numeric" and sub.args and column in _columns_in(sub.args[0]):
            return "number"
        if name == "astype" and isinstance(sub.func, ast.Attribute) and sub.args:
            kind = _kind(sub.args[0])
            if kind and column in _columns_in(sub.func.value):
                return kind
    return None


def conversions(notebook: Notebook) -> dict[str, str]:
    """Column -> 'number' | 'integer', for each raw column a cell converts (the last conversion wins)."""
    found: dict[str, str] = {}
    for cell in notebook.code_cells:
        for node in ast.walk(cell.tree) if cell.tree else []:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if (
                        isinstance(target, ast.Subscript)
                        and isinstance(target.slice, ast.Constant)
                        and isinstance(target.slice.value, str)
                        and (kind := _converted(node.value, target.slice.value))
                    ):
                        found[target.slice.value] = kind
            elif isinstance(node, ast.Call) and _func_name(node) == "astype" and node.args:
                mapping = node.args[0]
                if isinstance(mapping, ast.Dict):  # df.astype({"TotalCharges": float})
                    for key, value in zip(mapping.keys, mapping.values, strict=True):
                        if (
                            isinstance(key, ast.Constant)
                            and isinstance(key.value, str)
                            and (kind := _kind(value))
                        ):
                            found[key.value] = kind
    return found


def apply(frame: Any, found: dict[str, str]) -> tuple[Any, bool]:
    """The frame with each converted text column as numbers (blank or unparsable -> null), and whether
    any value changed into a null (the file stores blanks the schema calls missing)."""
    import pandas as pd

    frame = frame.copy()
    blanked = False
    for column, kind in found.items():
        if column not in frame.columns or pd.api.types.is_numeric_dtype(frame[column]):
            continue
        before = frame[column].isna().sum()
        text = frame[column].astype(str).str.strip()
        numbers = pd.to_numeric(text.where(text != "", None), errors="coerce").astype(float)
        integral = numbers.notna().all() and bool((numbers == numbers.round()).all())
        frame[column] = numbers.astype("int64") if kind == "integer" and integral else numbers
        blanked = blanked or bool(frame[column].isna().sum() > before)
    return frame, blanked
