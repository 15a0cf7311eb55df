"""Runtime evidence for a plan: the notebook's code run once, instrumented, in a fresh interpreter.

Static analysis says which statements may matter; the run says what each one did: which names hold
rows of the data and how many, which hold a reduction of it (a mean, a column list, a category
list), which hold a fitted estimator, and what each probed sub-expression evaluated to. The serving
path is built from those facts (`mlship.notebook.retrace`), not from the shape of the code alone.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlship import proc
from mlship.errors import ProcessError
from mlship.notebook import flow
from mlship.notebook.stmts import Stmt

PROBE = "__mlship_probe__"
ROWS = "__mlship_rows__"
ROW_METHODS = {"fit", "predict", "predict_proba", "decision_function", "predict_log_proba", "score"}
SCOPES = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.FunctionDef,
          ast.AsyncFunctionDef, ast.ClassDef)  # fmt: skip
# Values that describe the request's own rows, never frozen from training: counts and positions.
ROW_SHAPED = {"shape", "index", "size"}
ROW_CALLS = {"len", "range", "enumerate", "zip"}


def stmt_key(stmt: Stmt) -> str:
    return f"{stmt.cell}:{stmt.node.lineno}:{stmt.node.col_offset}"


def node_key(cell: int, node: ast.AST) -> str:
    return f"{cell}:{node.lineno}:{node.col_offset}:{node.end_lineno}:{node.end_col_offset}"  # type: ignore[attr-defined]


@dataclass
class Evidence:
    stmts: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)
    reads: list[dict[str, Any]] = field(default_factory=list)
    rows: dict[str, list[int] | None] = field(default_factory=dict)  # features' row labels, by node
    splits: dict[str, list[list[int] | None]] = field(default_factory=dict)  # split outputs' labels
    seeded: list[str] = field(default_factory=list)  # calls that made an unseeded estimator, seeded
    seeded_splits: list[str] = field(default_factory=list)  # statements whose split had no random_state
    error: dict[str, Any] | None = None
    seconds: float = 0.0
    ran: bool = False  # False: no run (the data could not be found); the plan is static only

    def after(self, stmt: Stmt, name: str) -> dict[str, Any] | None:
        return self.stmts.get(stmt_key(stmt), {}).get(name)

    def probe(self, cell: int, node: ast.AST) -> dict[str, Any] | None:
        return self.probes.get(node_key(cell, node))

    def has(self, stmt: Stmt) -> bool:
        return stmt_key(stmt) in self.stmts


def probe_targets(node: ast.stmt) -> list[ast.expr]:
    """Sub-expressions worth a probe: calls, subscripts and attributes read outside nested scopes
    (a method's bound attribute, `df.fillna` in `df.fillna(0)`, is not a value of its own)."""
    found: list[ast.expr] = []

    def visit(sub: ast.AST, inside_scope: bool) -> None:
        for child in ast.iter_child_nodes(sub):
            scoped = inside_scope or isinstance(child, SCOPES)
            is_method = isinstance(sub, ast.Call) and child is sub.func
            if (
                not scoped
                and not is_method
                and isinstance(child, ast.Call | ast.Subscript | ast.Attribute)
                and isinstance(getattr(child, "ctx", ast.Load()), ast.Load)
            ):
                found.append(child)
            visit(child, scoped)

    visit(node, isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef))
    return found


def constructs(node: ast.AST) -> bool:
    """A call of a class by its name (`RandomForestClassifier(...)`, `xgb.XGBRegressor(...)`)."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    return name[:1].isupper()


class _Probe(ast.NodeTransformer):
    """Wraps each wanted sub-expression as `__mlship_probe__(key, expr)`, which returns `expr`
    (`__mlship_probe__(key, expr, True)` for a class called by name: what it makes may be seeded)."""

    def __init__(self, cell: int, wanted: set[int]):
        self.cell = cell
        self.wanted = wanted

    def visit(self, node: ast.AST) -> Any:
        key = node_key(self.cell, node) if id(node) in self.wanted else None
        # what a class call makes may be seeded, unless the call sets random_state (even to None) itself
        made = constructs(node) and all(k.arg not in {"random_state", None} for k in node.keywords)  # type: ignore[attr-defined]
        new = super().visit(node)
        if key is None:
            return new
        args = [ast.Constant(key), new, *([ast.Constant(True)] if made else [])]
        return ast.Call(func=ast.Name(id=PROBE, ctx=ast.Load()), args=args, keywords=[])


class _Rows(ast.NodeTransformer):
    """Wraps the features given to `fit`/`predict*` as `__mlship_rows__(key, X)`: their row labels."""

    def __init__(self, cell: int):
        self.cell = cell

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ROW_METHODS and node.args:
            arg = node.args[0]
            node.args[0] = ast.Call(
                func=ast.Name(id=ROWS, ctx=ast.Load()),
                args=[ast.Constant(node_key(self.cell, arg)), arg],
                keywords=[],
            )
        return node


def instrumented(stmt: Stmt) -> str:
    """The statement's code with its probes in (positions are the cell's, so keys match the plan's)."""
    node = copy.deepcopy(stmt.node)
    wanted = {id(t) for t in probe_targets(node)}
    if not isinstance(node, SCOPES):
        node = _Rows(stmt.cell).visit(node)
    node = _Probe(stmt.cell, wanted).visit(node)
    ast.fix_missing_locations(node)
    return ast.unparse(node)


def collect_evidence(
    *,
    cwd: Path,
    prelude: list[str],
    statements: list[Stmt],
    files: dict[str, str],
    seed: int = 0,
    timeout: float = 600,
) -> Evidence:
    """Run `prelude` (imports, parameters, helper definitions), then `statements` with probes; what
    the notebook left unseeded is seeded with `seed` (`mlship.notebook.seeding`)."""
    items: list[dict[str, Any]] = [
        {"key": f"prelude:{i}", "cell": 0, "code": code, "names": []} for i, code in enumerate(prelude)
    ]
    for stmt in statements:
        acc = flow.access(stmt.node)
        items.append(
            {
                "key": stmt_key(stmt),
                "cell": stmt.cell,
                "code": instrumented(stmt),
                "names": sorted(acc.reads | acc.writes),
                "reads": sorted(acc.reads),
                "writes": sorted(acc.writes),
            }
        )
    with tempfile.TemporaryDirectory(prefix="mlship-evidence-") as tmp:
        spec, out = Path(tmp) / "spec.json", Path(tmp) / "facts.json"
        spec.write_text(json.dumps({"cwd": str(cwd), "files": files, "stmts": items, "seed": seed}))
        argv = [sys.executable, "-m", "mlship.notebook.probe_runner", str(spec), str(out)]
        env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"}
        try:
            done = proc.run(argv, cwd=cwd, timeout=timeout, env=env, check=False)
        except ProcessError as exc:
            if not exc.timed_out:
                return Evidence(error={"cell": None, "type": "RunnerError", "message": exc.message})
            return Evidence(
                error={"cell": None, "type": "Timeout", "message": f"ran longer than {timeout:.0f}s"}
            )
        if not out.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [f"exit {done.returncode}"]
            return Evidence(error={"cell": None, "type": "RunnerError", "message": tail[0][:300]})
        facts = json.loads(out.read_text())
    return Evidence(
        stmts=facts["stmts"],
        probes=facts["probes"],
        reads=facts["reads"],
        rows=facts["rows"],
        splits=facts["splits"],
        seeded=facts["seeded"],
        seeded_splits=facts["seeded_splits"],
        error=facts["error"],
        seconds=facts.get("seconds", 0.0),
        ran=True,
    )


def is_reduction(info: dict[str, Any] | None) -> bool:
    """A value computed from the data that is not rows of it: state to freeze at train time."""
    if not info:
        return False
    if info["kind"] in {"estimator", "module", "callable", "other", "none"}:
        return False
    return not info.get("rowlike", False)


def row_shaped(node: ast.AST) -> bool:
    """Expressions about the rows themselves (`len(df)`, `df.shape[0]`, `df.index`): never frozen."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and sub.attr in ROW_SHAPED:
            return True
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id in ROW_CALLS:
            return True
    return False
