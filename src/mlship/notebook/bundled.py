"""scikit-learn's bundled data sets (`load_iris()`, ...) as the training data: at init the frame the
notebook builds is written as data/<name>.csv, and the statement that binds it reads that file instead.

Recognised, in the train path:
- `data = load_X(as_frame=True)` then `df = data.frame`           -> `df = pd.read_csv(...)`
- `X, y = load_X(return_X_y=True, as_frame=True)`                 -> read, then X / y split off the target
- `data = load_X()`, `df = pd.DataFrame(data.data, columns=data.feature_names)` and `df[col] = data.target`
                                                                  -> `df = pd.read_csv(...)`, col in the file
- `data = load_X()` then `X = data.data`, `y = data.target` (arrays) or `X = pd.DataFrame(data.data,
  columns=data.feature_names)` without the target added    -> `frame = pd.read_csv(...)`, then
  `X = frame[FEATURES].to_numpy()` / `frame[FEATURES]` and `y = frame['target'].to_numpy()`
- `X, y = load_X(return_X_y=True)` (arrays)                       -> read, then the same selections
The file holds the loader's feature names and its target (`target`; linnerud's three). The loader's
statement stays only where other code still reads the bunch (`data.target_names`).
"""

from __future__ import annotations

import ast
from dataclasses import asdict, dataclass, field
from functools import cache
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
    node = _locate(ast.parse(f"{target} = {pandas}.read_csv({file!r})").body[0], like)
    assert isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
    setattr(node.value, RESOLVED, file)
    return Stmt(node, ast.unparse(node), 0)


def _locate(node: ast.AST, like: ast.AST) -> Any:
    """`node` with every position set to `like`'s (the statement it stands for)."""
    for sub in ast.walk(node):
        if hasattr(sub, "lineno") or isinstance(sub, ast.expr | ast.stmt):
            sub.lineno, sub.col_offset = like.lineno, like.col_offset  # type: ignore[attr-defined]
            sub.end_lineno, sub.end_col_offset = like.end_lineno, like.end_col_offset  # type: ignore[attr-defined]
    return node


def _unseen(node: ast.AST) -> ast.AST:
    """A rewritten statement placed one column on: the notebook's run (the evidence, keyed by position)
    saw the loader's arrays there, made from no data read, not the rows of the file it now selects."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.expr | ast.stmt):
            sub.col_offset += 1
            sub.end_col_offset = (sub.end_col_offset or sub.col_offset) + 1
    return node


@cache
def _feature_names(loader: str) -> tuple[str, ...] | None:
    """The loader's feature names, the columns of the file before its target; None without scikit-learn."""
    try:
        from sklearn import datasets

        return tuple(str(c) for c in getattr(datasets, loader)(as_frame=True).data.columns)
    except Exception:  # noqa: BLE001 - then the features are the file's columns but the target
        return None


def _features(loader: str) -> list[str] | None:
    names = _feature_names(loader)
    return list(names) if names is not None else None


def _select(frame: str, features: list[str] | None, targets: list[str]) -> str:
    """`frame[[...features]]`, written out, or `frame.drop(columns=[...targets])` where unknown."""
    return f"{frame}[{features!r}]" if features is not None else f"{frame}.drop(columns={targets!r})"


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
    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
        body = [_as_attributes(s, node.targets[0].id) for s in body]
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
        if _kw(call, "as_frame"):
            split = ast.parse(f"{x} = {frame}.drop(columns={columns!r})\n{y} = {frame}[{picked}]").body
        else:  # arrays, as the loader returns them
            features = _select(frame, _features(name), columns)
            split = ast.parse(f"{x} = {features}.to_numpy()\n{y} = {frame}[{picked}].to_numpy()").body
        for sub in split:
            _unseen(_locate(sub, node))
        out[index : index + 1] = [
            Stmt(read.node, read.text, stmt.cell),
            *(Stmt(s, ast.unparse(s), stmt.cell) for s in split),
        ]
    elif isinstance(target, ast.Name) and not _frame_built(out, index, target.id):
        out = _arrays(out, index, target.id, call, pandas, file, taken, bundled)
        _drop_unread(out, index, stmt, others, target.id)
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
        _drop_unread(out, index, stmt, others, bunch)
    else:
        raise ValueError(f"cell {stmt.cell}: `{ast.unparse(node)[:80]}`")
    bundled.note = f"{name}() materialised as data/{file}"
    return [s for s in out if not isinstance(s.node, ast.Pass)], bundled


class _KeysAsAttributes(ast.NodeTransformer):
    """`cancer['data']` -> `cancer.data`: a Bunch's keys are its attributes."""

    def __init__(self, bunch: str):
        self.bunch = bunch

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        self.generic_visit(node)
        key = node.slice
        if (
            isinstance(node.value, ast.Name)
            and node.value.id == self.bunch
            and isinstance(key, ast.Constant)
            and isinstance(key.value, str)
            and key.value.isidentifier()
        ):
            return ast.copy_location(ast.Attribute(value=node.value, attr=key.value, ctx=node.ctx), node)
        return node


def _as_attributes(stmt: Stmt, bunch: str) -> Stmt:
    from mlship.notebook.stmts import apply_rewrite

    done = apply_rewrite(stmt, _KeysAsAttributes(bunch))
    return stmt if ast.dump(done.node) == ast.dump(stmt.node) else done


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


_READS = {"data", "target", "frame"}


def _bunch_attr(node: ast.AST, bunch: str) -> str | None:
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == bunch
        and isinstance(node.ctx, ast.Load)
    ):
        return node.attr
    return None


def _uses(node: ast.AST, bunch: str) -> bool:
    """Whether the statement reads the bunch's data, target or frame."""
    return any(_bunch_attr(sub, bunch) in _READS for sub in ast.walk(node))


def _frame_built(body: list[Stmt], index: int, bunch: str) -> bool:
    """Whether the bunch's first use binds the whole frame: `df = data.frame` or
    `df = pd.DataFrame(data.data, ...)` with `df[col] = data.target` after it."""
    first = next((j for j in range(index + 1, len(body)) if _uses(body[j].node, bunch)), None)
    if first is None:
        return True  # the frame path refuses it, naming the cell
    node = body[first].node
    if not (
        isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
    ):
        return False
    if not _binds_frame(node.value, bunch):
        return False
    if _attr_of(node.value, bunch, "frame") or _frame_copy(node.value, bunch):
        return True
    frame_var = node.targets[0].id
    return any(
        isinstance(add := s.node, ast.Assign)
        and isinstance(add.targets[0], ast.Subscript)
        and flow.root_name(add.targets[0]) == frame_var
        and _attr_of(add.value, bunch, "target")
        for s in body[first + 1 :]
    )


class _FromFile(ast.NodeTransformer):
    """The bunch's data and target as selections on the frame read from the materialised file."""

    def __init__(
        self, bunch: str, frame: str, features: list[str] | None, targets: list[str], as_frame: bool
    ):
        self.bunch, self.frame, self.as_frame = bunch, frame, as_frame
        self.features = _select(frame, features, targets)
        self.target = f"{frame}[{targets[0]!r}]" if len(targets) == 1 else f"{frame}[{targets!r}]"

    def _expr(self, text: str, like: ast.AST) -> ast.expr:
        return _locate(ast.parse(text, mode="eval").body, like)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        func = node.func
        if (
            (getattr(func, "attr", None) or getattr(func, "id", None)) == "DataFrame"
            and len(node.args) == 1
            and _attr_of(node.args[0], self.bunch, "data")
            and all(
                k.arg == "columns" and _attr_of(k.value, self.bunch, "feature_names") for k in node.keywords
            )
            and node.keywords
        ):
            return self._expr(self.features, node)
        return self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        attr = _bunch_attr(node, self.bunch)
        suffix = "" if self.as_frame else ".to_numpy()"
        if attr == "data":
            return self._expr(self.features + suffix, node)
        if attr == "target":
            return self._expr(self.target + suffix, node)
        if attr == "frame":
            return self._expr(self.frame, node)
        return self.generic_visit(node)


def _split(stmt: Stmt) -> list[Stmt]:
    """`X, y = data.data, data.target` as one assignment per name."""
    node = stmt.node
    if not (
        isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(names := node.targets[0], ast.Tuple)
        and isinstance(values := node.value, ast.Tuple)
        and len(names.elts) == len(values.elts)
        and all(isinstance(e, ast.Name) for e in names.elts)
        and not any(
            isinstance(sub, ast.Name) and sub.id in {e.id for e in names.elts}  # type: ignore[attr-defined]
            for v in values.elts
            for sub in ast.walk(v)
        )
    ):
        return [stmt]
    parts = [
        _locate(ast.Assign(targets=[ast.Name(e.id, ast.Store())], value=v), node)  # type: ignore[attr-defined]
        for e, v in zip(names.elts, values.elts, strict=True)
    ]
    return [Stmt(p, ast.unparse(p), stmt.cell) for p in parts]


def _arrays(
    body: list[Stmt],
    index: int,
    bunch: str,
    call: ast.Call,
    pandas: str,
    file: str,
    taken: set[str],
    found: Bundled,
) -> list[Stmt]:
    """`X = data.data`, `y = data.target`, ... as selections on the frame read from the file, which is
    read right before the first of them."""
    from mlship.notebook.stmts import apply_rewrite, fresh

    targets = _targets_of(found.loader)
    frame = fresh("frame", taken)
    found.target = {c: c for c in targets}
    rewriter = _FromFile(bunch, frame, _features(found.loader), targets, _kw(call, "as_frame"))
    out: list[Stmt] = []
    read = False
    for j, stmt in enumerate(body):
        if j <= index or not _uses(stmt.node, bunch):
            out.append(stmt)
            continue
        if not read:
            first = _read(frame, pandas, file, stmt.node)
            out.append(Stmt(first.node, first.text, stmt.cell))
            read = True
        for part in _split(stmt):  # each reads the bunch's data or target: each is rewritten
            rewritten = apply_rewrite(part, rewriter)
            _unseen(rewritten.node)
            out.append(rewritten)
    return out


def _drop_unread(body: list[Stmt], index: int, stmt: Stmt, others: list[Stmt], bunch: str) -> None:
    """The loader's statement goes where nothing reads the bunch any more (`data.target_names` does)."""
    still_read = any(
        bunch in flow.access(s.node).reads for s in [*body[index + 1 :], *others] if s is not stmt
    )
    if not still_read:
        body[index] = Stmt(ast.Pass(), "", stmt.cell)
