"""Values a replayed statement must take from training, not from the request it serves.

- a reduction of the data inside a statement (`df['Age'].median()`) is computed once in training
  (hoisted: `age_median = ...` just before its use, per loop pass where it sits in a loop), saved,
  and read by name when serving;
- an object fitted again at each pass of a loop (`le.fit_transform(df[c])`) is kept as one copy per
  pass (`le_fitted[c]`), and serving only transforms with it;
- `pd.get_dummies` gets training's categories, `groupby(k)[c].transform('mean')` training's group
  statistics.
"""

from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass
from typing import Any

from mlship.notebook.evidence import SCOPES, Evidence, is_reduction, row_shaped
from mlship.notebook.slicing import calls_in, column_key
from mlship.notebook.stmts import Stmt


def value_name(node: ast.expr) -> str:
    """`age_median` for `df['Age'].median()`, `df_mean` for `df.mean()`, `skew_index` for
    `skew[...].index`."""
    import re

    method, column = "", ""
    sub: ast.AST = node
    while isinstance(sub, ast.Attribute | ast.Subscript | ast.Call):
        if isinstance(sub, ast.Call):
            if isinstance(sub.func, ast.Attribute) and not method:
                method = sub.func.attr
            sub = sub.func.value if isinstance(sub.func, ast.Attribute) else sub.func
            continue
        if isinstance(sub, ast.Attribute):
            method = method or sub.attr
        elif isinstance(sub.slice, ast.Constant) and isinstance(sub.slice.value, str):
            column = sub.slice.value
        sub = sub.value
    root = sub.id if isinstance(sub, ast.Name) else "value"
    base = f"{column or root}_{method}" if method else f"{column or root}_value"
    base = re.sub(r"\W+", "_", base).strip("_").lower() or "value"
    return base if base[0].isalpha() else f"v_{base}"


@dataclass
class Frozen:
    node_key: str
    name: str
    loops: list[str]  # the enclosing loop targets, as code: the key of a per-iteration value
    expr: ast.expr
    value: Any = None
    after: bool = False  # a snapshot of a fitted object, taken after the statement that fits it
    receiver: str = ""  # for a snapshot: the name of the object fitted at this call
    serve_ref: ast.expr | None = None  # what serving reads instead of the node (training keeps the node)


def frozen_nodes(stmt: Stmt, evidence: Evidence, data_names: set[str]) -> list[ast.expr]:
    """The outermost sub-expressions that the run saw evaluate to a reduction of the data."""
    from mlship.notebook.evidence import node_key

    found: list[ast.expr] = []

    def visit(node: ast.AST, in_while: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, SCOPES):
                continue
            is_method = isinstance(node, ast.Call) and child is node.func
            store = not isinstance(getattr(child, "ctx", ast.Load()), ast.Load)
            if isinstance(child, ast.Call | ast.Subscript | ast.Attribute) and not is_method and not store:
                info = evidence.probes.get(node_key(stmt.cell, child))
                reads = {n.id for n in ast.walk(child) if isinstance(n, ast.Name)}
                if is_reduction(info) and not row_shaped(child) and reads & data_names and not in_while:
                    found.append(child)
                    continue
            visit(child, in_while or isinstance(child, ast.While))

    visit(stmt.node, False)
    if isinstance(stmt.node, ast.Expr):  # the statement's own result is thrown away: nothing to freeze
        found = [n for n in found if n is not stmt.node.value]
    return found


class _Replace(ast.NodeTransformer):
    def __init__(self, cell: int, refs: dict[str, ast.expr]):
        self.cell = cell
        self.refs = refs

    def visit(self, node: ast.AST) -> Any:
        from mlship.notebook.evidence import node_key

        if hasattr(node, "end_lineno") and isinstance(node, ast.expr):
            ref = self.refs.get(node_key(self.cell, node))
            if ref is not None:
                return ast.copy_location(copy.deepcopy(ref), node)
        return super().visit(node)


def ref_of(frozen: Frozen) -> ast.expr:
    if not frozen.loops:
        return ast.Name(id=frozen.name, ctx=ast.Load())
    key = frozen.loops[0] if len(frozen.loops) == 1 else "(" + ", ".join(frozen.loops) + ")"
    return ast.parse(f"{frozen.name}[{key}]", mode="eval").body


def loops_of(stmt_node: ast.stmt, target: ast.expr) -> tuple[list[str], list[ast.stmt]]:
    """The loop targets around `target` and the chain of statements from the top one to the innermost."""
    chain: list[ast.stmt] = []

    def search(node: ast.AST, loops: list[str], stmts: list[ast.stmt]) -> list[str] | None:
        if node is target:
            chain.extend(stmts)
            return loops
        for child in ast.iter_child_nodes(node):
            inner = loops
            if isinstance(node, ast.For) and child in node.body:
                inner = [*loops, ast.unparse(node.target)]
            found = search(child, inner, [*stmts, child] if isinstance(child, ast.stmt) else stmts)
            if found is not None:
                return found
        return None

    return search(stmt_node, [], [stmt_node]) or [], chain


def freeze(stmt: Stmt, nodes: list[ast.expr], taken: set[str]) -> list[Frozen]:
    from mlship.notebook.evidence import node_key
    from mlship.notebook.stmts import fresh

    out = []
    for node in nodes:
        loops, _ = loops_of(stmt.node, node)
        out.append(Frozen(node_key(stmt.cell, node), fresh(value_name(node), taken), loops, node))
    return out


def hoisted_train(stmt: Stmt, frozen: list[Frozen]) -> list[Stmt]:
    """Training's copy of the statement: each frozen value computed and named just before its use."""
    from mlship.notebook.stmts import Stmt

    node = copy.deepcopy(stmt.node)
    by_key = {f.node_key: f for f in frozen}
    # Training keeps fitting the object, and keeps the expressions serving only wraps.
    refs = {f.node_key: ref_of(f) for f in frozen if not f.after and f.serve_ref is None}
    prefix: list[ast.stmt] = [ast.parse(f"{f.name} = {{}}").body[0] for f in frozen if f.loops]
    body = _hoist_block([node], by_key, refs, stmt.cell)
    return [Stmt(ast.fix_missing_locations(s), ast.unparse(s), stmt.cell) for s in prefix + body]


def _headers(s: ast.stmt) -> list[str]:
    """The fields of a compound statement evaluated outside its blocks (none for a simple one)."""
    if isinstance(s, ast.For | ast.AsyncFor):
        return ["iter"]
    if isinstance(s, ast.If | ast.While):
        return ["test"]
    if isinstance(s, ast.With | ast.AsyncWith):
        return ["items"]
    return []


COMPOUND = (ast.For, ast.AsyncFor, ast.If, ast.While, ast.With, ast.AsyncWith, ast.Try)


def _hoist_block(
    stmts: list[ast.stmt], frozen: dict[str, Frozen], refs: dict[str, ast.expr], cell: int
) -> list[ast.stmt]:
    """Each statement preceded by the assignments of the frozen values it uses, which it then reads."""
    from mlship.notebook.evidence import node_key

    replace = _Replace(cell, refs)
    out: list[ast.stmt] = []
    for s in stmts:
        after: list[ast.stmt] = []
        compound = isinstance(s, COMPOUND)
        parts: list[ast.AST] = []
        for name in _headers(s):
            value = getattr(s, name)
            parts += value if isinstance(value, list) else [value]
        if not compound:
            parts = [s]
        for part in parts:
            for sub in ast.walk(part):
                found = (
                    frozen.get(node_key(cell, sub))
                    if isinstance(sub, ast.expr) and hasattr(sub, "end_lineno")
                    else None
                )
                if found is not None:
                    target = ast.parse(f"{ast.unparse(ref_of(found))} = None").body[0].targets[0]  # type: ignore[attr-defined]
                    assign = ast.Assign(targets=[target], value=copy.deepcopy(found.expr), lineno=0)
                    (after if found.after else out).append(assign)
        if not compound:
            s = replace.visit(s)
        else:
            for name in _headers(s):
                value = getattr(s, name)
                setattr(
                    s,
                    name,
                    [replace.visit(v) for v in value] if isinstance(value, list) else replace.visit(value),
                )
            for block in ("body", "orelse", "finalbody"):
                if getattr(s, block, None):
                    setattr(s, block, _hoist_block(getattr(s, block), frozen, refs, cell))
            for handler in getattr(s, "handlers", []):
                handler.body = _hoist_block(handler.body, frozen, refs, cell)
        out.append(s)
        out.extend(after)
    return out


def snapshots(stmt: Stmt, external: set[str], refit: set[str], taken: set[str]) -> list[Frozen]:
    """Objects fitted again at each pass of a loop (`for c in cats: df[c] = le.fit_transform(df[c])`)
    or at several statements: each fit is kept as a copy, so each column is served by its own."""
    from mlship.notebook.evidence import node_key
    from mlship.notebook.stmts import fresh

    out = []
    for call in calls_in(stmt.node):
        func = call.func
        if not (isinstance(func, ast.Attribute) and func.attr in {"fit", "fit_transform"}):
            continue
        if not isinstance(func.value, ast.Name) or func.value.id not in external:
            continue
        name = func.value.id
        loops, _ = loops_of(stmt.node, call)
        if not loops and name not in refit:
            continue
        copy_expr = ast.parse(f"copy.deepcopy({name})", mode="eval").body
        snapshot = fresh(f"{name}_fitted", taken)
        out.append(Frozen(node_key(stmt.cell, call), snapshot, loops, copy_expr, after=True, receiver=name))
    return out


GROUP_STATS = {
    "mean",
    "median",
    "sum",
    "count",
    "std",
    "var",
    "min",
    "max",
    "nunique",
    "first",
    "last",
    "size",
}


def wrapped(stmt: Stmt, taken: set[str]) -> list[Frozen]:
    """Expressions that give a record what training saw, rather than what the record alone holds:

    - `pd.get_dummies(X, ...)`: the categories of X's text columns in training, so that a record gets
      the same dummy columns (`drop_first` drops the same one) -> `get_dummies(with_levels(X, levels))`;
    - `X.groupby('k')['c'].transform('mean')`: the group statistics of training, mapped by key ->
      `X['k'].map(group_means)`."""
    from mlship.notebook.evidence import node_key
    from mlship.notebook.stmts import fresh

    out: list[Frozen] = []
    for call in calls_in(stmt.node):
        func = call.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        loops, _ = loops_of(stmt.node, call)
        if name == "get_dummies" and call.args:
            arg = call.args[0]
            columns = next((k.value for k in call.keywords if k.arg == "columns"), ast.Constant(None))
            levels = fresh("dummy_levels", taken)
            train_expr = ast.Call(
                ast.Name("category_levels", ast.Load()), [copy.deepcopy(arg), copy.deepcopy(columns)], []
            )
            frozen = Frozen(node_key(stmt.cell, arg), levels, loops, train_expr)
            frozen.serve_ref = ast.Call(
                ast.Name("with_levels", ast.Load()), [copy.deepcopy(arg), ref_of(frozen)], []
            )
            out.append(frozen)
        elif name == "transform" and isinstance(func, ast.Attribute) and len(call.args) == 1:
            how, sub = call.args[0], func.value
            grouped = sub.value if isinstance(sub, ast.Subscript) else None
            if not (
                isinstance(how, ast.Constant) and how.value in GROUP_STATS and isinstance(grouped, ast.Call)
                and isinstance(grouped.func, ast.Attribute) and grouped.func.attr == "groupby"
                and len(grouped.args) == 1 and isinstance(grouped.args[0], ast.Constant)
            ):  # fmt: skip
                continue
            frame: ast.expr = grouped.func.value
            key = grouped.args[0]
            column = sub.slice.value if isinstance(sub.slice, ast.Constant) else "value"  # type: ignore[attr-defined]
            words = f"{column}_{how.value}_by_{key.value}"  # type: ignore[str-bytes-safe]
            base = re.sub(r"\W+", "_", words).strip("_").lower()
            stats = fresh(base if base[:1].isalpha() else f"v_{base}", taken)
            aggregate = ast.parse(f"{ast.unparse(sub)}.agg({how.value!r})", mode="eval").body
            frozen = Frozen(node_key(stmt.cell, call), stats, loops, aggregate)
            mapped = f"{ast.unparse(frame)}[{key.value!r}].map({ast.unparse(ref_of(frozen))})"
            frozen.serve_ref = ast.parse(mapped,
                                         mode="eval").body  # fmt: skip
            out.append(frozen)
    return out


class _UseSnapshots(ast.NodeTransformer):
    """Serving's copy of a statement with snapshots: each fitted object read from its snapshot, only
    ever transforming; its fits are left out."""

    def __init__(self, cell: int, snaps: list[Frozen], top: ast.stmt):
        from mlship.notebook.evidence import node_key

        self.by_site = {f.node_key: f for f in snaps}
        self.scope: dict[int, Frozen] = {}  # id(Name node) -> the snapshot it reads
        for node in ast.walk(top):
            if isinstance(node, ast.Call) and (snap := self.by_site.get(node_key(cell, node))):
                region = _region(top, node)
                position = (node.lineno, node.col_offset)
                for sub in ast.walk(region):
                    if (
                        isinstance(sub, ast.Name)
                        and sub.id == snap.receiver
                        and (sub.lineno, sub.col_offset) >= (position[0], 0)
                    ):
                        self.scope[id(sub)] = snap

    def visit_Expr(self, node: ast.Expr) -> Any:
        value = node.value
        fits = (
            isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "fit"
        )
        receiver = value.func.value if fits else None  # type: ignore[attr-defined]
        if isinstance(receiver, ast.Name) and id(receiver) in self.scope:
            return ast.Pass()
        return self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> Any:
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and id(func.value) in self.scope
        ):
            snap = self.scope[id(func.value)]
            if func.attr in {"fit_transform", "transform"} and len(node.args) == 1:
                # An unseen category is an error that names the field (the loop's column, or the one given).
                field = (
                    ast.parse(snap.loops[0], mode="eval").body if snap.loops
                    else ast.Constant(column_key(node.args[0]) or snap.receiver)
                )  # fmt: skip
                call = ast.Call(
                    ast.Name("known_categories", ast.Load()), [ref_of(snap), node.args[0], field], []
                )
                return ast.copy_location(self.generic_visit(call), node)
        return self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> Any:
        snap = self.scope.get(id(node))
        return ast.copy_location(ref_of(snap), node) if snap else node


def _region(top: ast.stmt, node: ast.expr) -> ast.AST:
    """The innermost loop body around `node` (as a module of statements), else the whole statement."""
    _, chain = loops_of(top, node)
    for stmt in reversed(chain):
        if isinstance(stmt, ast.For | ast.AsyncFor):
            return ast.Module(body=stmt.body, type_ignores=[])
    return top


def served_copy(stmt: Stmt, frozen: list[Frozen], constants: bool) -> Stmt:
    """Serving's copy: each frozen value read by name (from the artifacts), or as the run's constant."""
    from mlship.notebook.stmts import Stmt

    snaps = [f for f in frozen if f.after]
    frozen = [f for f in frozen if not f.after]
    if snaps:
        node = copy.deepcopy(stmt.node)
        node = _UseSnapshots(stmt.cell, snaps, node).visit(node)
        ast.fix_missing_locations(node)
        stmt = Stmt(node, ast.unparse(node), stmt.cell)
    refs: dict[str, ast.expr] = {}
    for f in frozen:
        if f.serve_ref is not None:
            refs[f.node_key] = f.serve_ref
        elif constants:
            refs[f.node_key] = ast.parse(repr(f.value), mode="eval").body
        else:
            refs[f.node_key] = ref_of(f)
    node = _Replace(stmt.cell, refs).visit(copy.deepcopy(stmt.node))
    ast.fix_missing_locations(node)
    return Stmt(node, ast.unparse(node) if frozen else stmt.text, stmt.cell)
