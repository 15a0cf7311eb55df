"""The serving path: the notebook's own "score new data" cells, cut at the model call.

Before the call: `preprocess(raw_df, artifacts)` (new records -> features). The call itself:
`predict(artifacts, features)`. After it: `postprocess(predictions, raw_df)`. Every name these read
that training produced (the model, fitted scalers, column lists, parameters) is saved by train as an
artifact and loaded by `load`, so nothing is re-learned from a request.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlship.notebook import flow
from mlship.notebook.rewrite import ServeRewriter, columns_only, find_model_call

if TYPE_CHECKING:
    from mlship.notebook.read import Notebook
    from mlship.notebook.stmts import Stmt

ALIGN = "align_columns"


@dataclass
class ServePath:
    data: str  # the new-data file the notebook scores (data.predict)
    cells: list[int]
    raw_var: str
    raw_df: str  # the entrypoint's parameter name for the records
    artifacts: str  # the entrypoint's parameter name for the loaded artifacts
    features_var: str
    pre: list[Stmt]
    features: str  # the expression preprocess returns
    model: str
    predict: list[str]  # statements of predict(), after binding the artifacts
    predictions: str
    post: list[Stmt]
    output: str
    state: dict[str, str] = field(default_factory=dict)  # artifact key -> expression in train's scope
    uses: dict[str, list[str]] = field(default_factory=dict)  # function -> artifact keys it reads
    capture: str = ""  # the expression verify evaluates in the kernel for the notebook's predictions
    target_columns: list[str] = field(default_factory=list)
    synthesized: bool = False  # no scoring cells: transform replays how training built the features
    holdout: list[int] = field(default_factory=list)  # rows (positions in the data file) verify scores alone
    fit_rows: list[int] | None = None  # rows (positions in the data file) the model was fitted on, if known

    @property
    def train_names(self) -> list[str]:
        """Names of train's scope the artifacts are made of."""
        return sorted({expr.split(".")[0] for expr in self.state.values()})

    def to_dict(self) -> dict[str, Any]:
        return {
            "cells": self.cells,
            "data": self.data,
            "raw_variable": self.raw_var,
            "features": self.features,
            "model": self.model,
            "predictions": self.predictions,
            "output": self.output,
            "postprocess": bool(self.post),
            "replayed_from_training": self.synthesized,
            "holdout_rows": len(self.holdout),
            "artifacts": self.uses,
        }


def _fail(notebook: Notebook, message: str, hint: str | None = None) -> Exception:
    from mlship.errors import InputError

    return InputError(f"{notebook.path}: {message}", hint=hint)


def build_serve_path(
    notebook: Notebook,
    body: list[Stmt],
    train_written: set[str],
    taken: set[str],
    warnings: list[str],
    *,
    constants: dict[str, Any],
) -> ServePath:
    from mlship.notebook.stmts import Stmt, fresh

    if not body:
        raise _fail(
            notebook,
            "no cell scores new data, so mlship cannot tell how a request becomes a prediction",
            "add a cell that reads new records and calls the model, e.g. "
            "`new = pd.read_csv('new.csv'); predictions = model.predict(prepare(new))`, and tag it `predict`",
        )
    cells = sorted({s.cell for s in body})
    found = find_model_call([s.node for s in body], train_written)
    if found is None:
        raise _fail(
            notebook,
            f"the predict cells ({', '.join(map(str, cells))}) never call .predict( on the trained model",
        )
    position, call = found
    before = body[:position]
    read = next(
        ((s, c) for s in before for c in flow.data_reads(s.node) if isinstance(s.node, ast.Assign)), None
    )
    if read is None or not isinstance(read[0].node.targets[0], ast.Name):  # type: ignore[attr-defined]
        raise _fail(
            notebook,
            f"cell {body[0].cell}: the predict cells do not read the new records into a variable before "
            "calling the model",
            "read them with pandas, e.g. `new = pd.read_csv('data/new.csv')`",
        )
    read_stmt, read_call = read
    data, _ = flow.literal_path(read_call, constants)
    if data is None:
        raise _fail(
            notebook, f"cell {read_stmt.cell}: the new records are read from a path mlship cannot resolve"
        )
    raw_var = read_stmt.node.targets[0].id  # type: ignore[attr-defined]
    raw_df, artifacts, features_var = (
        fresh("raw_df", taken),
        fresh("artifacts", taken),
        fresh("features", taken),
    )

    feature_names = {n.id for n in ast.walk(call.args[0]) if isinstance(n, ast.Name)}
    sliced = {id(node) for node in flow.backward_slice([b.node for b in before], feature_names)}
    pre = [s for s in before if id(s.node) in sliced]
    if read_stmt not in pre:
        warnings.append(
            f"cell {read_stmt.cell}: the features passed to the model do not depend on `{raw_var}`"
        )
        pre.insert(0, read_stmt)
    model_stmt = body[position]
    post = _forward_slice(body[position + 1 :], _predicted_names(model_stmt.node))

    all_serve = [s.node for s in pre] + [model_stmt.node] + [s.node for s in post]
    path_names = {n.id for n in ast.walk(read_call) if isinstance(n, ast.Name)} - {raw_var}
    external = set(flow.stage_io(all_serve, train_written)[0]) - {raw_var} - path_names
    columns_of = {n for n in external if columns_only(all_serve, n)}
    rewriter = ServeRewriter(
        fitted=external - columns_of, columns_of=columns_of, raw_expr=raw_df, align=ALIGN
    )

    def serve_rewrite(stmt: Stmt) -> Stmt:
        from mlship.notebook.stmts import apply_rewrite

        return apply_rewrite(stmt, rewriter)

    pre = [serve_rewrite(s) for s in pre]
    features_node = call.args[0]
    features_expr = ast.unparse(features_node)
    predict_lines, predictions = _predict_body(model_stmt, call, features_var, taken, rewriter)
    post = [serve_rewrite(s) for s in post]
    for name in sorted(set(rewriter.refits)):
        warnings.append(f"predict cells re-fit `{name}` on new data; serving uses the fitted one (transform)")
    output = _output_name(post, predictions)

    state = {
        f"{n}_columns" if n in columns_of else n: f"{n}.columns" if n in columns_of else n for n in external
    }
    uses = {
        "preprocess": _keys([*pre, Stmt(ast.Expr(features_node), features_expr, 0)], state, {raw_var}),
        "predict": _keys(
            [Stmt(ast.parse(line).body[0], line, 0) for line in predict_lines], state, {features_var}
        ),
        "postprocess": _keys(post, state, {predictions}),
    }
    return ServePath(
        data=data,
        cells=cells,
        raw_var=raw_var,
        raw_df=raw_df,
        artifacts=artifacts,
        features_var=features_var,
        pre=pre,
        features=features_expr,
        model=call.func.value.id,  # type: ignore[attr-defined]
        predict=predict_lines,
        predictions=predictions,
        post=post,
        output=output,
        state=state,
        uses=uses,
    )


def _keys(stmts: list[Stmt], state: dict[str, str], exclude: set[str]) -> list[str]:
    read: set[str] = set()
    for stmt in stmts:
        read |= flow.access(stmt.node).reads
    return sorted(k for k in state if k in read and k not in exclude)


def _predicted_names(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.Assign):
        return {n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return set()


def _predict_body(
    stmt: Stmt, call: ast.Call, features_var: str, taken: set[str], rewriter: ServeRewriter
) -> tuple[list[str], str]:
    """predict(): the model statement with its features argument replaced by the parameter."""
    from mlship.notebook.stmts import fresh

    node = stmt.node
    call.args[0] = ast.Name(id=features_var, ctx=ast.Load())
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        new = rewriter.visit(ast.Assign(targets=node.targets, value=node.value, lineno=1))
        return [ast.unparse(ast.fix_missing_locations(new))], node.targets[0].id
    from mlship.notebook.slicing import chains_to

    name = fresh("predictions", taken)
    # `new['p'] = model.predict_proba(X)[:, 1]`: the prediction is the sliced value, not the bare call
    chained = isinstance(node, ast.Assign | ast.Expr) and chains_to(node.value, call)
    value = rewriter.visit(node.value if chained else call)  # type: ignore[attr-defined]
    assign = ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=value, lineno=1)
    return [ast.unparse(ast.fix_missing_locations(assign))], name


def _forward_slice(stmts: list[Stmt], derived: set[str]) -> list[Stmt]:
    """Statements after the model call that compute new values from the predictions."""
    kept = []
    derived = set(derived)
    for stmt in stmts:
        node = stmt.node
        targets = node.targets if isinstance(node, ast.Assign) else []
        if not targets or not all(isinstance(t, ast.Name) for t in targets):
            continue
        if flow.access(node).reads & derived:
            kept.append(stmt)
            derived |= {t.id for t in targets}  # type: ignore[attr-defined]
    return kept


def _output_name(post: list[Stmt], predictions: str) -> str:
    if not post:
        return predictions
    last = post[-1].node
    return last.targets[0].id  # type: ignore[attr-defined]
