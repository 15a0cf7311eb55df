"""scikit-learn's bundled data sets (`load_iris()`, ...) as the training data: at init the frame the
notebook builds is written as data/<name>.csv, and the statement that binds it reads that file instead.

Recognised, in the train path:
- `data = load_X(as_frame=True)` then `df = data.frame`           -> `df = pd.read_csv(...)`
- `X, y = load_X(return_X_y=True, as_frame=True)`                 -> read, then X / y split off the target
- `data = load_X()`, `df = pd.DataFrame(data.data, columns=data.feature_names)` and `df[col] = data.target`
                                                                  -> `df = pd.read_csv(...)`, col in the file
The loader's statement stays only where other code still reads the bunch (`data.target_names`).
"""

from __future__ import annotations

import ast
from dataclasses import asdict, dataclass, field
from typing import Any

from mlship.notebook import flow
from mlship.notebook.paths import RESOLVED
from mlship.notebook.stmts import Stmt

LOADERS = {"load_iris", "load_breast_cancer", "load_wine", "load_diabetes", "load_digits", "load_linnerud"}


@dataclass
class Bundled:
    loader: str  # "load_breast_cancer"
    cell: int  # where the loader is called
    file: str  # "breast_cancer.csv", written under data/
    target: dict[str, str] = field(default_factory=dict)  # column in the file -> the bunch's target it holds
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def frame(self) -> Any:
        """The frame the notebook builds: the loader's features and its target under the notebook's name."""
        from sklearn import datasets

        bunch = getattr(datasets, self.loader)(as_frame=True)
        frame = bunch.data.copy()
        targets = bunch.target if hasattr(bunch.target, "columns") else bunch.target.to_frame("target")
        for column, source in self.target.items():
            frame[column] = targets[source]
        return frame


def _loader(node: ast.AST) -> ast.Call | None:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            func = sub.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            if name in LOADERS:
                return sub
    return None


def _kw(call: ast.Call, name: str) -> bool:
    return any(
        k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is True for k in call.keywords
    )


def _attr_of(node: ast.AST, var: str, attr: str) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == var
        and node.attr == attr
    )


def _read(target: str, pandas: str, file: str, like: ast.stmt) -> Stmt:
    node = ast.parse(f"{target} = {pandas}.read_csv({file!r})").body[0]
    for sub in ast.walk(node):
        if hasattr(sub, "lineno"):
            sub.lineno, sub.col_offset = like.lineno, like.col_offset  # type: ignore[attr-defined]
            sub.end_lineno, sub.end_col_offset = like.end_lineno, like.end_col_offset  # type: ignore[attr-defined]
    assert isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
    setattr(node.value, RESOLVED, file)
    return Stmt(node, ast.unparse(node), 0)


def _targets_of(loader: str) -> list[str]:
    return ["Weight", "Waist", "Pulse"] if loader == "load_linnerud" else ["target"]


def materialise(
    body: list[Stmt], others: list[Stmt], pandas: str, taken: set[str]
) -> tuple[list[Stmt], Bundled] | None:
    """The train body reading data/<name>.csv instead of calling a bundled loader, or None (no loader)."""
    from mlship.notebook.stmts import fresh

    found = next(((i, s, c) for i, s in enumerate(body) if (c := _loader(s.node))), None)
    if found is None:
        return None
    index, stmt, call = found
    name = call.func.id if isinstance(call.func, ast.Name) else call.func.attr  # type: ignore[attr-defined]
    file = name.removeprefix("load_") + ".csv"
    bundled = Bundled(name, stmt.cell, file)
    node = stmt.node
    out = list(body)
    if not isinstance(node, ast.Assign) or node.value is not call or len(node.targets) != 1:
        raise ValueError(f"cell {stmt.cell}: `{ast.unparse(node)[:80]}`")
    target = node.targets[0]
    if (
        isinstance(target, ast.Tuple)
        and _kw(call, "return_X_y")
        and all(isinstance(e, ast.Name) for e in target.elts)
    ):
        x, y = (e.id for e in target.elts)  # type: ignore[attr-defined]
        frame = fresh("frame", taken)
        columns = _targets_of(name)
        bundled.target = {c: c for c in columns}
        picked = repr(columns[0]) if len(columns) == 1 else repr(columns)
        read = _read(frame, pandas, file, node)
        split = ast.parse(f"{x} = {frame}.drop(columns={columns!r})\n{y} = {frame}[{picked}]").body
        out[index : index + 1] = [
            Stmt(read.node, read.text, stmt.cell),
            *(Stmt(s, ast.unparse(s), stmt.cell) for s in split),
        ]
    elif isinstance(target, ast.Name):
        bunch = target.id
        replaced = False
        for j in range(index + 1, len(out)):
            later = out[j].node
            if not isinstance(later, ast.Assign) or len(later.targets) != 1:
                continue
            dest = later.targets[0]
            if isinstance(dest, ast.Name) and _binds_frame(later.value, bunch):
                read = _read(dest.id, pandas, file, later)
                out[j] = Stmt(read.node, read.text, out[j].cell)
                replaced = True
                frame_var = dest.id
                if _attr_of(later.value, bunch, "frame") or _frame_copy(later.value, bunch):
                    bundled.target = {c: c for c in _targets_of(name)}
                else:
                    for k in range(j + 1, len(out)):  # df["target"] = data.target
                        add = out[k].node
                        if (
                            isinstance(add, ast.Assign)
                            and isinstance(add.targets[0], ast.Subscript)
                            and flow.root_name(add.targets[0]) == frame_var
                            and isinstance(add.targets[0].slice, ast.Constant)
                            and _attr_of(add.value, bunch, "target")
                        ):
                            bundled.target[str(add.targets[0].slice.value)] = _targets_of(name)[0]
                            out[k] = Stmt(ast.Pass(), "", out[k].cell)
                break
        if not replaced:
            raise ValueError(f"cell {stmt.cell}: `{ast.unparse(node)[:80]}` (no frame built from `{bunch}`)")
        still_read = any(
            bunch in flow.access(s.node).reads for s in [*out[index + 1 :], *others] if s is not stmt
        )
        if not still_read:
            out[index] = Stmt(ast.Pass(), "", stmt.cell)
    else:
        raise ValueError(f"cell {stmt.cell}: `{ast.unparse(node)[:80]}`")
    bundled.note = f"{name}() materialised as data/{file}"
    return [s for s in out if not isinstance(s.node, ast.Pass)], bundled


def _frame_copy(value: ast.expr, bunch: str) -> bool:
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr == "copy"
        and _attr_of(value.func.value, bunch, "frame")
    )


def _binds_frame(value: ast.expr, bunch: str) -> bool:
    """`data.frame`, `data.frame.copy()` or `pd.DataFrame(data.data, columns=data.feature_names)`."""
    if _attr_of(value, bunch, "frame") or _frame_copy(value, bunch):
        return True
    return (
        isinstance(value, ast.Call)
        and (getattr(value.func, "attr", None) or getattr(value.func, "id", None)) == "DataFrame"
        and bool(value.args)
        and _attr_of(value.args[0], bunch, "data")
    )
