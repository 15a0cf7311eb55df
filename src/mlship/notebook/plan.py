"""The conversion plan: stages per cell, the code of each stage, the names flowing between them.

`plan_notebook` changes nothing on disk; `mlship plan` prints its result and `init --from` emits it.
"""

from __future__ import annotations

import ast
import copy
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlship.errors import InputError
from mlship.notebook import bundled, columns, flow, paths, seeding
from mlship.notebook.assign import CellPlan, assign_stages, is_display, plot_names
from mlship.notebook.dropped import hosted_names, left_out, strip_writes, verify_copy
from mlship.notebook.evidence import Evidence, collect_evidence
from mlship.notebook.read import Notebook, read_notebook
from mlship.notebook.retrace import retrace_serve_path
from mlship.notebook.rewrite import Rewriter, seed_literals
from mlship.notebook.serve_path import ServePath, build_serve_path
from mlship.notebook.shadow import rename_shadowed
from mlship.notebook.star import resolve_star_imports
from mlship.notebook.stmts import Stmt, all_names, apply_rewrite, fresh, stmt_text

TRAIN_PATH = ("preprocess", "train", "evaluate")
SERVE_PATH = ("predict", "postprocess")
FUNCTION_NAMES = {"preprocess": "prepare_data", "train": "train_model", "evaluate": "evaluate_model"}
SEED_PARAMS = {"seed", "random_state", "random_seed", "rng_seed"}


@dataclass
class Segment:
    stage: str
    function: str
    cells: list[int]
    stmts: list[Stmt]
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


@dataclass
class Plan:
    notebook: Path
    cells: list[CellPlan]
    warnings: list[str]
    imports: list[str]
    import_names: dict[str, str]
    helpers: list[Stmt]
    helper_kwargs: dict[str, list[str]]
    params: dict[str, Any]
    param_keys: dict[str, str]  # local name -> key in mlship.yaml params
    train_data: str
    predict_data: str
    segments: list[Segment]
    serve: ServePath
    metrics: list[str]
    requirements: list[str]
    names: set[str]
    notebook_data: dict[str, Any] = field(default_factory=dict, repr=False)
    seconds: float = 0.0
    data_files: list[paths.DataFile] = field(default_factory=list)  # every pandas read, in order
    conversions: dict[str, str] = field(default_factory=dict)  # raw column -> "number"/"integer"
    data_source: bundled.Bundled | None = None  # a scikit-learn loader materialised as the training file
    helper_constants: list[str] = field(default_factory=list)  # module constants the notebook's classes read
    # cell -> the code verify runs instead: seeded, Colab/Kaggle-only statements blanked
    verify_cells: dict[int, str] = field(default_factory=dict)

    @property
    def state(self) -> dict[str, str]:
        """Artifact key -> expression in train's scope that is saved for serving."""
        return self.serve.state

    def to_dict(self) -> dict[str, Any]:
        return {
            "notebook": str(self.notebook),
            "cells": [c.to_dict() for c in self.cells],
            "stages": [
                {
                    "stage": s.stage,
                    "function": s.function,
                    "cells": s.cells,
                    "inputs": s.inputs,
                    "outputs": s.outputs,
                }
                for s in self.segments
            ],
            "serving": self.serve.to_dict(),
            "artifacts": sorted(self.state),
            "params": {self.param_keys.get(k, k): v for k, v in self.params.items()},
            "data": {"train": self.train_data, "predict": self.predict_data},
            "data_files": [d.to_dict() for d in self.data_files],
            "conversions": self.conversions,
            "data_source": self.data_source.to_dict() if self.data_source else None,
            "metrics": self.metrics,
            "helpers": {name: kwargs for name, kwargs in self.helper_kwargs.items()},
            "requirements": self.requirements,
            "warnings": self.warnings,
        }


def fail(notebook: Notebook, message: str, hint: str | None = None) -> InputError:
    return InputError(f"{notebook.path}: {message}", hint=hint)


@dataclass
class _Collected:
    imports: dict[str, str] = field(default_factory=dict)  # text -> text, ordered
    import_names: dict[str, str] = field(default_factory=dict)
    helpers: dict[str, Stmt] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    body: list[tuple[str, Stmt]] = field(default_factory=list)  # (stage, statement)
    requirements: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _collect(notebook: Notebook, stages: dict[int, str]) -> _Collected:
    out = _Collected()
    plots = plot_names(notebook)
    hosted = hosted_names(notebook)
    for cell in notebook.code_cells:
        stage = stages[cell.index]
        # A magics-only cell is skipped as code, but its %pip lines and warnings still count.
        out.requirements += cell.requirements
        out.warnings += [f"cell {cell.index}: {note}" for note in cell.notes]
        if stage == "skip":
            continue
        previous_end = 0
        for stmt in cell.tree.body if cell.tree else []:
            text = stmt_text(cell, stmt, previous_end)
            previous_end = stmt.end_lineno or stmt.lineno
            if dropped := left_out(stmt, stage=stage, cell=cell.index, hosted=hosted):
                out.warnings.append(dropped)
            elif isinstance(stmt, ast.Import | ast.ImportFrom):
                if not (isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__"):
                    unparsed = ast.unparse(stmt)
                    out.imports.setdefault(unparsed, unparsed)
                    for alias in stmt.names:
                        out.import_names[(alias.asname or alias.name).split(".")[0]] = unparsed
            elif isinstance(stmt, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
                if stmt.name in out.helpers:
                    out.warnings.append(
                        f"cell {cell.index}: `{stmt.name}` is defined again; the last one is used"
                    )
                out.helpers[stmt.name] = Stmt(stmt, text, cell.index)
            elif stage == "parameters" and _constant(stmt) is not None:
                out.params[stmt.targets[0].id] = _constant(stmt)[0]  # type: ignore[attr-defined,index]
            elif not is_display(stmt, keep_print=stage in {"train", "evaluate"}, plots=plots):
                body_stage = "preprocess" if stage in {"parameters", "imports", "functions"} else stage
                stripped, writes = strip_writes(stmt, plots)
                out.warnings += [f"cell {cell.index}: a statement in a block {w}" for w in writes]
                if stripped is not stmt:
                    text = ast.unparse(stripped)
                out.body.append((body_stage, Stmt(stripped, text, cell.index)))
    return out


def _constant(stmt: ast.stmt) -> tuple[Any] | None:
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        try:
            return (ast.literal_eval(stmt.value),)
        except (ValueError, TypeError, SyntaxError, RecursionError):
            return None
    return None


def _order_warning(notebook: Notebook) -> list[str]:
    ran = [(c.index, c.execution_count) for c in notebook.code_cells if isinstance(c.execution_count, int)]
    for (a, count_a), (b, count_b) in zip(ran, ran[1:], strict=False):
        if count_b < count_a:
            return [
                f"cells ran out of order in the saved notebook (cell {a} ran as [{count_a}], the later cell "
                f"{b} as [{count_b}]); mlship converts and verifies top to bottom"
            ]
    return []


def _helper_kwargs(collected: _Collected) -> dict[str, list[str]]:
    """Free globals each helper reads (its helpers' included): they become keyword parameters."""
    source = "\n\n".join(s.text for s in collected.helpers.values())
    names = set(collected.helpers) | set(collected.import_names)
    direct = {
        name: flow.function_globals(source, name) - names
        for name, stmt in collected.helpers.items()
        if isinstance(stmt.node, ast.FunctionDef)
    }
    calls = {
        name: {
            n.id for n in ast.walk(collected.helpers[name].node) if isinstance(n, ast.Name) and n.id in direct
        }
        for name in direct
    }
    changed = True
    while changed:
        changed = False
        for name in direct:
            for callee in calls[name] - {name}:
                if not direct[callee] <= direct[name]:
                    direct[name] |= direct[callee]
                    changed = True
    return {name: sorted(found) for name, found in direct.items() if found}


def _class_constants(collected: _Collected, warnings: list[str]) -> list[str]:
    """Globals the notebook's classes read (a custom transformer's column list): a class cannot take
    them as parameters, so helpers.py defines them with the notebook's literal value."""
    source = "\n\n".join(s.text for s in collected.helpers.values())
    known = set(collected.helpers) | set(collected.import_names)
    literals: dict[str, Any] = dict(collected.params)
    for _, stmt in collected.body:
        if (found := _constant(stmt.node)) is not None:
            literals[stmt.node.targets[0].id] = found[0]  # type: ignore[attr-defined]
    out: list[str] = []
    for name, stmt in collected.helpers.items():
        if not isinstance(stmt.node, ast.ClassDef):
            continue
        for global_name in sorted(flow.function_globals(source, name) - known):
            if global_name in literals:
                out.append(
                    f"{global_name} = {literals[global_name]!r}  # read by class {name}; the notebook's value"
                )
                known.add(global_name)
            else:
                warnings.append(
                    f"class `{name}` reads the global `{global_name}`, which is not a constant: "
                    "pass it to the class (e.g. as an __init__ argument)"
                )
    return out


def _add_kwonly(stmt: Stmt, kwargs: list[str]) -> Stmt:
    node = copy.deepcopy(stmt.node)
    assert isinstance(node, ast.FunctionDef)
    existing = {a.arg for a in node.args.args + node.args.kwonlyargs}
    for name in kwargs:
        if name not in existing:
            node.args.kwonlyargs.append(ast.arg(arg=name))
            node.args.kw_defaults.append(None)
    return Stmt(node, ast.unparse(node), stmt.cell)


def plan_notebook(path: Path | str, *, data: list[Path] | None = None, run: bool = True) -> Plan:
    """The plan for a notebook; `run` executes its code once, instrumented, for the evidence
    (`data` are the files its reads resolve to, by name, where they are not at the written path)."""
    started = time.perf_counter()
    notebook = read_notebook(path)
    resolve_star_imports(notebook)  # `from x import *` made explicit before any name is followed
    cells = assign_stages(notebook)
    stages = {c.index: c.stage for c in cells}
    data_files = paths.resolve_reads(notebook, stages)  # annotates the read calls; before any rewrite
    collected = _collect(notebook, stages)
    taken = all_names(notebook)
    warnings = _order_warning(notebook) + collected.warnings
    collected.body = rename_shadowed(collected.body, set(collected.import_names), taken, warnings)
    collected.body = _name_inline_fits(collected.body, taken, warnings)

    train_body, serve_body = _split_body(collected)
    if not any(flow.calls_method(s.node, {"fit", "fit_transform", "fit_predict"}) for s in train_body):
        _refuse_without_fit(notebook, collected, train_body + serve_body)
    constants = dict(collected.params)
    train_body, source = _bundled(notebook, collected, train_body, serve_body, taken)
    train_read = _first_read(notebook, train_body, constants, what="training data")
    if source is not None:
        data_files.insert(0, _source_read(source, *train_read, stages))
    data_path = fresh("data_path", taken)

    seed = _seed(collected, train_body + serve_body, taken, warnings)
    original_body = [s for _, s in collected.body]
    seed_value = seed[1] if seed else 0
    ev = (
        _run_for_evidence(notebook, collected, original_body, data or [], warnings, seed_value)
        if run
        else Evidence()
    )
    # What the run had to seed is seeded in the code too: the notebook's copy for verify, then the modules.
    seeded_cells = seeding.seeded_cells(notebook, ev, seed_value)
    everywhere = list({id(s): s for s in original_body + train_body + serve_body}.values())
    done = seeding.seed_body(everywhere, ev, seed_value)
    verify_cells = verify_copy(notebook, seeded_cells)
    if done:
        warnings.append(seeding.warning(done, seed_value))
        if seed is None:
            seed = _new_seed(collected, taken, seed_value)
    helper_kwargs = _helper_kwargs(collected)
    helper_constants = _class_constants(collected, warnings)
    for name, kwargs in helper_kwargs.items():
        warnings.append(
            f"helper `{name}` reads the global(s) {', '.join(kwargs)}: they become keyword parameters"
        )

    def rewriter(stmt: Stmt, reads: dict[tuple[int, int], ast.expr] | None = None) -> Stmt:
        return apply_rewrite(stmt, Rewriter(helper_kwargs=helper_kwargs, seed=seed, data_reads=reads or {}))

    read_stmt, read_call = train_read
    key = (read_call.lineno, read_call.col_offset)
    train_body = [
        rewriter(
            s, {key: ast.Name(id=data_path, ctx=ast.Load())} if s is read_stmt else _beside(s, data_path)
        )
        for s in train_body
    ]
    if any("os.path.join(os.path.dirname(" in ast.unparse(s.node) for s in train_body):
        collected.imports.setdefault("import os", "import os")
        collected.import_names.setdefault("os", "import os")
    helpers = [
        rewriter(_add_kwonly(s, helper_kwargs[n]) if n in helper_kwargs else s)
        for n, s in collected.helpers.items()
    ]
    serve_body = [rewriter(s) for s in serve_body]
    train_path_text = flow.literal_path(read_call, constants)[0] or ""

    train_written = (
        set(collected.params) | {data_path} | {n for s in train_body for n in flow.access(s.node).writes}
    )
    if seed:
        train_written.add(seed[0])
    serve = None
    if serve_body:
        try:
            serve = build_serve_path(
                notebook, serve_body, train_written, taken, warnings, constants=constants
            )
        except InputError as exc:
            warnings.append(
                f"{exc.message.split(': ', 1)[-1]}; serving replays how the notebook built its features"
            )
    if serve is None:
        traced = retrace_serve_path(
            notebook,
            train_body + serve_body,
            train_ids={id(s.node) for s in train_body},
            train_read=next((s for s in train_body if _same_place(s, read_stmt)), None),
            train_written=train_written,
            taken=taken,
            warnings=warnings,
            evidence=ev,
        )
        serve = traced.serve
        for text in traced.imports:
            collected.imports.setdefault(text, text)
            collected.import_names[text.split()[-1]] = text
        train_body = [h for s in train_body for h in traced.train_hoists.get(id(s.node), [s])]
    segments = _segments(collected, train_body)
    metrics = _metrics(segments)
    _segment_io(
        segments,
        known=set(collected.params) | {data_path} | ({seed[0]} if seed else set()),
        needed=set(serve.train_names) | set(metrics),
    )
    _drop_unused_params(collected, segments, serve, data_path)
    param_keys = {name: ("seed" if seed and name == seed[0] else name) for name in collected.params}
    _data_roles(data_files, read_stmt.cell, read_call, serve)
    return Plan(
        notebook=notebook.path,
        cells=cells,
        warnings=warnings,
        imports=list(collected.imports),
        import_names=collected.import_names,
        helpers=helpers,
        helper_kwargs=helper_kwargs,
        params=collected.params,
        param_keys=param_keys,
        train_data=train_path_text,
        predict_data=serve.data,
        segments=segments,
        serve=serve,
        metrics=metrics,
        requirements=_dedupe(collected.requirements),
        names=taken | {data_path},
        notebook_data=notebook.data,
        seconds=round(time.perf_counter() - started, 4),
        data_files=data_files,
        conversions=columns.conversions(notebook),
        data_source=source,
        helper_constants=helper_constants,
        verify_cells=verify_cells,
    )


def _bundled(
    notebook: Notebook, collected: _Collected, body: list[Stmt], serve_body: list[Stmt], taken: set[str]
) -> tuple[list[Stmt], bundled.Bundled | None]:
    """A scikit-learn bundled loader in the train path becomes a read of the file init materialises."""
    pandas = next((n for n, text in collected.import_names.items() if text.startswith("import pandas")), None)
    try:
        found = bundled.materialise(body, serve_body, pandas or "pd", taken)
    except ValueError as exc:
        raise fail(
            notebook,
            f"{exc}: mlship cannot tell which data frame this scikit-learn loader's data becomes",
            "bind the frame as `data = load_iris(as_frame=True)` then `df = data.frame`, or "
            "`X, y = load_iris(return_X_y=True, as_frame=True)`; or save the data as CSV and read it",
        ) from None
    if found is None:
        return body, None
    if pandas is None:
        collected.imports.setdefault("import pandas as pd", "import pandas as pd")
        collected.import_names["pd"] = "import pandas as pd"
    return found


def _source_read(
    source: bundled.Bundled, stmt: Stmt, call: ast.Call, stages: dict[int, str]
) -> paths.DataFile:
    var = stmt.node.targets[0].id if isinstance(stmt.node, ast.Assign) else None  # type: ignore[attr-defined]
    return paths.DataFile(
        cell=stmt.cell, line=call.lineno, stage=stages.get(stmt.cell, ""), var=var,
        expr=f"{source.loader}()", path=source.file,
    )  # fmt: skip


def _data_roles(reads: list[paths.DataFile], train_cell: int, train_call: ast.Call, serve: ServePath) -> None:
    for read in reads:
        if paths.same_call(read, train_cell, train_call):
            read.role = "train"
            break
    if not serve.synthesized:
        new = next(
            (r for r in reads if not r.role and r.cell in serve.cells and r.path == serve.data and r.var),
            None,
        )
        if new is not None:
            new.role = "predict"
    paths.assign_keys(reads)


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _first_read(
    notebook: Notebook, body: list[Stmt], constants: dict[str, Any], *, what: str
) -> tuple[Stmt, ast.Call]:
    for stmt in body:
        for call in flow.data_reads(stmt.node):
            path, _ = flow.literal_path(call, constants)
            if path is None:
                raise fail(
                    notebook,
                    f"cell {stmt.cell}: the {what} is read from an expression mlship cannot resolve "
                    f"(line {call.lineno}: {ast.unparse(call)[:80]})",
                    "build the path from string literals and names assigned to them (os.path.join, "
                    "Path(...) / ..., f-strings and + work), or pass a literal",
                )
            return stmt, call
    raise fail(
        notebook,
        f"no cell reads the {what} from a file (pd.read_csv, read_parquet, ...)",
        "mlship needs the data file the notebook trains on; read it with pandas in a cell",
    )


def _seed(
    collected: _Collected, body: list[Stmt], taken: set[str], warnings: list[str]
) -> tuple[str, int] | None:
    for name, value in collected.params.items():
        if name.lower() in SEED_PARAMS and type(value) is int:
            return name, value
    found = Counter(v for s in body for v in seed_literals(s.node))
    if not found:
        return None
    value, _ = found.most_common(1)[0]
    others = sorted(v for v in found if v != value)
    if others:
        warnings.append(
            f"several seeds are used ({value}, {', '.join(map(str, others))}); only {value} becomes `seed`"
        )
    return _new_seed(collected, taken, value)


def _name_inline_fits(
    body: list[tuple[str, Stmt]], taken: set[str], warnings: list[str]
) -> list[tuple[str, Stmt]]:
    """`X = StandardScaler().fit_transform(X)`: the fitted object gets a name of its own (a statement
    before), so training keeps it and serving transforms with it instead of fitting it on the request."""
    import re

    from mlship.notebook.evidence import constructs

    out: list[tuple[str, Stmt]] = []
    for stage, stmt in body:
        if not isinstance(stmt.node, ast.Assign | ast.Expr | ast.AugAssign):
            out.append((stage, stmt))
            continue
        node = copy.deepcopy(stmt.node)
        named: list[ast.stmt] = []
        for call in ast.walk(node):
            func = call.func if isinstance(call, ast.Call) else None
            if not (
                isinstance(func, ast.Attribute) and func.attr == "fit_transform" and constructs(func.value)
            ):
                continue
            made = func.value
            cls = made.func.id if isinstance(made.func, ast.Name) else made.func.attr  # type: ignore[attr-defined]
            name = fresh(re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", cls).lower(), taken)
            # Its own position, one column before the statement's: the run's facts are keyed by place.
            bind = ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=made)
            ast.copy_location(bind, stmt.node)
            bind.col_offset -= 1
            named.append(ast.fix_missing_locations(bind))
            func.value = ast.copy_location(ast.Name(id=name, ctx=ast.Load()), made)
            warnings.append(
                f"cell {stmt.cell}: `{ast.unparse(made)[:50]}` is fitted inline; it becomes `{name}`, "
                "fitted in training and only transforming at serving"
            )
        out += [(stage, Stmt(b, ast.unparse(b), stmt.cell)) for b in named]
        out.append((stage, Stmt(node, ast.unparse(node), stmt.cell) if named else stmt))
    return out


def _split_body(collected: _Collected) -> tuple[list[Stmt], list[Stmt]]:
    """Training's statements and serving's, in notebook order. A statement of a predict cell that a
    later training statement reads (`y_pred = model.predict(X_test)` under "Predict", then its
    accuracy under "Evaluation") runs in training too, where the metric is computed."""
    train = [s for stage, s in collected.body if stage in TRAIN_PATH]
    serve = [s for stage, s in collected.body if stage in SERVE_PATH]
    order = {id(s.node): i for i, (_, s) in enumerate(collected.body)}
    access = {id(s.node): flow.access(s.node) for _, s in collected.body}
    known = set(collected.import_names) | set(collected.params) | set(collected.helpers)
    while True:
        written: set[str] = set(known)
        pulled = None
        for stmt in train:
            missing = access[id(stmt.node)].reads - written
            writers = [
                s for s in serve
                if order[id(s.node)] < order[id(stmt.node)] and access[id(s.node)].writes & missing
            ]  # fmt: skip
            if writers:
                pulled = writers[-1]
                break
            written |= access[id(stmt.node)].writes
        if pulled is None:
            return train, serve
        serve.remove(pulled)
        train = sorted([*train, pulled], key=lambda t: order[id(t.node)])


def _refuse_without_fit(notebook: Notebook, collected: _Collected, body: list[Stmt]) -> None:
    """No top-level fit: fine when a cell keeps what a notebook function fits and returns."""
    inside = next(
        (s.node for s in collected.helpers.values() if flow.calls_method(s.node, {"fit", "fit_predict"})),
        None,
    )
    if not isinstance(inside, ast.FunctionDef):
        raise fail(
            notebook,
            "no cell fits a model: there is no `.fit(` call outside skipped cells",
            "mlship converts notebooks that train a model; check that the training cell is not tagged `skip`",
        )
    if _binds_call(body, inside.name):
        return  # `model = build_model(X_train, y_train)`: the returned model is the one that serves
    cell = next(s.cell for s in collected.helpers.values() if s.node is inside)
    raise fail(
        notebook,
        f"the model is fitted only inside the function `{inside.name}` (cell {cell}), and no cell keeps "
        "what it fits: mlship cannot tell which fit is the model that serves",
        f"have it return the fitted model and keep the chosen one (`model = {inside.name}(...)`), or fit "
        "it at the top level of a cell (e.g. `model = KNeighborsClassifier(5).fit(X_train, y_train)`), "
        "then convert again",
    )


def _binds_call(body: list[Stmt], function: str) -> bool:
    """A top-level `name = function(...)`: the model the function fits and returns has a name."""
    return any(
        isinstance(s.node, ast.Assign)
        and isinstance(s.node.value, ast.Call)
        and isinstance(s.node.value.func, ast.Name)
        and s.node.value.func.id == function
        for s in body
    )


def _new_seed(collected: _Collected, taken: set[str], value: int) -> tuple[str, int]:
    name = "seed" if "seed" not in taken else fresh("seed", taken)
    taken.add(name)
    collected.params[name] = value
    return name, value


def _segments(collected: _Collected, body: list[Stmt]) -> list[Segment]:
    stage_of = {id(s.node): stage for stage, s in collected.body}
    segments: list[Segment] = []
    counts: Counter[str] = Counter()
    for stmt in body:
        stage = stage_of.get(id(stmt.node)) or _stage_by_cell(collected, stmt.cell)
        stage = stage if stage in TRAIN_PATH else "evaluate"  # a prediction training's metrics read
        if not segments or segments[-1].stage != stage:
            counts[stage] += 1
            suffix = f"_{counts[stage]}" if counts[stage] > 1 else ""
            segments.append(Segment(stage, FUNCTION_NAMES[stage] + suffix, [], []))
        segment = segments[-1]
        segment.stmts.append(stmt)
        if stmt.cell not in segment.cells:
            segment.cells.append(stmt.cell)
    return segments


def _stage_by_cell(collected: _Collected, cell: int) -> str:
    return next(stage for stage, s in collected.body if s.cell == cell)


def _metrics(segments: list[Segment]) -> list[str]:
    names: list[str] = []
    for segment in segments:
        if segment.stage != "evaluate":
            continue
        for stmt in segment.stmts:
            if isinstance(stmt.node, ast.Assign):
                names += [t.id for t in stmt.node.targets if isinstance(t, ast.Name) and t.id not in names]
    return names


def _segment_io(segments: list[Segment], *, known: set[str], needed: set[str]) -> None:
    """Inputs come from parameters or earlier stages; a stage returns what a later one reads."""
    everything = known | {n for s in segments for st in s.stmts for n in flow.access(st.node).writes}
    free = [flow.stage_io([st.node for st in s.stmts], everything)[0] for s in segments]
    writes = [flow.stage_io([st.node for st in s.stmts], set())[1] for s in segments]
    available = set(known)
    for i, segment in enumerate(segments):
        segment.inputs = [n for n in free[i] if n in available]
        available |= writes[i]
    for i, segment in enumerate(segments):
        later_reads: set[str] = set()
        for j in range(i + 1, len(segments)):
            # a later stage reads it before any stage in between assigns it anew
            later_reads |= {n for n in free[j] if not any(n in writes[k] for k in range(i + 1, j))}
        final = {n for n in needed if not any(n in writes[k] for k in range(i + 1, len(segments)))}
        segment.outputs = sorted(writes[i] & (later_reads | final), key=lambda n: (n not in needed, n))


def _drop_unused_params(
    collected: _Collected, segments: list[Segment], serve: ServePath, data_path: str
) -> None:
    """A constant that only held the data path is not a parameter any more (data.train holds it)."""
    used = {n for s in segments for n in s.inputs} | set(serve.train_names)
    for name in list(collected.params):
        if name not in used:
            del collected.params[name]


def _run_for_evidence(
    notebook: Notebook,
    collected: _Collected,
    body: list[Stmt],
    data: list[Path],
    warnings: list[str],
    seed: int,
) -> Evidence:
    """The notebook's kept code, run once with probes; static only when its data cannot be found."""
    prelude = list(collected.imports)
    prelude += [f"{name} = {value!r}" for name, value in collected.params.items()]
    prelude += [s.text if '"""' not in s.text and "'''" not in s.text else ast.unparse(s.node)
                for s in collected.helpers.values()]  # fmt: skip
    files = {p.name: str(p.resolve()) for p in data}
    ev = collect_evidence(
        cwd=notebook.path.parent.resolve(), prelude=prelude, statements=body, files=files, seed=seed
    )
    if ev.error is None:
        return ev
    error = ev.error
    if str(error.get("key", "")).startswith("prelude:"):  # an import or a helper: the cell it came from
        error["cell"] = _cell_of(notebook, prelude[int(error["key"].split(":")[1])]) or error["cell"]
    if error["type"] in {"FileNotFoundError", "Timeout", "RunnerError"}:
        where = f"cell {error['cell']}: " if error.get("cell") else ""
        warnings.append(
            f"the notebook was not run for evidence ({where}{error['type']}: {error['message']}); "
            "the plan is static (pass its data files with --data)"
        )
        return Evidence()
    from mlship.notebook.stale import likely_fix, one_line

    code = next((c.code for c in notebook.code_cells if c.index == error["cell"]), "")
    everything = "\n".join(c.code for c in notebook.code_cells)  # the cause may sit in an earlier cell
    fix = likely_fix(error["type"], error["message"], code) or likely_fix(
        error["type"], error["message"], everything
    )
    raise fail(
        notebook,
        f"cell {error['cell']} fails when the notebook runs top to bottom: "
        f"{one_line(error['type'], error['message'])}",
        f"likely fix: {fix}"
        if fix
        else "fix the cell so the notebook runs in a fresh kernel (Restart & Run All), then convert it again",
    )


def _cell_of(notebook: Notebook, code: str) -> int | None:
    """The first cell holding a statement written as `code` (a prelude line: an import, a helper)."""
    try:
        wanted = ast.dump(ast.parse(code))
    except SyntaxError:
        return None
    for cell in notebook.code_cells:
        for node in cell.tree.body if cell.tree else []:
            if ast.dump(ast.Module(body=[node], type_ignores=[])) == wanted:
                return cell.index
    return None


def _same_place(a: Stmt, b: Stmt) -> bool:
    return (a.cell, a.node.lineno, a.node.col_offset) == (b.cell, b.node.lineno, b.node.col_offset)


def _beside(stmt: Stmt, data_path: str) -> dict[tuple[int, int], ast.expr] | None:
    """Training reads another file too (a test set, a lookup table): it is read from beside the training
    file, where `init --from` copies it (`data/`), whatever path the notebook wrote."""
    found: dict[tuple[int, int], ast.expr] = {}
    for call in flow.data_reads(stmt.node):
        resolved = getattr(call, "mlship_path", None)
        if isinstance(resolved, str) and resolved:
            name = paths.basename(resolved)
            found[(call.lineno, call.col_offset)] = ast.parse(
                f"os.path.join(os.path.dirname({data_path}), {name!r})", mode="eval"
            ).body
    return found or None
