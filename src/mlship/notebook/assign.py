"""Which stage each cell goes to, and why: tags first, then markdown headings, then the code itself."""

from __future__ import annotations

import ast
import re
from dataclasses import asdict, dataclass

from mlship.notebook.flow import calls_method, data_reads, root_name
from mlship.notebook.read import Cell, Notebook

STAGES = (
    "parameters",
    "imports",
    "functions",
    "preprocess",
    "train",
    "evaluate",
    "predict",
    "postprocess",
    "skip",
)
TAGS = {s: s for s in STAGES} | {"pipeline-parameters": "parameters", "injected-parameters": "parameters"}
# Heading and step-name keywords; checked in this order ("Evaluate the model" is evaluate, not train).
KEYWORDS = (
    ("predict", ("predict", "scoring", "score new", "infer", "new data", "serv")),
    ("evaluate", ("eval", "metric", "valid", "assess", "performance", "accuracy", "test set")),
    ("train", ("train", "fit", "model")),
    ("preprocess", ("clean", "feature", "prep", "load", "data", "encod", "transform", "wrangl")),
)
DISPLAY_METHODS = {
    "head", "tail", "describe", "info", "plot", "hist", "show", "value_counts", "corr", "sample",
    "nunique", "isna", "isnull", "sum", "mean", "unique", "savefig", "boxplot", "scatter", "to_string",
}  # fmt: skip
PLOT_ROOTS = {"plt", "sns", "matplotlib", "fig", "ax", "axes", "px"}
METRIC_WORDS = re.compile(r"(score|_error|accuracy|report|confusion_matrix|auc|precision|recall)")


@dataclass
class CellPlan:
    index: int
    kind: str
    stage: str
    reason: str
    first_line: str
    execution_count: int | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def keyword_stage(text: str) -> str | None:
    lowered = text.lower()
    for stage, words in KEYWORDS:
        if any(w in lowered for w in words):
            return stage
    return None


def tag_stage(tags: list[str]) -> tuple[str, str] | None:
    for tag in tags:
        if tag in TAGS:
            return TAGS[tag], f"tag `{tag}`"
        if tag.startswith(("step:", "block:")):  # Kale's step names
            stage = keyword_stage(tag.split(":", 1)[1])
            if stage:
                return stage, f"Kale tag `{tag}`"
    return None


def _is_display(stmt: ast.stmt, *, keep_print: bool) -> bool:
    """A statement that only shows something: a bare expression, a plot, a print."""
    if isinstance(stmt, ast.Expr):
        value = stmt.value
        if not isinstance(value, ast.Call):
            return True
        func = value.func
        if isinstance(func, ast.Name):
            return func.id == "display" or (func.id == "print" and not keep_print)
        if isinstance(func, ast.Attribute):
            if root_name(func) in PLOT_ROOTS:
                return True
            if func.attr in DISPLAY_METHODS and not any(k.arg == "inplace" for k in value.keywords):
                return True
        return False
    if isinstance(stmt, ast.Assign):
        values = [n for n in ast.walk(stmt.value) if isinstance(n, ast.Name)]
        return bool(values) and root_name(values[0]) in PLOT_ROOTS
    return False


def is_display(stmt: ast.stmt, *, keep_print: bool = True) -> bool:
    return _is_display(stmt, keep_print=keep_print)


def _content_stage(cell: Cell, *, fit_seen: bool, data_seen: bool) -> tuple[str, str] | None:
    body = cell.tree.body if cell.tree else []
    if not body:
        return "skip", "only magics or shell commands" if cell.source.strip() else "empty cell"
    if all(isinstance(s, ast.Import | ast.ImportFrom) for s in body):
        return "imports", "code: only imports"
    if all(isinstance(s, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.ClassDef) for s in body):
        return "functions", "code: only function or class definitions"
    if all(_is_display(s, keep_print=fit_seen) for s in body):
        return "skip", "code: only displays or plots"
    if not fit_seen and not data_seen and all(_is_constant(s) for s in body):
        return "parameters", "code: only constant assignments before the data is read"
    return None


def _is_constant(stmt: ast.stmt) -> bool:
    if not (
        isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
    ):
        return False
    try:
        ast.literal_eval(stmt.value)
    except (ValueError, TypeError, SyntaxError, RecursionError):
        return False
    return True


def _code_stage(cell: Cell, previous: str | None, fit_seen: bool) -> tuple[str, str]:
    tree = cell.tree or ast.Module(body=[], type_ignores=[])
    if not fit_seen and calls_method(tree, {"fit"}):
        return "train", "code: the first .fit( call starts training"
    if fit_seen and data_reads(tree):
        return "predict", "code: reads new data after the model is fit"
    if previous == "predict" or previous == "postprocess":
        return previous, "follows the previous cell"
    if fit_seen and any(
        METRIC_WORDS.search(_call_name(c)) for c in ast.walk(tree) if isinstance(c, ast.Call)
    ):
        return "evaluate", "code: computes a metric"
    if fit_seen:
        return previous or "train", "follows the previous cell"
    return "preprocess", "code: before the first .fit( call"


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def assign_stages(notebook: Notebook) -> list[CellPlan]:
    tagged = any(tag_stage(c.tags) for c in notebook.code_cells)
    plans: list[CellPlan] = []
    heading: tuple[str, str] | None = None
    last_tag: str | None = None
    previous: str | None = None
    fit_seen = data_seen = False
    for cell in notebook.cells:
        if cell.kind != "code":
            heading = _heading(cell) or heading
            plans.append(CellPlan(cell.index, cell.kind, "skip", "not code", cell.first_line))
            continue
        by_tag = tag_stage(cell.tags)
        if by_tag:
            stage, reason = by_tag
            last_tag = stage
        elif tagged and last_tag:
            stage, reason = last_tag, "follows the previous tagged cell"
        else:
            content = _content_stage(cell, fit_seen=fit_seen, data_seen=data_seen)
            if content:
                stage, reason = content
            elif heading and not (heading[0] == "preprocess" and fit_seen):
                stage, reason = heading
            else:
                stage, reason = _code_stage(cell, previous, fit_seen)
        if stage not in {"skip", "imports", "functions", "parameters"}:
            previous = stage
        tree = cell.tree or ast.Module(body=[], type_ignores=[])
        if stage != "skip":
            fit_seen = fit_seen or bool(calls_method(tree, {"fit"}))
            data_seen = data_seen or bool(data_reads(tree))
        plans.append(CellPlan(cell.index, "code", stage, reason, cell.first_line, cell.execution_count))
    return plans


def _heading(cell: Cell) -> tuple[str, str] | None:
    if cell.kind != "markdown":
        return None
    for line in cell.source.splitlines():
        if line.lstrip().startswith("#"):
            text = line.strip().lstrip("#").strip()
            stage = keyword_stage(text)
            if stage:
                return stage, f"heading '{text[:60]}'"
    return None
