"""AST rewrites that turn notebook statements into function bodies for the generated modules."""

from __future__ import annotations

import ast
import copy

from mlship.notebook.flow import READERS

SEED_KEYWORDS = {"random_state", "seed"}
SEED_CALLS = {"seed", "default_rng", "RandomState", "manual_seed"}
PREDICT_METHODS = {"predict", "predict_proba", "decision_function", "predict_log_proba"}
ALIGNED_METHODS = {"transform", *PREDICT_METHODS}
KNOWN_VALUES = "known_values"  # the template helper (preprocess.py) a closed mapping calls at serving


def _int_const(node: ast.AST) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    return None


def seed_literals(tree: ast.AST) -> list[int]:
    """Literal seeds: `random_state=42`, `np.random.seed(0)`, `default_rng(7)`."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg in SEED_KEYWORDS and _int_const(node.value) is not None:
            found.append(_int_const(node.value))
        elif (
            isinstance(node, ast.Call)
            and node.args
            and _call_attr(node) in SEED_CALLS
            and _int_const(node.args[0]) is not None
        ):
            found.append(_int_const(node.args[0]))
    return [v for v in found if v is not None]


def _call_attr(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


class Rewriter(ast.NodeTransformer):
    """Notebook -> module code: helper globals passed explicitly, seeds named, data path a parameter."""

    def __init__(
        self,
        *,
        helper_kwargs: dict[str, list[str]],
        seed: tuple[str, int] | None,
        data_reads: dict[tuple[int, int], ast.expr],
    ):
        self.helper_kwargs = helper_kwargs
        self.seed = seed
        self.data_reads = data_reads  # (line, col) of a read call -> expression replacing its path

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id in self.helper_kwargs:
            given = {k.arg for k in node.keywords}
            for name in self.helper_kwargs[node.func.id]:
                if name not in given:
                    node.keywords.append(ast.keyword(arg=name, value=ast.Name(id=name, ctx=ast.Load())))
        if (
            self.seed
            and node.args
            and _call_attr(node) in SEED_CALLS
            and _int_const(node.args[0]) == self.seed[1]
        ):
            node.args[0] = ast.Name(id=self.seed[0], ctx=ast.Load())
        replacement = self.data_reads.get((node.lineno, node.col_offset))
        if replacement is not None and _call_attr(node) in READERS:
            if node.args:
                node.args[0] = replacement
            else:
                node.keywords = [k for k in node.keywords if k.arg not in {"filepath_or_buffer", "path"}]
                node.args = [replacement]
        return node

    def visit_keyword(self, node: ast.keyword) -> ast.AST:
        self.generic_visit(node)
        if self.seed and node.arg in SEED_KEYWORDS and _int_const(node.value) == self.seed[1]:
            node.value = ast.Name(id=self.seed[0], ctx=ast.Load())
        return node


class ServeRewriter(ast.NodeTransformer):
    """The predict path at serving time: fitted objects only transform, inputs line up with training.

    - `scaler.fit_transform(X)` on an object fitted in training becomes `scaler.transform(X)`: a
      request must never re-fit what training learned.
    - `obj.transform(X)` / `obj.predict(X)` get `align_columns(X, obj)`: a frame is given exactly the
      columns `obj` was fitted on (one-hot columns a single record lacks become 0, unseen ones go).
    - `X.columns` of a training frame reads the saved column list `X_columns`.
    - `df['sex'].map({'male': 0, 'female': 1})` becomes `known_values(df['sex'], {...}, 'sex')`: a value
      the mapping does not name is an error that names the field (pandas would make it NaN, which most
      models cannot score and none was trained on).
    - The read of the new data becomes a copy of the records given to the service.
    """

    def __init__(self, *, fitted: set[str], columns_of: set[str], raw_expr: str, align: str):
        self.fitted = fitted
        self.columns_of = columns_of
        self.raw_expr = raw_expr
        self.align = align
        self.refits: list[str] = []

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        func = node.func
        if _call_attr(node) in READERS:
            return ast.parse(f"{self.raw_expr}.copy()", mode="eval").body
        if _closed_map(node):
            values = func.value  # type: ignore[attr-defined]
            key = values.slice if isinstance(values, ast.Subscript) else None
            # the column by its name, or the loop's variable that holds it (`df[col].map({...})`)
            field: ast.expr = (
                ast.Constant(key.value) if isinstance(key, ast.Constant)
                else key if isinstance(key, ast.Name)
                else ast.Constant(ast.unparse(values)[:60])
            )  # fmt: skip
            return ast.Call(
                ast.Name(KNOWN_VALUES, ast.Load()), [values, node.args[0], copy.deepcopy(field)], []
            )
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id in self.fitted
        ):
            if func.attr == "fit_transform":
                func.attr = "transform"
                self.refits.append(func.value.id)
            if func.attr in ALIGNED_METHODS and node.args:
                node.args[0] = ast.Call(
                    func=ast.Name(id=self.align, ctx=ast.Load()),
                    args=[node.args[0], ast.Name(id=func.value.id, ctx=ast.Load())],
                    keywords=[],
                )
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        if node.attr == "columns" and isinstance(node.value, ast.Name) and node.value.id in self.columns_of:
            return ast.copy_location(ast.Name(id=f"{node.value.id}_columns", ctx=node.ctx), node)
        return node


def _closed_map(node: ast.Call) -> bool:
    """`values.map({...literal keys...})`."""
    mapping = node.args[0] if len(node.args) == 1 and not node.keywords else None
    return (
        isinstance(node.func, ast.Attribute)
        and node.func.attr == "map"
        and isinstance(mapping, ast.Dict)
        and bool(mapping.keys)
        and all(isinstance(k, ast.Constant) for k in mapping.keys)
    )


def columns_only(statements: list[ast.stmt], name: str) -> bool:
    """True when every use of `name` is `name.columns` (then only the column list need be saved)."""
    uses = 0
    parents: dict[ast.AST, ast.AST] = {}
    for stmt in statements:
        for parent in ast.walk(stmt):
            for child in ast.iter_child_nodes(parent):
                parents[child] = parent
    for stmt in statements:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and node.id == name:
                uses += 1
                owner = parents.get(node)
                if not (isinstance(owner, ast.Attribute) and owner.attr == "columns"):
                    return False
    return uses > 0


def find_model_call(statements: list[ast.stmt], fitted: set[str]) -> tuple[int, ast.Call] | None:
    """The first `<fitted>.predict(...)`-like call in the predict stage: where features meet the model."""
    for position, stmt in enumerate(statements):
        for node in ast.walk(stmt):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in PREDICT_METHODS
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in fitted
                and node.args
            ):
                return position, node
    return None
