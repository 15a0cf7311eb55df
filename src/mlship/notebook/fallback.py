"""A serving path for notebooks that never score new data: replay how training built its features.

The model's `.fit(X_train, y_train)` is traced back through the split (`train_test_split`, a row
selection) to the feature frame built from the raw data; the statements that built it become
`transform`, minus what cannot apply to a request: rows dropped (a service answers every record),
target columns (`drop(..., errors="ignore")`, `pop` left out) and the construction of fitted objects
(they come from the artifacts, and only `transform`).
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

from mlship.notebook import flow
from mlship.notebook.rewrite import ServeRewriter, columns_only

if TYPE_CHECKING:
    from mlship.notebook.read import Notebook
    from mlship.notebook.serve import ServePath
    from mlship.notebook.stmts import Stmt

SAMPLE_ROWS = 20
ROW_DROPPERS = {"dropna", "drop_duplicates", "query", "sample", "head", "tail"}
FITS = {"fit", "fit_transform", "partial_fit"}


def _refuse(notebook: Notebook, why: str) -> Exception:
    from mlship.errors import InputError

    return InputError(
        f"{notebook.path}: no cell scores new data, and {why}",
        hint="add a cell that reads new records and calls the model, e.g. "
        "`new = pd.read_csv('new.csv'); predictions = model.predict(prepare(new))`, and tag it `predict`",
    )


def _model_fit(body: list[Stmt]) -> tuple[int, Stmt, ast.Call, str] | None:
    found = None
    for position, stmt in enumerate(body):
        for call in flow.calls_method(stmt.node, {"fit"}):
            receiver = call.func.value  # type: ignore[attr-defined]
            if not call.args:
                continue
            if isinstance(receiver, ast.Name):
                found = (position, stmt, call, receiver.id)
            elif isinstance(stmt.node, ast.Assign) and isinstance(stmt.node.targets[0], ast.Name):
                found = (position, stmt, call, stmt.node.targets[0].id)
    return found


def _before_split(body: list[Stmt], name: str) -> tuple[str, int | None]:
    """`X` for `X_train` made by `train_test_split(X, y)` or `X[mask]`; the split's position."""
    for position in range(len(body) - 1, -1, -1):
        node = body[position].node
        if not isinstance(node, ast.Assign):
            continue
        target = node.targets[0]
        if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Call):
            names = [t.id if isinstance(t, ast.Name) else None for t in target.elts]
            func = node.value.func
            split = (
                func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            ) == "train_test_split"
            if name in names and split:
                source = node.value.args[names.index(name) // 2]
                return (source.id, position) if isinstance(source, ast.Name) else (name, None)
        if isinstance(target, ast.Name) and target.id == name:
            if (
                isinstance(node.value, ast.Subscript)
                and (root := flow.root_name(node.value))
                and root != name
            ):
                return root, position
            return name, None
    return name, None


def _targets(body: list[Stmt], name: str | None) -> list[str]:
    """Column names the target was read from (`df["price"]`, `df.pop("price")`)."""
    if name is None:
        return []
    found: list[str] = []
    for stmt in body:
        if name in flow.access(stmt.node).assigns:
            for node in ast.walk(stmt.node):
                if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
                    found.append(str(node.slice.value))
                elif (
                    isinstance(node, ast.Call)
                    and flow.calls_method(node, {"pop"})
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                ):
                    found.append(str(node.args[0].value))
    return list(dict.fromkeys(found))


def _drops_rows(node: ast.stmt) -> bool:
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


class _IgnoreMissingDrop(ast.NodeTransformer):
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


def build_fallback_serve_path(
    notebook: Notebook, body: list[Stmt], train_written: set[str], taken: set[str], warnings: list[str]
) -> ServePath:
    from mlship.notebook.serve import ALIGN, ServePath
    from mlship.notebook.stmts import apply_rewrite, fresh

    fit = _model_fit(body)
    if fit is None:
        raise _refuse(notebook, "no `model.fit(X, y)` call names the features the model was trained on")
    position, fit_stmt, call, model = fit
    if not isinstance(call.args[0], ast.Name):
        raise _refuse(notebook, f"cell {fit_stmt.cell} fits the model on an expression, not a variable")
    features, split = _before_split(body[: position + 1], call.args[0].id)
    end = split if split is not None else position
    if any(call.args[0].id in flow.access(s.node).mutates for s in body[end + 1 : position]):
        raise _refuse(notebook, f"the training features `{call.args[0].id}` change after the split")
    target = call.args[1].id if len(call.args) > 1 and isinstance(call.args[1], ast.Name) else None
    target_columns = _targets(body[:end], _before_split(body[: position + 1], target)[0] if target else None)

    before = body[:end]
    fitted = {
        flow.root_name(c.func.value)  # type: ignore[attr-defined]
        for s in before
        for c in flow.calls_method(s.node, FITS)
    } - {None}
    sliced = {id(n) for n in flow.backward_slice([s.node for s in before], {features})}
    kept: list[Stmt] = []
    for stmt in before:
        if id(stmt.node) not in sliced:
            continue
        acc = flow.access(stmt.node)
        if acc.assigns and acc.assigns <= fitted:
            continue  # the fitted object comes from the artifacts
        if flow.calls_method(stmt.node, {"pop"}) and not (acc.assigns & {features}):
            continue  # taking the target out: a request has none
        if _drops_rows(stmt.node):
            warnings.append(
                f"cell {stmt.cell}: `{ast.unparse(stmt.node)[:60]}` drops rows; serving scores every record, "
                "so transform leaves it out"
            )
            continue
        kept.append(apply_rewrite(stmt, _IgnoreMissingDrop()))
    read = next(((s, c) for s in kept for c in flow.data_reads(s.node)), None)
    if (
        read is None
        or not isinstance(read[0].node, ast.Assign)
        or not isinstance(read[0].node.targets[0], ast.Name)
    ):
        raise _refuse(
            notebook, f"the features `{features}` are not built from the data file the notebook reads"
        )
    raw_var = read[0].node.targets[0].id

    raw_df, artifacts, features_var = (
        fresh("raw_df", taken),
        fresh("artifacts", taken),
        fresh("features", taken),
    )
    nodes = [s.node for s in kept]
    path_names = {n.id for n in ast.walk(read[1]) if isinstance(n, ast.Name)}
    external = set(flow.stage_io(nodes, train_written)[0]) - {raw_var} - path_names
    columns_of = {n for n in external if columns_only(nodes, n)}
    rewriter = ServeRewriter(
        fitted=external - columns_of, columns_of=columns_of, raw_expr=raw_df, align=ALIGN
    )
    pre = [apply_rewrite(s, rewriter) for s in kept]
    state = {
        f"{n}_columns" if n in columns_of else n: f"{n}.columns" if n in columns_of else n for n in external
    }
    state[model] = model
    predictions = fresh("predictions", taken)
    keys: Any = sorted(k for k in state if k != model)
    cells = sorted({s.cell for s in kept})
    warnings.append(
        f"no cell scores new data: serving replays how cells {cells} built `{features}` for `{model}`; "
        f"verify compares on the first {SAMPLE_ROWS} training records"
    )
    return ServePath(
        data="",
        cells=sorted({s.cell for s in kept}),
        raw_var=raw_var,
        raw_df=raw_df,
        artifacts=artifacts,
        features_var=features_var,
        pre=pre,
        features=features,
        model=model,
        predict=[f"{predictions} = {model}.predict({ALIGN}({features_var}, {model}))"],
        predictions=predictions,
        post=[],
        output=predictions,
        state=state,
        uses={
            "preprocess": [k for k in keys if k in _reads(pre) | {features}],
            "predict": [model],
            "postprocess": [],
        },
        capture=f"{model}.predict({features}.iloc[:{SAMPLE_ROWS}] if hasattr({features}, 'iloc') "
        f"else {features}[:{SAMPLE_ROWS}])",
        target_columns=target_columns,
        synthesized=True,
    )


def _reads(stmts: list[Stmt]) -> set[str]:
    found: set[str] = set()
    for stmt in stmts:
        found |= flow.access(stmt.node).reads
    return found
