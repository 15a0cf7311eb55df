"""Which statements built the features a notebook's model scores, and what each one is for serving.

From the model's scoring call (or its fit), the statements are traced back to the data file the rows
came from, and classified by what the evidence run saw them do: the read, a split or row selection
(the identity for a request), a row drop or a target-only statement (left out), state (a reduction
of the data or an estimator: training only), or a transform of rows (replayed when serving).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlship.notebook import flow
from mlship.notebook.evidence import SCOPES, Evidence, is_reduction
from mlship.notebook.rewrite import PREDICT_METHODS

if TYPE_CHECKING:
    from mlship.notebook.stmts import Stmt

HOLDOUT_ROWS = 1000
ROW_DROPPERS = {"dropna", "drop_duplicates", "query", "sample", "head", "tail", "nlargest", "nsmallest"}
FITS = {"fit", "fit_transform", "partial_fit"}
SPLITS = {"train_test_split"}


class RetraceError(Exception):
    """Why this scoring call cannot be traced to a serving path (the caller tries the next one)."""


@dataclass
class ModelCall:
    position: int
    stmt: Stmt
    call: ast.Call
    receiver: ast.expr
    features: ast.expr
    fit: bool  # the model's fit (no scoring call was found), or `score(X, y)`: serving calls `predict`
    score: bool = False  # `model.score(X_test, y_test)`: the rows it scores, through `predict`


def calls_in(node: ast.AST) -> list[ast.Call]:
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


def kind_of(name: str, body: list[Stmt], position: int, evidence: Evidence) -> dict[str, Any] | None:
    """What `name` held just after the last statement before `position` that wrote it."""
    for stmt in reversed(body[: position + 1]):
        info = evidence.after(stmt, name)
        if info is not None and name in flow.access(stmt.node).writes:
            return info
    return None


def _fitted_receiver(stmt: Stmt, receiver: ast.expr, body: list[Stmt], position: int, ev: Evidence) -> bool:
    if isinstance(receiver, ast.Name):
        info = kind_of(receiver.id, body, position, ev)
    else:
        info = ev.probe(stmt.cell, receiver)
    if info is None:
        return not ev.ran and flow.root_name(receiver) is not None
    return info["kind"] == "estimator" and bool(info.get("fitted"))


def candidate_calls(
    body: list[Stmt], evidence: Evidence, helpers: dict[str, ast.FunctionDef] | None = None
) -> list[ModelCall]:
    """Scoring calls on a fitted estimator (`predict*`, else `score(X, y)`), last first; then the model
    fits, last first (a notebook function's fit after the top level's)."""
    scoring: list[ModelCall] = []
    scores: list[ModelCall] = []
    fits: list[ModelCall] = []
    for position, stmt in enumerate(body):
        if not isinstance(stmt.node, ast.Assign | ast.Expr | ast.AnnAssign | ast.AugAssign):
            continue
        for call in calls_in(stmt.node):
            func = call.func
            if not isinstance(func, ast.Attribute) or not call.args:
                continue
            if func.attr in PREDICT_METHODS and flow.root_name(func.value):
                if _fitted_receiver(stmt, func.value, body, position, evidence):
                    scoring.append(ModelCall(position, stmt, call, func.value, call.args[0], fit=False))
            elif func.attr == "score" and len(call.args) >= 2 and isinstance(func.value, ast.Name):
                if _fitted_receiver(stmt, func.value, body, position, evidence):
                    scores.append(
                        ModelCall(position, stmt, call, func.value, call.args[0], fit=True, score=True)
                    )
            elif func.attr == "fit" and len(call.args) >= 2:
                receiver: ast.expr = func.value
                if not isinstance(receiver, ast.Name):
                    node = stmt.node
                    if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)):
                        continue
                    receiver = ast.Name(id=node.targets[0].id, ctx=ast.Load())
                fits.append(ModelCall(position, stmt, call, receiver, call.args[0], fit=True))
    inside = helper_fit(body, len(body) - 1, helpers or {})
    return [*reversed(scoring), *reversed(scores), *reversed(fits), *([inside] if inside else [])]


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
            out[elt.id] = (
                source.id if isinstance(source, ast.Name) else ast.unparse(source) if source else "?"
            )
    return out


def _row_selection(stmt: Stmt, evidence: Evidence) -> tuple[str, str] | None:
    """(`X_test`, `X`) for `X_test = X[mask]` / `X.iloc[n:]` / `X.sample(...)`: fewer rows of X."""
    node = stmt.node
    if not (
        isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
    ):
        return None
    name = node.targets[0].id
    source = flow.root_name(node.value) if isinstance(node.value, ast.Subscript | ast.Call) else None
    if source is None or source == name:
        return None
    info = evidence.after(stmt, name)
    if info is not None:
        return (name, source) if info.get("subset") else None
    value = node.value
    positional = isinstance(value, ast.Subscript) and isinstance(value.value, ast.Attribute)
    if positional and value.value.attr in {"iloc", "loc"} and isinstance(value.slice, ast.Slice):  # type: ignore[attr-defined]
        return name, source
    return None


def _rows_chosen_in_a_loop(stmt: Stmt, needed: set[str], evidence: Evidence) -> dict[str, str] | None:
    """`for tr, te in StratifiedShuffleSplit(...).split(df, ...): train_set = df.iloc[tr]`: the names it
    gives are rows of the one frame it reads -> {train_set: df}."""
    if not isinstance(stmt.node, ast.For | ast.AsyncFor):
        return None
    acc = flow.access(stmt.node)
    hit = acc.writes & needed
    if not hit or not all((info := evidence.after(stmt, n)) and info.get("subset") for n in hit):
        return None
    frames = [
        n for n in acc.reads - acc.writes if (info := evidence.after(stmt, n)) and info["kind"] == "frame"
    ]
    return dict.fromkeys(hit, frames[0]) if len(frames) == 1 else None


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
                    isinstance(key, ast.List | ast.Tuple)
                    and all(isinstance(e, ast.Constant) for e in key.elts)
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
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "pop"
            and args
            and isinstance(args[0], ast.Constant)
        ):
            return args[0].value in targets
    if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
        goals = node.targets if isinstance(node, ast.Assign) else [node.target]
        return all(column_key(t) in targets for t in goals)
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        func = node.value.func
        return isinstance(func, ast.Attribute) and column_key(func.value) in targets
    return False


def column_key(node: ast.AST) -> str | None:
    if isinstance(node, ast.Subscript):
        key = node.slice
        if isinstance(key, ast.Tuple) and len(key.elts) == 2:  # df.loc[:, 'y']
            key = key.elts[1]
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return key.value
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.attr not in {"loc", "iloc"}
    ):
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
    if not (
        isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
    ):
        return None
    reads = flow.data_reads(node.value)
    return reads[0] if reads else None


def target_columns(body: list[Stmt], fit: ModelCall | None, evidence: Evidence) -> list[str]:
    """The columns the model learns to predict: the name of the fitted `y`, or where `y` was read."""
    if fit is None or len(fit.call.args) < 2:
        return []
    y = fit.call.args[1]
    found: list[str] = []
    if isinstance(y, ast.Name):
        found += _named_target(kind_of(y.id, body, fit.position, evidence))
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
                        found += [k for sub in ast.walk(ast.parse(source)) if (k := column_key(sub))]
                continue
            value = getattr(stmt.node, "value", None)
            while isinstance(value, ast.Attribute | ast.Call) and _array_of(value):  # `.values`, `.ravel()`
                value = value.func.value if isinstance(value, ast.Call) else value.value  # type: ignore[attr-defined]
            if value is not None:  # `y = df.iloc[:, 1:]`: the columns the run saw
                found += _named_target(evidence.probe(stmt.cell, value))
            for sub in ast.walk(stmt.node):
                key = column_key(sub) if isinstance(sub, ast.Subscript) else None
                if key:
                    found.append(key)
                popped = (
                    isinstance(sub, ast.Call)
                    and isinstance(sub.func, ast.Attribute)
                    and sub.func.attr == "pop"
                )
                if popped and sub.args and isinstance(sub.args[0], ast.Constant):  # type: ignore[attr-defined]
                    found.append(str(sub.args[0].value))  # type: ignore[attr-defined]
    elif isinstance(y, ast.Subscript | ast.Attribute):
        key = column_key(y)
        if key:
            found.append(key)
    return list(dict.fromkeys(found))


def _named_target(info: dict[str, Any] | None) -> list[str]:
    """The target's column names from what the run saw: a Series' name, a narrow frame's columns."""
    if not info:
        return []
    if info.get("kind") == "series" and info.get("name"):
        return [str(info["name"])]
    if info.get("kind") == "frame" and 0 < len(info.get("columns") or []) <= 3:
        return [str(c) for c in info["columns"]]
    return []


def _array_of(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr == "values"
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in {
        "to_numpy", "ravel", "flatten", "squeeze"
    }  # fmt: skip


def last_fit(body: list[Stmt], position: int) -> ModelCall | None:
    for index in range(position, -1, -1):
        for call in calls_in(body[index].node):
            if isinstance(call.func, ast.Attribute) and call.func.attr == "fit" and len(call.args) >= 2:
                return ModelCall(index, body[index], call, call.func.value, call.args[0], fit=True)
    return None


def helper_fit(body: list[Stmt], position: int, helpers: dict[str, ast.FunctionDef]) -> ModelCall | None:
    """The fit inside a notebook function the top level calls (`model = build_model(X_train, y_train)`),
    as that call's own arguments: `build_model(...).fit(X_train, y_train)`."""
    for index in range(position, -1, -1):
        for call in calls_in(body[index].node):
            helper = helpers.get(call.func.id) if isinstance(call.func, ast.Name) else None
            if helper is None:
                continue
            inner = [
                c for c in ast.walk(helper)
                if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and c.func.attr == "fit"
                and len(c.args) >= 2
            ]  # fmt: skip
            if not inner:
                continue
            params = [a.arg for a in helper.args.posonlyargs + helper.args.args]
            bound: dict[str, ast.expr] = dict(zip(params, call.args, strict=False))
            bound.update({k.arg: k.value for k in call.keywords if k.arg})
            node = body[index].node
            if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)):
                continue
            args = [bound.get(a.id, a) if isinstance(a, ast.Name) else a for a in inner[-1].args[:2]]
            model = ast.Name(id=node.targets[0].id, ctx=ast.Load())
            fit = ast.Call(
                func=ast.Attribute(value=model, attr="fit", ctx=ast.Load()), args=args, keywords=[]
            )
            return ModelCall(index, body[index], fit, model, args[0], fit=True)
    return None


def fit_call(body: list[Stmt], model: str) -> ModelCall | None:
    """The last `model.fit(X, y)` (or `model = Est().fit(X, y)`) before serving."""
    for position in range(len(body) - 1, -1, -1):
        stmt = body[position]
        for call in calls_in(stmt.node):
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
                    return ModelCall(position, stmt, call, receiver, call.args[0], fit=True)
    return None


@dataclass
class Slice:
    kept: list[tuple[Stmt, str]]  # (statement, role): read | identity | transform, in notebook order
    read: tuple[Stmt, ast.Call]
    left_out: list[tuple[Stmt, str]]
    holdout: list[tuple[Stmt, str, int]]  # the split statements the features passed: (stmt, name, output)


def trace(body: list[Stmt], call: ModelCall, evidence: Evidence, targets: set[str]) -> Slice:
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
            sources: set[str] = set()
            for name, source in split.items():
                # `train_test_split(df.drop('y', axis=1), df['y'])`: the request goes through the expression
                kept.append((_identity(stmt, name, source, "the split"), "identity"))
                target = stmt.node.targets[0]  # type: ignore[attr-defined]
                index = [getattr(e, "id", None) for e in target.elts].index(name)
                holdout.append((stmt, name, index))
                sources |= {n.id for n in ast.walk(ast.parse(source, mode="eval")) if isinstance(n, ast.Name)}
            needed = (needed - set(split)) | sources
            continue
        chosen = _rows_chosen_in_a_loop(stmt, needed, evidence)
        if chosen:
            for name, source in chosen.items():
                kept.append((_identity(stmt, name, source, "rows chosen in a loop"), "identity"))
            needed = (needed - set(chosen)) | set(chosen.values())
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
    return Slice(kept, read, left_out, holdout)


def _identity(stmt: Stmt, name: str, source: str, what: str) -> Stmt:
    from mlship.notebook.stmts import Stmt

    node = ast.Assign(
        targets=[ast.Name(id=name, ctx=ast.Store())], value=ast.parse(source, mode="eval").body, lineno=0
    )
    node = ast.copy_location(node, stmt.node)
    ast.fix_missing_locations(node)
    text = f"# cell {stmt.cell} took {what} here; a request is already the rows to score\n{name} = {source}"
    return Stmt(node, text, stmt.cell)


def assigns_chain(node: ast.stmt, call: ast.Call) -> bool:
    """`p = model.predict_proba(X)[:, 1]`: the statement assigns the call's result (sliced, rounded)."""
    if not (
        isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
    ):
        return False
    return chains_to(node.value, call)


def chains_to(value: ast.AST, call: ast.Call) -> bool:
    """`value` is `call` sliced, indexed or with methods applied: `m.predict_proba(X)[:, 1].round(2)`."""
    while value is not call:
        if isinstance(value, ast.Subscript | ast.Attribute):
            value = value.value
        elif isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
            value = value.func.value
        else:
            return False
    return True
