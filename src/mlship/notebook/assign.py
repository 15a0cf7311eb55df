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
# Heading and step-name keywords, checked in this order ("Evaluate the model" is evaluate, not train).
# Each is a regex matched from a word start (`\b`); a stem ends in `\w*` ("modelling", "models"), a whole
# word ends in `\b` ("fit"/"fits"/"fitted"/"fitting" but not "Fittingly" or "fitness").
KEYWORDS = (
    ("predict", (r"predict\w*", r"scoring\b", r"score new\b", r"infer\w*", r"new data\b",
                 r"serv(e|es|ed|ing)\b")),
    ("evaluate", (r"eval\w*", r"metrics?\b", r"validat\w*", r"assess\w*", r"performance\b",
                  r"accuracy\b", r"test set\b")),
    ("train", (r"train\w*", r"fit(s|ted|ting)?\b", r"model\w*")),
    ("preprocess", (r"clean\w*", r"featur\w*", r"prep\w*", r"load\w*",
                    r"data\w*", r"encod\w*", r"transform\w*", r"wrangl\w*")),
)  # fmt: skip
_KEYWORD_RES = tuple((stage, re.compile(r"\b(?:" + "|".join(words) + ")")) for stage, words in KEYWORDS)
HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
DISPLAY_METHODS = {
    "head", "tail", "describe", "info", "plot", "hist", "show", "value_counts", "corr", "sample",
    "nunique", "isna", "isnull", "sum", "mean", "unique", "savefig", "boxplot", "scatter", "to_string",
}  # fmt: skip
PLOT_ROOTS = frozenset({"plt", "sns", "matplotlib", "fig", "ax", "axes", "px"})
# Names imported from these are plot roots whatever they are called (`import seaborn as sb`).
PLOT_LIBRARIES = {"matplotlib", "seaborn", "plotly", "bokeh", "altair", "plotnine", "missingno", "pylab"}
NOT_PLOTS = {"load_dataset", "get_dataset_names"}  # seaborn's data sets are data, not plots
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
    # Kale step names join words with `_` or `-` ("train_model"): those separate words here.
    lowered = re.sub(r"[_\-]+", " ", text.lower())
    for stage, pattern in _KEYWORD_RES:
        if pattern.search(lowered):
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


def plot_names(notebook: Notebook) -> frozenset[str]:
    """Names that hold plots or plotting modules: aliases of plotting libraries, and what their calls bind.

    `import seaborn as sb`, `f, axs = plt.subplots(2, 2)`, `ax2 = ax.twinx()`, `for ax in axs.flat:`.
    """
    names = set(PLOT_ROOTS)
    trees = [c.tree for c in notebook.code_cells if c.tree]
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {(a.asname or a.name).split(".")[0] for a in node.names
                          if a.name.split(".")[0] in PLOT_LIBRARIES}  # fmt: skip
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PLOT_LIBRARIES:
                names |= {a.asname or a.name for a in node.names if a.name != "*"}
    for _ in range(3):  # a name bound from a plot's call may bind the next one
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.Assign) and _plot_call(node.value, names):
                    targets: list[ast.AST] = list(node.targets)
                elif isinstance(node, ast.For) and any(
                    isinstance(n, ast.Name) and n.id in names for n in ast.walk(node.iter)
                ):
                    targets = [node.target]
                else:
                    continue
                names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return frozenset(names)


def _plot_call(value: ast.expr, plots: frozenset[str] | set[str]) -> bool:
    return (
        isinstance(value, ast.Call) and root_name(value.func) in plots and _call_name(value) not in NOT_PLOTS
    )


def _is_display(stmt: ast.stmt, *, keep_print: bool, plots: frozenset[str] = PLOT_ROOTS) -> bool:
    """A statement that only shows something: a bare expression, a plot, a print, a loop of those."""
    if isinstance(stmt, ast.Expr):
        value = stmt.value
        if not isinstance(value, ast.Call):
            return True
        func = value.func
        if isinstance(func, ast.Name):
            return func.id == "display" or (func.id == "print" and not keep_print)
        if isinstance(func, ast.Attribute):
            if root_name(func) in plots and func.attr not in NOT_PLOTS:
                return True
            if func.attr in DISPLAY_METHODS and not any(k.arg == "inplace" for k in value.keywords):
                return True
        return False
    if isinstance(stmt, ast.Assign):
        if isinstance(stmt.value, ast.Call) and _call_name(stmt.value) in NOT_PLOTS:
            return False
        values = [n for n in ast.walk(stmt.value) if isinstance(n, ast.Name)]
        return bool(values) and root_name(values[0]) in plots
    if isinstance(stmt, ast.For) and not stmt.orelse:
        return all(_is_display(s, keep_print=keep_print, plots=plots) for s in stmt.body)
    return False


def is_display(stmt: ast.stmt, *, keep_print: bool = True, plots: frozenset[str] = PLOT_ROOTS) -> bool:
    return _is_display(stmt, keep_print=keep_print, plots=plots)


def _content_stage(
    cell: Cell, *, fit_seen: bool, data_seen: bool, plots: frozenset[str]
) -> tuple[str, str] | None:
    body = cell.tree.body if cell.tree else []
    if not body:
        return "skip", "only magics or shell commands" if cell.source.strip() else "empty cell"
    if all(isinstance(s, ast.Import | ast.ImportFrom) for s in body):
        return "imports", "code: only imports"
    if all(isinstance(s, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.ClassDef) for s in body):
        return "functions", "code: only function or class definitions"
    if all(_is_display(s, keep_print=fit_seen, plots=plots) for s in body):
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
    plots = plot_names(notebook)
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
            content = _content_stage(cell, fit_seen=fit_seen, data_seen=data_seen, plots=plots)
            if content:
                stage, reason = content
            elif (
                heading
                and not (heading[0] == "preprocess" and fit_seen)
                and not (
                    # "Lead scoring" over the data cells: nothing is scored before a model is fitted
                    heading[0] in {"predict", "evaluate"} and not fit_seen
                )
            ):
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
    """The first markdown heading (`# text` .. `###### text`) naming a stage; fenced code is not prose."""
    if cell.kind != "markdown":
        return None
    fenced = False
    for line in cell.source.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match and match.group(1):
            text = match.group(1)
            stage = keyword_stage(text)
            if stage:
                return stage, f"heading '{text[:60]}'"
    return None
