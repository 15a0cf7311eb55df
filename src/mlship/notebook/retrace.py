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
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlship.notebook import flow
from mlship.notebook.evidence import Evidence, node_key
from mlship.notebook.freeze import freeze, frozen_nodes, hoisted_train, served_copy, snapshots, wrapped
from mlship.notebook.rewrite import ServeRewriter, columns_only
from mlship.notebook.slicing import (
    HOLDOUT_ROWS,
    ModelCall,
    RetraceError,
    Slice,
    assigns_chain,
    calls_in,
    candidate_calls,
    chains_to,
    fit_call,
    helper_fit,
    kind_of,
    last_fit,
    target_columns,
    trace,
)

if TYPE_CHECKING:
    from mlship.notebook.read import Notebook
    from mlship.notebook.serve_path import ServePath
    from mlship.notebook.stmts import Stmt


@dataclass
class Traced:
    serve: ServePath
    train_hoists: dict[int, list[Stmt]] = field(default_factory=dict)  # id(stmt.node) -> replacement
    notes: list[str] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)  # what the training copy needs beyond the notebook's


class _IgnoreMissingDrop(ast.NodeTransformer):
    """`df.drop(columns=[target])` on a request that has no target: drop what is there."""

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "drop"
            and all(k.arg != "errors" for k in node.keywords)
        ):
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


def _by_position(node: ast.AST) -> bool:
    """`df.iloc[:, 1:]`, `df.iloc[:, [0, 2]]`: columns picked by their position."""
    return any(
        isinstance(sub, ast.Subscript)
        and isinstance(sub.value, ast.Attribute)
        and sub.value.attr == "iloc"
        and isinstance(sub.slice, ast.Tuple)
        and len(sub.slice.elts) == 2
        for sub in ast.walk(node)
    )


def _mentions(node: ast.AST, columns: set[str]) -> bool:
    """The statement names a target column other than in a `drop(...)` (which ignores it)."""
    drops = {id(sub) for c in ast.walk(node) if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute)
             and c.func.attr == "drop" for sub in ast.walk(c)}  # fmt: skip
    return any(
        isinstance(sub, ast.Constant) and sub.value in columns and id(sub) not in drops
        for sub in ast.walk(node)
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
    for candidate in candidate_calls(body, evidence, notebook_functions(notebook)):
        try:
            return _build(
                notebook, body, candidate, train_ids=train_ids, train_read=train_read,
                train_written=train_written, taken=taken, warnings=warnings, evidence=evidence,
            )  # fmt: skip
        except RetraceError as exc:
            where = "scoring" if not candidate.fit else "fit"
            reasons.append(
                f"cell {candidate.stmt.cell} ({where} `{ast.unparse(candidate.call)[:60]}`): {exc}"
            )
    from mlship.errors import InputError

    raise InputError(
        f"{notebook.path}: mlship cannot tell how a record becomes the model's features"
        + ("; " + "; ".join(reasons[:3]) if reasons else ": no cell fits a model on features and a target"),
        hint="add a cell that reads new records and calls the model, e.g. "
        "`new = pd.read_csv('new.csv'); predictions = model.predict(prepare(new))`, and tag it `predict`",
    )


def notebook_functions(notebook: Notebook) -> dict[str, ast.FunctionDef]:
    """The functions the notebook defines at the top level of its cells, by name."""
    return {
        node.name: node
        for cell in notebook.code_cells
        for node in (cell.tree.body if cell.tree else [])
        if isinstance(node, ast.FunctionDef)
    }


def _build(
    notebook: Notebook,
    body: list[Stmt],
    call: ModelCall,
    *,
    train_ids: set[int],
    train_read: Stmt | None,
    train_written: set[str],
    taken: set[str],
    warnings: list[str],
    evidence: Evidence,
) -> Traced:
    from mlship.notebook.serve_path import ALIGN, ServePath, _predict_body
    from mlship.notebook.stmts import Stmt, apply_rewrite, fresh

    model_root = flow.root_name(call.receiver) or ""
    # The model's own fit; else (a model chosen among fitted ones) the last fit before the call.
    helpers = notebook_functions(notebook)
    fit = (
        call
        if call.fit
        else fit_call(body[: call.position + 1], model_root)
        or last_fit(body, call.position)
        or helper_fit(body, call.position, helpers)
    )
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
        for c in calls_in(s.node)
        if isinstance(c.func, ast.Attribute) and c.func.attr in {"fit", "fit_transform"}
        and isinstance(c.func.value, ast.Name)
    )  # fmt: skip
    refit = {name for name, count in fit_sites.items() if count > 1}
    for stmt, role in sliced.kept:
        if role != "transform":
            kept.append(stmt)
            continue
        frozen = freeze(stmt, frozen_nodes(stmt, evidence, data_names), taken)
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
                    f"cell {stmt.cell}: `{ast.unparse(f.expr)[:60]}` is a statistic of the records the "
                    "notebook "
                    f"scored; serving uses its value in the notebook's run ({f.value!r:.40})"
                )
            kept.append(served_copy(stmt, frozen, constants=True))
        else:
            kept.append(stmt)
    for stmt, why in sliced.left_out:
        if why != "state":
            notes.append(f"cell {stmt.cell}: `{ast.unparse(stmt.node)[:60]}` {why}; serving leaves it out")

    raw_df, artifacts, features_var = (
        fresh("raw_df", taken),
        fresh("artifacts", taken),
        fresh("features", taken),
    )
    nodes: list[ast.stmt] = [s.node for s in kept]
    path_names = {n.id for n in ast.walk(read_call) if isinstance(n, ast.Name)}
    written = train_written | set(frozen_names)
    uses: list[ast.stmt] = [*nodes, ast.Expr(call.features)]
    external = set(flow.stage_io(uses, written)[0]) - {raw_var} - path_names
    columns_of = {n for n in external if columns_only(nodes, n)}
    rewriter = ServeRewriter(
        fitted=external - columns_of, columns_of=columns_of, raw_expr=raw_df, align=ALIGN
    )
    pre = [apply_rewrite(apply_rewrite(s, rewriter), _IgnoreMissingDrop()) for s in kept]
    held = [info.get("value") for n in external for info in [kind_of(n, body, call.position, evidence) or {}]]
    in_lists = any(isinstance(v, list) and set(map(str, v)) & set(targets) for v in held)
    read_columns = (evidence.after(read_stmt, raw_var) or {}).get("columns")
    if read_columns and any(_by_position(s.node) for s in pre[1:]):
        # `data.iloc[:, :-1]` picks columns by position: a request gets the data file's columns in its
        # order (the target as a missing column where it stood), whatever order its fields came in.
        order = f"{raw_var} = {raw_var}.reindex(columns={read_columns!r})"
        text = f"# the cells below pick columns by position: the data file's columns, in its order\n{order}"
        pre.insert(1, Stmt(ast.parse(order).body[0], text, read_stmt.cell))
    elif targets and (in_lists or any(_mentions(s.node, set(targets)) for s in pre[1:])):
        fill = "; ".join(f"{raw_var}[{t!r}] = float('nan')" for t in targets)
        node = ast.parse(fill).body
        pre.insert(
            1,
            Stmt(
                node[0], f"# the target: a request has none, the cells below name it\n{fill}", read_stmt.cell
            ),
        )
        for extra in node[1:]:
            pre.insert(2, Stmt(extra, ast.unparse(extra), read_stmt.cell))
    features_expr = ast.unparse(call.features)
    state = {
        f"{n}_columns" if n in columns_of else n: f"{n}.columns" if n in columns_of else n for n in external
    }

    model_key = model_root if isinstance(call.receiver, ast.Name) else fresh("model", taken)
    state[model_key] = ast.unparse(call.receiver)
    if call.fit:
        predictions = fresh("predictions", taken)
        predict_lines = [f"{predictions} = {model_key}.predict({ALIGN}({features_var}, {model_key}))"]
        capture = f"{model_key}.predict({features_expr})"
    else:
        stmt_node = copy.deepcopy(call.stmt.node)
        target_call = next(c for c in calls_in(stmt_node) if ast.dump(c) == ast.dump(call.call))
        if not assigns_chain(stmt_node, target_call):
            # `r2 = r2_score(y, model.predict(X))`: the call only;
            # `new['p'] = m.predict_proba(X)[:, 1]`: its value
            value = getattr(stmt_node, "value", None)
            chained = (
                isinstance(stmt_node, ast.Assign) and value is not None and chains_to(value, target_call)
            )
            stmt_node = ast.Expr(value=value if chained and value is not None else target_call)
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
    how = "scores" if not call.fit or call.score else "fits the model on"
    warnings.append(
        f"serving replays cells {cells}: how the notebook built `{features_expr}`, which cell "
        f"{call.stmt.cell} {how} with `{state[model_key]}`; "
        + (
            f"verify scores those {len(holdout)} rows one by one"
            if holdout
            else "the rows it scored are known after a run"
        )
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
    if fit is not None and fit.call.args:
        serve.fit_rows = evidence.rows.get(node_key(fit.stmt.cell, fit.call.args[0]))
    snapshot_used = any("copy.deepcopy(" in ast.unparse(h.node) for group in hoists.values() for h in group)
    return Traced(serve, hoists, notes, imports=["import copy"] if snapshot_used else [])


def _reads(stmts: list[Stmt]) -> set[str]:
    found: set[str] = set()
    for stmt in stmts:
        found |= flow.access(stmt.node).reads
    return found


def _reads_expr(node: ast.expr) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _holdout(call: ModelCall, sliced: Slice, evidence: Evidence) -> list[int]:
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
