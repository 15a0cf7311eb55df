"""The serving path traced back from the model's own scoring call, with the run's evidence.

The notebook scores its holdout (`model.predict(X_test)`) or, failing that, fits the model
(`model.fit(X_train, y)`). From that call's features, the statements that built them are traced back
to the data file the rows came from; each is then classified by what the run saw it do:

- the data read becomes a copy of the request's records;
- a split or row selection (`train_test_split`, `X[mask]`, `.iloc[...]`) becomes the identity: a
  request is already the rows to score;
- a statement that drops rows (`dropna`, a filter, `drop_duplicates`) or only touches the target is
  left out: one record in, one answer out, and a request has no target;
- a statement whose results are all reductions of the data (a mean, a column or category list) or
  estimators is state: it runs in training only and its results are saved as artifacts;
- what is left transforms rows and is replayed, with every reduction inside it frozen: computed once
  in training (`age_median = df['Age'].median()`), saved, and read from the artifacts at serve time;
  fitted objects only `transform` (never re-fit on a request).
"""

from __future__ import annotations

import ast
import copy
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlship.notebook import flow
from mlship.notebook.evidence import SCOPES, Evidence, is_reduction, row_shaped
from mlship.notebook.rewrite import PREDICT_METHODS, ServeRewriter, columns_only

if TYPE_CHECKING:
    from mlship.notebook.read import Notebook
    from mlship.notebook.serve import ServePath
    from mlship.notebook.stmts import Stmt

HOLDOUT_ROWS = 1000
ROW_DROPPERS = {"dropna", "drop_duplicates", "query", "sample", "head", "tail", "nlargest", "nsmallest"}
FITS = {"fit", "fit_transform", "partial_fit"}
SPLITS = {"train_test_split"}


class RetraceError(Exception):
    """Why this scoring call cannot be traced to a serving path (the caller tries the next one)."""


@dataclass
class Traced:
    serve: ServePath
    train_hoists: dict[int, list[Stmt]] = field(default_factory=dict)  # id(stmt.node) -> replacement
    notes: list[str] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)  # what the training copy needs beyond the notebook's


@dataclass
class _Call:
    position: int
    stmt: Stmt
    call: ast.Call
    receiver: ast.expr
    features: ast.expr
    fit: bool  # the model's fit (no scoring call was found)


def _calls(node: ast.AST) -> list[ast.Call]:
    found: list[ast.Call] = []

    def visit(sub: ast.AST) -> None:
        for child in ast.iter_child_nodes(sub):
            if isinstance(child, SCOPES):
                continue
            if isinstance(child, ast.Call):
                found.append(child)
            visit(child)

    visit(node)
    return found


def _kind(name: str, body: list[Stmt], position: int, evidence: Evidence) -> dict[str, Any] | None:
    """What `name` held just after the last statement before `position` that wrote it."""
    for stmt in reversed(body[: position + 1]):
        info = evidence.after(stmt, name)
        if info is not None and name in flow.access(stmt.node).writes:
            return info
    return None


def _fitted_receiver(stmt: Stmt, receiver: ast.expr, body: list[Stmt], position: int, ev: Evidence) -> bool:
    if isinstance(receiver, ast.Name):
        info = _kind(receiver.id, body, position, ev)
    else:
        info = ev.probe(stmt.cell, receiver)
    if info is None:
        return not ev.ran and flow.root_name(receiver) is not None
    return info["kind"] == "estimator" and bool(info.get("fitted"))


def candidate_calls(body: list[Stmt], evidence: Evidence) -> list[_Call]:
    """Scoring calls on a fitted estimator, last first; then the model fits, last first."""
    scoring: list[_Call] = []
    fits: list[_Call] = []
    for position, stmt in enumerate(body):
        if not isinstance(stmt.node, ast.Assign | ast.Expr | ast.AnnAssign | ast.AugAssign):
            continue
        for call in _calls(stmt.node):
            func = call.func
            if not isinstance(func, ast.Attribute) or not call.args:
                continue
            if func.attr in PREDICT_METHODS and flow.root_name(func.value):
                if _fitted_receiver(stmt, func.value, body, position, evidence):
                    scoring.append(_Call(position, stmt, call, func.value, call.args[0], fit=False))
            elif func.attr == "fit" and len(call.args) >= 2:
                receiver: ast.expr = func.value
                if not isinstance(receiver, ast.Name):
                    node = stmt.node
                    if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)):
                        continue
                    receiver = ast.Name(id=node.targets[0].id, ctx=ast.Load())
                fits.append(_Call(position, stmt, call, receiver, call.args[0], fit=True))
    return list(reversed(scoring)) + list(reversed(fits))


def _split_sources(node: ast.stmt, needed: set[str]) -> dict[str, str] | None:
    """`{X_test: X}` for `X_train, X_test, ... = train_test_split(X, y)`; None if not a split.
    An input that is an expression (`df['y']`) maps to its code."""
    if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
        return None
    func = node.value.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    target = node.targets[0]
    if name not in SPLITS or not isinstance(target, ast.Tuple | ast.List):
        return None
    arrays = node.value.args
    out: dict[str, str] = {}
    for i, elt in enumerate(target.elts):
        if isinstance(elt, ast.Name) and elt.id in needed:
            source = arrays[i // 2] if i // 2 < len(arrays) else None
            out[elt.id] = source.id if isinstance(source, ast.Name) else ast.unparse(source) if source else "?"
    return out


def _row_selection(stmt: Stmt, evidence: Evidence) -> tuple[str, str] | None:
    """(`X_test`, `X`) for `X_test = X[mask]` / `X.iloc[n:]` / `X.sample(...)`: fewer rows of X."""
    node = stmt.node
    if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
        return None
    name = node.targets[0].id
    source = flow.root_name(node.value) if isinstance(node.value, ast.Subscript | ast.Call) else None
    if source is None or source == name:
        return None
    info = evidence.after(stmt, name)
    if info is not None:
        return (name, source) if info.get("subset") else None
    value = node.value
    if isinstance(value, ast.Subscript) and isinstance(value.value, ast.Attribute):
        if value.value.attr in {"iloc", "loc"} and isinstance(value.slice, ast.Slice):
            return name, source
    return None


def _drops_rows(stmt: Stmt, evidence: Evidence) -> bool:
    if evidence.has(stmt):
        facts = evidence.stmts[f"{stmt.cell}:{stmt.node.lineno}:{stmt.node.col_offset}"]
        for info in facts.values():
            before = info.get("rows_before")
            if before is not None and info.get("kind") in {"frame", "series"} and info["rows"] != before:
                return True
        return False
    node = stmt.node
    if flow.calls_method(node, ROW_DROPPERS):
        return True
    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
        for sub in ast.walk(node.value):
            if isinstance(sub, ast.Subscript) and flow.root_name(sub) == node.targets[0].id:
                key = sub.slice
                columns = isinstance(key, ast.Constant) or (
                    isinstance(key, ast.List | ast.Tuple) and all(isinstance(e, ast.Constant) for e in key.elts)
                )
                if not columns and not isinstance(key, ast.Name):
                    return True
    return False


def _target_only(node: ast.stmt, targets: set[str]) -> bool:
    """`df['Survived'] = ...`, `df['Churn'].fillna(..., inplace=True)`: a request has no target."""
    if not targets:
        return False
    if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):  # y = df.pop('price')
        func, args = node.value.func, node.value.args
        if isinstance(func, ast.Attribute) and func.attr == "pop" and args and isinstance(args[0], ast.Constant):
            return args[0].value in targets
    if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
        goals = node.targets if isinstance(node, ast.Assign) else [node.target]
        return all(_column_key(t) in targets for t in goals)
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        func = node.value.func
        return isinstance(func, ast.Attribute) and _column_key(func.value) in targets
    return False


def _column_key(node: ast.AST) -> str | None:
    if isinstance(node, ast.Subscript):
        key = node.slice
        if isinstance(key, ast.Tuple) and len(key.elts) == 2:  # df.loc[:, 'y']
            key = key.elts[1]
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return key.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.attr not in {"loc", "iloc"}:
        return node.attr
    return None


def _is_state(stmt: Stmt, evidence: Evidence) -> bool:
    """Every name the statement writes holds a reduction of the data or an estimator."""
    acc = flow.access(stmt.node)
    if not acc.writes:
        return False
    infos = [evidence.after(stmt, n) for n in acc.writes]
    if any(info is None for info in infos):
        return False
    return all(info["kind"] == "estimator" or is_reduction(info) for info in infos if info)


def _fits_only(stmt: Stmt, hit: set[str], evidence: Evidence) -> bool:
    """What serving needs from the statement is only an estimator it fits (`X_train = sc.fit_transform(...)`
    when serving needs `sc`): the fitted object comes from the artifacts."""
    infos = [evidence.after(stmt, n) for n in hit]
    if all(info is not None and info["kind"] == "estimator" for info in infos):
        return True
    if evidence.ran:
        return False
    fitted = {flow.root_name(c.func.value) for c in flow.calls_method(stmt.node, FITS)}  # type: ignore[attr-defined]
    return hit <= fitted


def _read_call(stmt: Stmt) -> ast.Call | None:
    node = stmt.node
    if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
        return None
    reads = flow.data_reads(node.value)
    return reads[0] if reads else None


def target_columns(body: list[Stmt], fit: _Call | None, evidence: Evidence) -> list[str]:
    """The columns the model learns to predict: the name of the fitted `y`, or where `y` was read."""
    if fit is None or len(fit.call.args) < 2:
        return []
    y = fit.call.args[1]
    found: list[str] = []
    if isinstance(y, ast.Name):
        info = _kind(y.id, body, fit.position, evidence)
        if info and info.get("name"):
            found.append(str(info["name"]))
        names = {y.id}
        for stmt in reversed(body[: fit.position]):
            acc = flow.access(stmt.node)
            if not acc.assigns & names:
                continue
            for name in acc.reads - names:  # y = np.where(noise, flipped, y_clean): back to the clean target
                kinds = {facts[name]["kind"] for facts in evidence.stmts.values() if name in facts}
                if kinds and kinds <= {"series", "array"}:
                    names.add(name)
            split = _split_sources(stmt.node, names)
            if split:
                for source in split.values():
                    if source.isidentifier():
                        names.add(source)
                    else:  # train_test_split(X, df['y']): the target is that column
                        found += [k for sub in ast.walk(ast.parse(source)) if (k := _column_key(sub))]
                continue
            for sub in ast.walk(stmt.node):
                key = _column_key(sub) if isinstance(sub, ast.Subscript) else None
                if key:
                    found.append(key)
                if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr == "pop":
                    if sub.args and isinstance(sub.args[0], ast.Constant):
                        found.append(str(sub.args[0].value))
    elif isinstance(y, ast.Subscript | ast.Attribute):
        key = _column_key(y)
        if key:
            found.append(key)
    return list(dict.fromkeys(found))


def _last_fit(body: list[Stmt], position: int) -> _Call | None:
    for index in range(position, -1, -1):
        for call in _calls(body[index].node):
            if isinstance(call.func, ast.Attribute) and call.func.attr == "fit" and len(call.args) >= 2:
                return _Call(index, body[index], call, call.func.value, call.args[0], fit=True)
    return None


def _fit_call(body: list[Stmt], model: str) -> _Call | None:
    """The last `model.fit(X, y)` (or `model = Est().fit(X, y)`) before serving."""
    for position in range(len(body) - 1, -1, -1):
        stmt = body[position]
        for call in _calls(stmt.node):
            func = call.func
            if isinstance(func, ast.Attribute) and func.attr == "fit" and len(call.args) >= 2:
                receiver = func.value
                named = isinstance(receiver, ast.Name) and receiver.id == model
                assigned = (
                    isinstance(stmt.node, ast.Assign)
                    and isinstance(stmt.node.targets[0], ast.Name)
                    and stmt.node.targets[0].id == model
                )
                if named or assigned:
                    return _Call(position, stmt, call, receiver, call.args[0], fit=True)
    return None


@dataclass
class _Slice:
    kept: list[tuple[Stmt, str]]  # (statement, role): read | identity | transform, in notebook order
    read: tuple[Stmt, ast.Call]
    left_out: list[tuple[Stmt, str]]
    holdout: list[tuple[Stmt, str, int]]  # the split statements the features passed: (stmt, name, output)


def trace(body: list[Stmt], call: _Call, evidence: Evidence, targets: set[str]) -> _Slice:
    """The statements before `call` that built its features, each with its role in serving."""
    needed = {n.id for n in ast.walk(call.features) if isinstance(n, ast.Name)}
    kept: list[tuple[Stmt, str]] = []
    left_out: list[tuple[Stmt, str]] = []
    holdout: list[tuple[Stmt, str, int]] = []
    read: tuple[Stmt, ast.Call] | None = None
    for position in range(call.position - 1, -1, -1):
        stmt = body[position]
        acc = flow.access(stmt.node)
        hit = acc.writes & needed
        if not hit:
            continue
        read_call = _read_call(stmt)
        if read_call is not None and stmt.node.targets[0].id in hit:  # type: ignore[attr-defined]
            if read is not None:
                raise RetraceError(
                    f"the features combine two data reads (cells {stmt.cell} and {read[0].cell})"
                )
            read = (stmt, read_call)
            kept.append((stmt, "read"))
            needed -= acc.writes
            continue
        split = _split_sources(stmt.node, needed)
        if split:
            odd = next((source for source in split.values() if not source.isidentifier()), None)
            if odd:
                raise RetraceError(f"cell {stmt.cell} splits `{odd}`, an expression: assign it to a name first")
            for name, source in split.items():
                kept.append((_identity(stmt, name, source, "the split"), "identity"))
                target = stmt.node.targets[0]  # type: ignore[attr-defined]
                index = [getattr(e, "id", None) for e in target.elts].index(name)
                holdout.append((stmt, name, index))
            needed = (needed - set(split)) | set(split.values())
            continue
        selection = _row_selection(stmt, evidence)
        if selection and selection[0] in needed:
            name, source = selection
            kept.append((_identity(stmt, name, source, "a row selection"), "identity"))
            needed = (needed - {name}) | {source}
            continue
        if _drops_rows(stmt, evidence):
            left_out.append((stmt, "drops rows"))
            continue
        if _target_only(stmt.node, targets):
            left_out.append((stmt, "reads or writes only the target"))
            continue
        if _is_state(stmt, evidence) or _fits_only(stmt, hit, evidence):
            left_out.append((stmt, "state"))
            continue
        kept.append((stmt, "transform"))
        needed |= acc.reads | acc.mutates
    if read is None:
        raise RetraceError("the features are not built from a data file the notebook reads")
    kept.reverse()
    left_out.reverse()
    return _Slice(kept, read, left_out, holdout)


def _identity(stmt: Stmt, name: str, source: str, what: str) -> Stmt:
    from mlship.notebook.stmts import Stmt

    node = ast.Assign(
        targets=[ast.Name(id=name, ctx=ast.Store())], value=ast.Name(id=source, ctx=ast.Load()), lineno=0
    )
    node = ast.copy_location(node, stmt.node)
    ast.fix_missing_locations(node)
    text = f"# cell {stmt.cell} took {what} here; a request is already the rows to score\n{name} = {source}"
    return Stmt(node, text, stmt.cell)


# ---- freezing the reductions inside replayed statements ----------------------------------------


def _value_name(node: ast.expr) -> str:
    """`age_median` for `df['Age'].median()`, `df_mean` for `df.mean()`, `skew_index` for `skew[...].index`."""
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
class _Frozen:
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


def _ref(frozen: _Frozen) -> ast.expr:
    if not frozen.loops:
        return ast.Name(id=frozen.name, ctx=ast.Load())
    key = frozen.loops[0] if len(frozen.loops) == 1 else "(" + ", ".join(frozen.loops) + ")"
    return ast.parse(f"{frozen.name}[{key}]", mode="eval").body


def _loops_of(stmt_node: ast.stmt, target: ast.expr) -> tuple[list[str], list[ast.stmt]]:
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


def freeze(stmt: Stmt, nodes: list[ast.expr], taken: set[str]) -> list[_Frozen]:
    from mlship.notebook.evidence import node_key
    from mlship.notebook.stmts import fresh

    out = []
    for node in nodes:
        loops, _ = _loops_of(stmt.node, node)
        out.append(_Frozen(node_key(stmt.cell, node), fresh(_value_name(node), taken), loops, node))
    return out


def hoisted_train(stmt: Stmt, frozen: list[_Frozen]) -> list[Stmt]:
    """Training's copy of the statement: each frozen value computed and named just before its use."""
    from mlship.notebook.stmts import Stmt

    node = copy.deepcopy(stmt.node)
    by_key = {f.node_key: f for f in frozen}
    # Training keeps fitting the object, and keeps the expressions serving only wraps.
    refs = {f.node_key: _ref(f) for f in frozen if not f.after and f.serve_ref is None}
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
    stmts: list[ast.stmt], frozen: dict[str, _Frozen], refs: dict[str, ast.expr], cell: int
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
                found = frozen.get(node_key(cell, sub)) if isinstance(sub, ast.expr) and hasattr(sub, "end_lineno") else None
                if found is not None:
                    target = ast.parse(f"{ast.unparse(_ref(found))} = None").body[0].targets[0]  # type: ignore[attr-defined]
                    assign = ast.Assign(targets=[target], value=copy.deepcopy(found.expr), lineno=0)
                    (after if found.after else out).append(assign)
        if not compound:
            s = replace.visit(s)
        else:
            for name in _headers(s):
                value = getattr(s, name)
                setattr(s, name, [replace.visit(v) for v in value] if isinstance(value, list) else replace.visit(value))
            for block in ("body", "orelse", "finalbody"):
                if getattr(s, block, None):
                    setattr(s, block, _hoist_block(getattr(s, block), frozen, refs, cell))
            for handler in getattr(s, "handlers", []):
                handler.body = _hoist_block(handler.body, frozen, refs, cell)
        out.append(s)
        out.extend(after)
    return out


def snapshots(stmt: Stmt, external: set[str], refit: set[str], taken: set[str]) -> list[_Frozen]:
    """Objects fitted again at each pass of a loop (`for c in cats: df[c] = le.fit_transform(df[c])`)
    or at several statements: each fit is kept as a copy, so each column is served by its own."""
    from mlship.notebook.evidence import node_key
    from mlship.notebook.stmts import fresh

    out = []
    for call in _calls(stmt.node):
        func = call.func
        if not (isinstance(func, ast.Attribute) and func.attr in {"fit", "fit_transform"}):
            continue
        if not isinstance(func.value, ast.Name) or func.value.id not in external:
            continue
        name = func.value.id
        loops, _ = _loops_of(stmt.node, call)
        if not loops and name not in refit:
            continue
        copy_expr = ast.parse(f"copy.deepcopy({name})", mode="eval").body
        snapshot = fresh(f"{name}_fitted", taken)
        out.append(_Frozen(node_key(stmt.cell, call), snapshot, loops, copy_expr, after=True, receiver=name))
    return out


GROUP_STATS = {"mean", "median", "sum", "count", "std", "var", "min", "max", "nunique", "first", "last", "size"}


def wrapped(stmt: Stmt, taken: set[str]) -> list[_Frozen]:
    """Expressions that give a record what training saw, rather than what the record alone holds:

    - `pd.get_dummies(X, ...)`: the categories of X's text columns in training, so that a record gets
      the same dummy columns (`drop_first` drops the same one) -> `get_dummies(with_levels(X, levels))`;
    - `X.groupby('k')['c'].transform('mean')`: the group statistics of training, mapped by key ->
      `X['k'].map(group_means)`."""
    from mlship.notebook.evidence import node_key
    from mlship.notebook.stmts import fresh

    out: list[_Frozen] = []
    for call in _calls(stmt.node):
        func = call.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        loops, _ = _loops_of(stmt.node, call)
        if name == "get_dummies" and call.args:
            arg = call.args[0]
            columns = next((k.value for k in call.keywords if k.arg == "columns"), ast.Constant(None))
            levels = fresh("dummy_levels", taken)
            train_expr = ast.Call(ast.Name("category_levels", ast.Load()), [copy.deepcopy(arg), copy.deepcopy(columns)], [])
            frozen = _Frozen(node_key(stmt.cell, arg), levels, loops, train_expr)
            frozen.serve_ref = ast.Call(ast.Name("with_levels", ast.Load()), [copy.deepcopy(arg), _ref(frozen)], [])
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
            frame, key = grouped.func.value, grouped.args[0]
            column = sub.slice.value if isinstance(sub.slice, ast.Constant) else "value"  # type: ignore[attr-defined]
            base = re.sub(r"\W+", "_", f"{column}_{how.value}_by_{key.value}").strip("_").lower()
            stats = fresh(base if base[:1].isalpha() else f"v_{base}", taken)
            train_expr = ast.parse(f"{ast.unparse(sub)}.agg({how.value!r})", mode="eval").body
            frozen = _Frozen(node_key(stmt.cell, call), stats, loops, train_expr)
            frozen.serve_ref = ast.parse(f"{ast.unparse(frame)}[{key.value!r}].map({ast.unparse(_ref(frozen))})",
                                         mode="eval").body  # fmt: skip
            out.append(frozen)
    return out


class _UseSnapshots(ast.NodeTransformer):
    """Serving's copy of a statement with snapshots: each fitted object read from its snapshot, only
    ever transforming; its fits are left out."""

    def __init__(self, cell: int, snaps: list[_Frozen], top: ast.stmt):
        from mlship.notebook.evidence import node_key

        self.by_site = {f.node_key: f for f in snaps}
        self.scope: dict[int, _Frozen] = {}  # id(Name node) -> the snapshot it reads
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
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "fit":
            if isinstance(value.func.value, ast.Name) and id(value.func.value) in self.scope:
                return ast.Pass()
        return self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> Any:
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and id(func.value) in self.scope:
            snap = self.scope[id(func.value)]
            if func.attr in {"fit_transform", "transform"} and len(node.args) == 1:
                # An unseen category is an error that names the field (the loop's column, or the one given).
                field = (
                    ast.parse(snap.loops[0], mode="eval").body if snap.loops
                    else ast.Constant(_column_key(node.args[0]) or snap.receiver)
                )  # fmt: skip
                call = ast.Call(ast.Name("known_categories", ast.Load()), [_ref(snap), node.args[0], field], [])
                return ast.copy_location(self.generic_visit(call), node)
        return self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> Any:
        snap = self.scope.get(id(node))
        return ast.copy_location(_ref(snap), node) if snap else node


def _region(top: ast.stmt, node: ast.AST) -> ast.AST:
    """The innermost loop body around `node` (as a module of statements), else the whole statement."""
    _, chain = _loops_of(top, node)
    for stmt in reversed(chain):
        if isinstance(stmt, ast.For | ast.AsyncFor):
            return ast.Module(body=stmt.body, type_ignores=[])
    return top


def served_copy(stmt: Stmt, frozen: list[_Frozen], constants: bool) -> Stmt:
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
            refs[f.node_key] = _ref(f)
    node = _Replace(stmt.cell, refs).visit(copy.deepcopy(stmt.node))
    ast.fix_missing_locations(node)
    return Stmt(node, ast.unparse(node) if frozen else stmt.text, stmt.cell)


# ---- the serving path ----------------------------------------------------------------------------


class _IgnoreMissingDrop(ast.NodeTransformer):
    """`df.drop(columns=[target])` on a request that has no target: drop what is there."""

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "drop" and all(k.arg != "errors" for k in node.keywords):
            node.keywords.append(ast.keyword(arg="errors", value=ast.Constant("ignore")))
        return node


def _data_names(body: list[Stmt], evidence: Evidence) -> set[str]:
    """Names that held rows of the data, or reductions of it, at some point of the run."""
    names: set[str] = set()
    for facts in evidence.stmts.values():
        for name, info in facts.items():
            if info["kind"] in {"frame", "series", "array", "index", "collection", "scalar"}:
                names.add(name)
    if not evidence.ran:
        names = {n for s in body for n in flow.access(s.node).writes}
    return names


def _mentions(node: ast.AST, columns: set[str]) -> bool:
    """The statement names a target column other than in a `drop(...)` (which ignores it)."""
    drops = {id(sub) for c in ast.walk(node) if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute)
             and c.func.attr == "drop" for sub in ast.walk(c)}  # fmt: skip
    return any(
        isinstance(sub, ast.Constant) and sub.value in columns and id(sub) not in drops for sub in ast.walk(node)
    )


def retrace_serve_path(
    notebook: Notebook,
    body: list[Stmt],
    *,
    train_ids: set[int],
    train_read: Stmt | None,
    train_written: set[str],
    taken: set[str],
    warnings: list[str],
    evidence: Evidence,
) -> Traced:
    """The serving path from the last scoring call that traces back to a data file (or the fit)."""
    reasons: list[str] = []
    for candidate in candidate_calls(body, evidence):
        try:
            return _build(
                notebook, body, candidate, train_ids=train_ids, train_read=train_read,
                train_written=train_written, taken=taken, warnings=warnings, evidence=evidence,
            )  # fmt: skip
        except RetraceError as exc:
            where = "scoring" if not candidate.fit else "fit"
            reasons.append(f"cell {candidate.stmt.cell} ({where} `{ast.unparse(candidate.call)[:60]}`): {exc}")
    from mlship.errors import InputError

    raise InputError(
        f"{notebook.path}: mlship cannot tell how a record becomes the model's features"
        + ("; " + "; ".join(reasons[:3]) if reasons else ": no cell fits a model on features and a target"),
        hint="add a cell that reads new records and calls the model, e.g. "
        "`new = pd.read_csv('new.csv'); predictions = model.predict(prepare(new))`, and tag it `predict`",
    )


def _build(
    notebook: Notebook,
    body: list[Stmt],
    call: _Call,
    *,
    train_ids: set[int],
    train_read: Stmt | None,
    train_written: set[str],
    taken: set[str],
    warnings: list[str],
    evidence: Evidence,
) -> Traced:
    from mlship.notebook.serve import ALIGN, ServePath, _predict_body
    from mlship.notebook.stmts import Stmt, apply_rewrite, fresh

    model_root = flow.root_name(call.receiver) or ""
    # The model's own fit; else (a model chosen among fitted ones) the last fit before the call.
    fit = call if call.fit else _fit_call(body[: call.position + 1], model_root) or _last_fit(body, call.position)
    targets = target_columns(body, fit, evidence)
    sliced = trace(body, call, evidence, set(targets))
    read_stmt, read_call = sliced.read
    raw_var = read_stmt.node.targets[0].id  # type: ignore[attr-defined]
    from_training = train_read is not None and read_stmt.node is train_read.node

    notes: list[str] = []
    hoists: dict[int, list[Stmt]] = {}
    data_names = _data_names(body, evidence)
    frozen_names: list[str] = []
    kept: list[Stmt] = []
    transforms = [s for s, role in sliced.kept if role == "transform"]
    fit_sites = Counter(
        c.func.value.id  # type: ignore[attr-defined]
        for s in transforms
        for c in _calls(s.node)
        if isinstance(c.func, ast.Attribute) and c.func.attr in {"fit", "fit_transform"}
        and isinstance(c.func.value, ast.Name)
    )  # fmt: skip
    refit = {name for name, count in fit_sites.items() if count > 1}
    for stmt, role in sliced.kept:
        if role != "transform":
            kept.append(stmt)
            continue
        nodes = frozen_nodes(stmt, evidence, data_names)
        frozen = freeze(stmt, nodes, taken)
        in_train = id(stmt.node) in train_ids
        if in_train:
            snaps = snapshots(stmt, set(fit_sites), refit, taken)
            frozen += snaps + wrapped(stmt, taken)
            for snap in snaps:
                notes.append(
                    f"cell {stmt.cell}: `{snap.receiver}` is fitted again "
                    + ("at each pass of the loop" if snap.loops else "by later cells")
                    + f"; train keeps each fit as `{snap.name}` and serving transforms with it"
                )
        if frozen and in_train:
            hoists[id(stmt.node)] = hoisted_train(stmt, frozen)
            frozen_names += [f.name for f in frozen]
            for f in frozen:
                if f.after or f.serve_ref is not None:
                    continue
                notes.append(
                    f"cell {stmt.cell}: `{ast.unparse(f.expr)[:60]}` is a statistic of the training data: "
                    f"train saves it as `{f.name}`, serving reads it"
                )
            kept.append(served_copy(stmt, frozen, constants=False))
        elif frozen:
            for f in frozen:
                f.value = evidence.probes.get(f.node_key, {}).get("value")
            if any(f.value is None for f in frozen):
                bad = next(f for f in frozen if f.value is None)
                raise RetraceError(
                    f"cell {stmt.cell}: `{ast.unparse(bad.expr)[:60]}` is computed from the records scored"
                )
            for f in frozen:
                notes.append(
                    f"cell {stmt.cell}: `{ast.unparse(f.expr)[:60]}` is a statistic of the records the notebook "
                    f"scored; serving uses its value in the notebook's run ({f.value!r:.40})"
                )
            kept.append(served_copy(stmt, frozen, constants=True))
        else:
            kept.append(stmt)
    for stmt, why in sliced.left_out:
        if why != "state":
            notes.append(f"cell {stmt.cell}: `{ast.unparse(stmt.node)[:60]}` {why}; serving leaves it out")

    raw_df, artifacts, features_var = fresh("raw_df", taken), fresh("artifacts", taken), fresh("features", taken)
    nodes = [s.node for s in kept]
    path_names = {n.id for n in ast.walk(read_call) if isinstance(n, ast.Name)}
    written = train_written | set(frozen_names)
    external = set(flow.stage_io(nodes + [ast.Expr(call.features)], written)[0]) - {raw_var} - path_names
    columns_of = {n for n in external if columns_only(nodes, n)}
    rewriter = ServeRewriter(fitted=external - columns_of, columns_of=columns_of, raw_expr=raw_df, align=ALIGN)
    pre = [apply_rewrite(apply_rewrite(s, rewriter), _IgnoreMissingDrop()) for s in kept]
    held = [info.get("value") for n in external for info in [_kind(n, body, call.position, evidence) or {}]]
    in_lists = any(isinstance(v, list) and set(map(str, v)) & set(targets) for v in held)
    if targets and (in_lists or any(_mentions(s.node, set(targets)) for s in pre[1:])):
        fill = "; ".join(f"{raw_var}[{t!r}] = float('nan')" for t in targets)
        node = ast.parse(fill).body
        pre.insert(1, Stmt(node[0], f"# the target: a request has none, the cells below name it\n{fill}", read_stmt.cell))
        for extra in node[1:]:
            pre.insert(2, Stmt(extra, ast.unparse(extra), read_stmt.cell))
    features_expr = ast.unparse(call.features)
    state = {f"{n}_columns" if n in columns_of else n: f"{n}.columns" if n in columns_of else n for n in external}

    model_key = model_root if isinstance(call.receiver, ast.Name) else fresh("model", taken)
    state[model_key] = ast.unparse(call.receiver)
    if call.fit:
        predictions = fresh("predictions", taken)
        predict_lines = [f"{predictions} = {model_key}.predict({ALIGN}({features_var}, {model_key}))"]
        capture = f"{model_key}.predict({features_expr})"
    else:
        stmt_node = copy.deepcopy(call.stmt.node)
        target_call = next(c for c in _calls(stmt_node) if ast.dump(c) == ast.dump(call.call))
        if not _assigns_chain(stmt_node, target_call):
            # `r2 = r2_score(y, model.predict(X))`: the call only; `new['p'] = m.predict_proba(X)[:, 1]`: its value
            value = getattr(stmt_node, "value", None)
            chained = isinstance(stmt_node, ast.Assign) and value is not None and _chain(value, target_call)
            stmt_node = ast.Expr(value=value if chained else target_call)
        original = ast.unparse(stmt_node.value)  # type: ignore[attr-defined]
        target_call.func.value = ast.Name(id=model_key, ctx=ast.Load())  # type: ignore[attr-defined]
        fitted = ServeRewriter(fitted={model_key}, columns_of=set(), raw_expr=raw_df, align=ALIGN)
        predict_lines, predictions = _predict_body(
            Stmt(stmt_node, "", call.stmt.cell), target_call, features_var, taken, fitted
        )
        capture = original
    holdout = _holdout(call, sliced, evidence)
    uses_pre = sorted(k for k in state if k != model_key and k in _reads(pre) | _reads_expr(call.features))
    cells = sorted({s.cell for s in kept})
    how = "scores" if not call.fit else "fits the model on"
    warnings.append(
        f"serving replays cells {cells}: how the notebook built `{features_expr}`, which cell {call.stmt.cell} "
        f"{how} with `{state[model_key]}`" + ("" if call.fit else "") + f"; verify compares {len(holdout)} rows"
    )
    warnings.extend(notes)
    serve = ServePath(
        data="" if from_training else (flow.literal_path(read_call, {})[0] or ""),
        cells=cells,
        raw_var=raw_var,
        raw_df=raw_df,
        artifacts=artifacts,
        features_var=features_var,
        pre=pre,
        features=features_expr,
        model=model_key,
        predict=predict_lines,
        predictions=predictions,
        post=[],
        output=predictions,
        state=state,
        uses={"preprocess": uses_pre, "predict": [model_key], "postprocess": []},
        capture=capture,
        target_columns=targets,
        synthesized=from_training,
    )
    serve.holdout = holdout
    snapshot_used = any("copy.deepcopy(" in ast.unparse(h.node) for group in hoists.values() for h in group)
    return Traced(serve, hoists, notes, imports=["import copy"] if snapshot_used else [])


def _assigns_chain(node: ast.stmt, call: ast.Call) -> bool:
    """`p = model.predict_proba(X)[:, 1]`: the statement assigns the call's result (sliced, rounded)."""
    if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
        return False
    return _chain(node.value, call)


def _chain(value: ast.AST, call: ast.Call) -> bool:
    """`value` is `call` sliced, indexed or with methods applied: `m.predict_proba(X)[:, 1].round(2)`."""
    while value is not call:
        if isinstance(value, ast.Subscript | ast.Attribute):
            value = value.value
        elif isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
            value = value.func.value
        else:
            return False
    return True


def _reads(stmts: list[Stmt]) -> set[str]:
    found: set[str] = set()
    for stmt in stmts:
        found |= flow.access(stmt.node).reads
    return found


def _reads_expr(node: ast.expr) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _holdout(call: _Call, sliced: _Slice, evidence: Evidence) -> list[int]:
    """Row positions, in the data file, of the rows the notebook scored (or fitted) at `call`."""
    from mlship.notebook.evidence import node_key

    labels = evidence.rows.get(node_key(call.stmt.cell, call.features))
    if labels is None and sliced.holdout:
        wanted = _reads_expr(call.features)
        stmt, _, index = next((h for h in sliced.holdout if h[1] in wanted), sliced.holdout[0])
        outputs = evidence.splits.get(f"{stmt.cell}:{stmt.node.lineno}:{stmt.node.col_offset}") or []
        labels = outputs[index] if index < len(outputs) else None
    if labels is None and not evidence.ran:
        return []
    if labels is None:
        raise RetraceError("the run did not show which rows of the data file the model scored")
    return labels[:HOLDOUT_ROWS]
