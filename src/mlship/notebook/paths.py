"""Where the notebook's data comes from: every pandas read, its path resolved statically.

Paths are resolved by a small constant evaluator over the ast (string literals, names bound earlier to
constant expressions, `os.path.join`, `Path(...) / ...`, f-strings, `+`, `%`, `.format`); user code is
never run. Each resolved read call is annotated with `mlship_path`, which `flow.literal_path` reads, so
every stage resolves a read the same way.
"""

from __future__ import annotations

import ast
import posixpath
import re
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from mlship.notebook import flow
from mlship.notebook.read import Notebook

RESOLVED = "mlship_path"  # attribute set on a read call whose path is known
PATH_TYPES = {"Path", "PurePath", "PosixPath", "PurePosixPath", "WindowsPath", "PureWindowsPath"}


class PathValue(str):
    """A string that came from `pathlib.Path(...)`: `/` joins it."""


Value = str | int | float | bool


@dataclass
class DataFile:
    """One pandas read in the notebook."""

    cell: int
    line: int
    stage: str
    var: str | None  # the name the frame is read into (`df = pd.read_csv(...)`)
    expr: str  # the path argument as written
    path: str | None  # resolved statically; None when mlship cannot tell
    role: str = ""  # "train", "predict" or "" (another file)
    key: str = ""  # its key under mlship.yaml `data:`
    file: str | None = None  # the file it maps to, set by `init --from`
    span: tuple[int, int, int, int] | None = None  # the argument's (line, col, end line, end col) in the cell

    @property
    def name(self) -> str:
        return basename(self.path) if self.path else ""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["span"]
        return out


def basename(path: str) -> str:
    """The file name of a path as the notebook wrote it (a Windows path's too)."""
    if "\\" in path or re.match(r"^[A-Za-z]:", path):
        return PureWindowsPath(path).name
    return PurePosixPath(path).name


def _join(parts: list[str]) -> str:
    if any("\\" in p for p in parts):
        return str(PureWindowsPath(*parts))
    return posixpath.join(*parts)


class Evaluator:
    """Values of constant expressions given names already known (`env`)."""

    def __init__(self, env: dict[str, Value]):
        self.env = env

    def value(self, node: ast.expr | None) -> Value | None:
        try:
            return self._value(node)
        except (TypeError, ValueError, KeyError, IndexError, RecursionError):
            return None

    def _value(self, node: ast.expr | None) -> Value | None:
        if isinstance(node, ast.Constant):
            return node.value if isinstance(node.value, str | int | float | bool) else None
        if isinstance(node, ast.Name):
            return self.env.get(node.id)
        if isinstance(node, ast.JoinedStr):
            return self._fstring(node)
        if isinstance(node, ast.BinOp):
            return self._binop(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        return None

    def _fstring(self, node: ast.JoinedStr) -> str | None:
        out = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                out.append(str(part.value))
                continue
            assert isinstance(part, ast.FormattedValue)
            value = self._value(part.value)
            if value is None:
                return None
            spec = self._fstring(part.format_spec) if isinstance(part.format_spec, ast.JoinedStr) else ""
            if spec is None:
                return None
            text = repr(value) if part.conversion == ord("r") else value
            out.append(format(text, spec))
        return "".join(out)

    def _binop(self, node: ast.BinOp) -> Value | None:
        left = self._value(node.left)
        if isinstance(node.op, ast.Mod) and isinstance(left, str) and isinstance(node.right, ast.Tuple):
            args = tuple(self._value(e) for e in node.right.elts)
            return None if None in args else left % args
        right = self._value(node.right)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Div) and isinstance(left, str) and isinstance(right, str):
            if isinstance(left, PathValue) or isinstance(right, PathValue):
                return PathValue(_join([left, right]))
            return None
        if isinstance(node.op, ast.Add) and isinstance(left, str) and isinstance(right, str):
            return left + right
        if isinstance(node.op, ast.Mod) and isinstance(left, str):
            return left % right
        return None

    def _call(self, node: ast.Call) -> Value | None:
        func = node.func
        args = [self._value(a) for a in node.args]
        if any(a is None for a in args) or any(isinstance(a, ast.Starred) for a in node.args):
            return None
        strings = [a for a in args if isinstance(a, str)]
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if name in PATH_TYPES and len(strings) == len(args):
            return PathValue(_join(strings) if strings else ".")
        if name in {"str", "fspath"} and len(args) == 1 and isinstance(args[0], str):
            return str(args[0])
        if not isinstance(func, ast.Attribute):
            return None
        owner = func.value
        if name == "join" and _dotted(owner) in {"os.path", "path", "osp", "posixpath", "ntpath"}:
            return _join(strings) if strings and len(strings) == len(args) else None
        receiver = self._value(owner)
        if name == "join" and isinstance(receiver, str) and len(node.args) == 1:
            items = node.args[0]
            if isinstance(items, ast.List | ast.Tuple):
                parts = [self._value(e) for e in items.elts]
                if all(isinstance(p, str) for p in parts):
                    return receiver.join(str(p) for p in parts)
            return None
        if name == "joinpath" and isinstance(receiver, PathValue) and len(strings) == len(args):
            return PathValue(_join([receiver, *strings]))
        if name == "format" and isinstance(receiver, str):
            kwargs = {k.arg: self._value(k.value) for k in node.keywords if k.arg}
            if None in kwargs.values() or len(kwargs) != len(node.keywords):
                return None
            return receiver.format(*args, **kwargs)
        return None


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def bind(stmt: ast.stmt, env: dict[str, Value]) -> None:
    """Update the known constants after one top-level statement has run."""
    evaluate = Evaluator(env).value
    if isinstance(stmt, ast.Assign):
        value = evaluate(stmt.value)
        items = [evaluate(v) for v in stmt.value.elts] if isinstance(stmt.value, ast.Tuple | ast.List) else []
        for name in flow.access(stmt).assigns:
            env.pop(name, None)
        for target in stmt.targets:
            if isinstance(target, ast.Name):
                _set(env, target.id, value)
            elif isinstance(target, ast.Tuple | ast.List) and len(items) == len(target.elts):
                for elt, item in zip(target.elts, items, strict=True):
                    if isinstance(elt, ast.Name):
                        _set(env, elt.id, item)
        return
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
        _set(env, stmt.target.id, evaluate(stmt.value))
        return
    if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
        name = stmt.target.id
        _set(env, name, evaluate(ast.BinOp(ast.Name(id=name, ctx=ast.Load()), stmt.op, stmt.value)))
        return
    for name in flow.access(stmt).assigns:
        env.pop(name, None)  # bound in a loop, a with, a branch...: no longer a known constant


def _set(env: dict[str, Value], name: str, value: Value | None) -> None:
    if value is None:
        env.pop(name, None)
    else:
        env[name] = value


def path_arg(call: ast.Call) -> ast.expr | None:
    if call.args:
        return call.args[0]
    return next((k.value for k in call.keywords if k.arg in {"filepath_or_buffer", "path", "io"}), None)


def resolve_reads(notebook: Notebook, stages: dict[int, str]) -> list[DataFile]:
    """Every pandas read in the notebook's code cells, in order, its path resolved where static.

    Constants are tracked top to bottom through all code cells (a name assigned twice has its latest
    value at the read); each resolved call is annotated with `mlship_path`.
    """
    env: dict[str, Value] = {}
    found: list[DataFile] = []
    for cell in notebook.code_cells:
        for stmt in cell.tree.body if cell.tree else []:
            for call in flow.data_reads(stmt):
                arg = path_arg(call)
                value = Evaluator(env).value(arg)
                path = str(value) if isinstance(value, str) else None
                if path is not None:
                    setattr(call, RESOLVED, path)
                found.append(
                    DataFile(
                        cell=cell.index,
                        line=call.lineno,
                        stage=stages.get(cell.index, ""),
                        var=_read_into(stmt, call),
                        expr=ast.unparse(arg) if arg is not None else "",
                        path=path,
                        span=_span(arg),
                    )
                )
            bind(stmt, env)
    return found


def _span(arg: ast.expr | None) -> tuple[int, int, int, int] | None:
    if arg is None or arg.end_lineno is None or arg.end_col_offset is None:
        return None
    return (arg.lineno, arg.col_offset, arg.end_lineno, arg.end_col_offset)


def _read_into(stmt: ast.stmt, call: ast.Call) -> str | None:
    """`df` in `df = pd.read_csv(...)` (or `pd.read_csv(...).dropna()`); None otherwise."""
    if not (
        isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
    ):
        return None
    node: ast.expr = stmt.value
    while node is not call:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            node = node.func.value
        elif isinstance(node, ast.Attribute | ast.Subscript):
            node = node.value
        else:
            return None
    return stmt.targets[0].id


def same_call(read: DataFile, cell: int, call: ast.Call) -> bool:
    return read.cell == cell and read.line == call.lineno


def assign_keys(reads: list[DataFile]) -> None:
    """`train`, `predict`, and for every other read its variable name or file stem, each unique."""
    used = {"train", "predict"}
    by_path: dict[str, str] = {}
    for read in reads:
        if read.role:
            read.key = read.role
            if read.path:
                by_path.setdefault(read.path, read.key)
    for read in reads:
        if read.role:
            continue
        if read.path and read.path in by_path:
            read.key = by_path[read.path]  # the same file read twice
            continue
        stem = PurePosixPath(read.name).stem if read.name else ""
        base = re.sub(r"\W+", "_", read.var or stem or f"cell{read.cell}").strip("_") or f"cell{read.cell}"
        key, n = base, 1
        while key in used:
            n += 1
            key = f"{base}_{n}"
        used.add(key)
        read.key = key
        if read.path:
            by_path[read.path] = key
