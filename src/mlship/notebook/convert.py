"""`mlship init --from NOTEBOOK`: plan, render, and write the project through the same template.

The project is rendered into a temporary directory by `mlship.scaffold.init_project`; the hook below
replaces the template's example model with the notebook's code before anything is moved into place,
so a failure at any step leaves no partial project behind.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlship.errors import InputError
from mlship.notebook import columns, datafiles
from mlship.notebook.assign import STAGES
from mlship.notebook.emit import format_code, render_modules, requirements
from mlship.notebook.paths import basename
from mlship.notebook.plan import Plan, plan_notebook
from mlship.scaffold import InitResult, init_project

STAGE_TAGS = set(STAGES)
SAMPLE_ROWS = 20  # records written as data.predict when the run could not tell the holdout
NOTEBOOK_DIR = "notebooks"


@dataclass
class ConvertResult:
    init: InitResult
    plan: Plan
    notebook_copy: str
    formatted: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.init.to_dict(),
            "notebook": str(self.plan.notebook),
            "notebook_copy": self.notebook_copy,
            "formatted": self.formatted,
            "plan": self.plan.to_dict(),
        }


def _resolve_data(plan: Plan, literal: str, extra: list[Path], what: str) -> Path:
    """A data path as the notebook wrote it -> the file: --data by name, next to the notebook, or cwd."""
    found = datafiles.find_file(plan.notebook, literal, extra)
    if found is None:
        name = basename(literal)
        raise InputError(
            f"{plan.notebook}: the notebook reads its {what} from {literal!r}, "
            "which is not next to the notebook",
            hint=f"pass the file with --data PATH (matched by its name, {name})",
        )
    return found


def _columns(path: Path) -> tuple[list[str], Any]:
    from mlship.datafiles import read_table

    frame = read_table(path)
    return [str(c) for c in frame.columns], frame


def _schema(train: Any, new: Any, fit_rows: list[int] | None = None) -> dict[str, dict[str, Any]]:
    """The contract schema of a request: the new records' fields, typed from the data; a field with
    gaps in the rows the model was fitted on is optional (the model learned from records without it).
    Rows the notebook dropped before the fit (`dropna`) do not count: the model never saw their gaps."""
    import pandas as pd

    schema: dict[str, dict[str, Any]] = {}
    fitted = train
    if fit_rows and len(fit_rows) < len(train) and max(fit_rows) < len(train) and min(fit_rows) >= 0:
        fitted = train.iloc[fit_rows]
    for column in new.columns:
        values = train[column] if column in train.columns else new[column]
        learned = fitted[column] if column in fitted.columns else new[column]
        if pd.api.types.is_bool_dtype(values):
            schema[str(column)] = {"type": "boolean"}
        elif pd.api.types.is_integer_dtype(values):
            schema[str(column)] = {"type": "integer"}
        elif pd.api.types.is_numeric_dtype(values):
            schema[str(column)] = {"type": "number"}
        else:
            seen = sorted(str(v) for v in values.dropna().unique())
            schema[str(column)] = (
                {"type": "category", "values": seen} if len(seen) <= 30 else {"type": "string"}
            )
        # gaps in the rows fitted on, or in the records the notebook scored (and so handled): optional
        if learned.isna().any() or new[column].isna().any():
            schema[str(column)]["required"] = False
    return schema


def convert_notebook(
    *,
    notebook: Path,
    directory: Path,
    name: str | None = None,
    data: list[Path] | None = None,
    template: str | None = None,
    force: bool = False,
) -> ConvertResult:
    extra = [Path(p) for p in data or []]
    for path in extra:
        if path.is_dir():
            raise InputError(f"--data {path} is a directory", hint="pass each data file with its own --data")
        if not path.is_file():
            raise InputError(f"--data {path}: no such file")
    plan = plan_notebook(notebook, data=extra)
    datafiles.check_extra(plan.notebook, plan.data_files, extra)
    scratch = tempfile.TemporaryDirectory(prefix="mlship-data-")
    if plan.data_source is not None:  # a scikit-learn loader: its frame becomes the training file
        train_file = Path(scratch.name) / plan.data_source.file
        plan.data_source.frame().to_csv(train_file, index=False)
    else:
        train_file = _resolve_data(plan, plan.train_data, extra, "training data")
    _, train_frame = _columns(train_file)
    # Typed by what the notebook converts them to: text columns it makes numbers are numbers (blank -> null).
    train_frame, _ = columns.apply(train_frame, plan.conversions)
    blanked = False
    if plan.serve.synthesized:
        # No new records in the notebook: the first training rows, without the target, stand in.
        new_file = None
        # The rows the notebook scored (its holdout), as a request carries them: without the target.
        rows = train_frame.iloc[plan.serve.holdout] if plan.serve.holdout else train_frame.head(SAMPLE_ROWS)
        new_frame = rows.drop(columns=plan.serve.target_columns, errors="ignore").reset_index(drop=True)
        names = {"train": train_file.name, "predict": f"{train_file.stem}-sample.csv"}
    else:
        new_file = _resolve_data(plan, plan.predict_data, extra, "new records to score")
        _, new_frame = _columns(new_file)
        new_frame, blanked = columns.apply(new_frame, plan.conversions)
        if blanked:
            plan.warnings.append(
                f"{new_file.name}: blank values in columns the notebook converts to numbers are written as "
                "empty (null) in the project's copy, as the request schema takes them"
            )
        names = {"train": train_file.name, "predict": new_file.name}
        if new_file != train_file and new_file.name == train_file.name:
            names["predict"] = f"{new_file.stem}-predict{new_file.suffix}"
    known = {"train": train_file} | ({"predict": new_file} if new_file is not None else {})
    files = datafiles.map_files(plan.notebook, plan.data_files, extra, known, plan.warnings)
    names = datafiles.project_names(files, names)
    schema = _schema(train_frame, new_frame, plan.serve.fit_rows)
    state: dict[str, Any] = {}

    def write(rendered: Path) -> None:
        package = _template_package(rendered, template)
        pkg = rendered / "src" / package
        modules = render_modules(plan, package, schema)
        for old in ("preprocess.py", "train.py", "predict.py"):
            (pkg / old).unlink(missing_ok=True)
        for file_name, code in modules.items():
            (pkg / file_name).write_text(code, encoding="utf-8")
        _write_tests(rendered, plan, package, names)
        state["formatted"] = format_code([*pkg.glob("*.py"), *(rendered / "tests").glob("*.py")])
        _write_data(rendered, files, names, new_frame if blanked or "predict" not in files else None)
        state["copy"] = _write_notebook_copy(rendered, plan, names)
        _write_config(rendered, plan, package, names, state["copy"], schema)
        reqs = requirements(plan, modules, package)
        (rendered / "requirements.txt").write_text(
            "# What the model needs at train and serve time (from the notebook's imports and %pip lines).\n"
            + "\n".join(reqs)
            + "\n"
        )
        _write_readme(rendered, plan, package, names, state["copy"])

    result = init_project(
        directory=directory,
        name=name,
        template=template,
        no_input=True,
        force=force,
        extra_context={"description": f"Converted from the notebook {plan.notebook.name} by mlship."},
        postprocess=write,
    )
    scratch.cleanup()
    return ConvertResult(result, plan, state["copy"], bool(state["formatted"]))


def _template_package(rendered: Path, template: str | None) -> str:
    """The one package under the rendered template's src/, where the notebook's modules go."""
    src = rendered / "src"
    packages = (
        [p.name for p in src.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))]
        if src.is_dir()
        else []
    )
    if len(packages) != 1:
        found = f"src/ holds {sorted(packages)}" if src.is_dir() else "it has no src/ directory"
        raise InputError(
            f"the template {template or '(built in)'} does not render one package under src/ ({found})",
            hint="use a template whose project has the layout src/<package>/ (as `mlship init` makes), "
            "or leave out --template",
        )
    return packages[0]


def _write_tests(rendered: Path, plan: Plan, package: str, names: dict[str, str]) -> None:
    from mlship.notebook.emit import _render

    tests = rendered / "tests"
    for old in ("test_model.py", "test_preprocess.py"):
        (tests / old).unlink(missing_ok=True)
    (tests / "conftest.py").write_text(_render("conftest.py.j2"))
    params = {plan.param_keys[k]: v for k, v in plan.params.items()}
    (tests / "test_pipeline.py").write_text(
        _render(
            "test_pipeline.py.j2",
            package=package,
            train_data=f"data/{names['train']}",
            predict_data=f"data/{names['predict']}",
            params=repr(params),
            postprocess=bool(plan.serve.post) and not plan.serve.uses["postprocess"],
        )
    )


def _write_data(rendered: Path, files: dict[str, Path], names: dict[str, str], new_frame: Any | None) -> None:
    """Each file into data/; `new_frame` (when given) is written as data.predict instead of a copy."""
    data = rendered / "data"
    if data.is_dir():
        shutil.rmtree(data)  # the template's example data belongs to the example model
    data.mkdir()
    for key, path in files.items():
        if not (data / names[key]).exists():
            shutil.copy2(path, data / names[key])
    if new_frame is not None:
        new_frame.to_csv(data / names["predict"], index=False)


def _write_notebook_copy(rendered: Path, plan: Plan, names: dict[str, str]) -> str:
    """The original notebook with the plan as cell tags and data paths that work from the project."""
    data = json.loads(json.dumps(plan.notebook_data))
    stage_of = {c.index: c.stage for c in plan.cells}
    for number, cell in enumerate(data["cells"], start=1):
        if cell.get("cell_type") != "code":
            continue
        meta = cell.setdefault("metadata", {})
        tags = [
            t for t in meta.get("tags", []) if t not in STAGE_TAGS and not t.startswith(("step:", "block:"))
        ]
        meta["tags"] = [*tags, stage_of[number]]
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else source
        cell["source"] = datafiles.rewrite_cell(text, number, plan.data_files, names)
    out = rendered / NOTEBOOK_DIR / plan.notebook.name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return f"{NOTEBOOK_DIR}/{plan.notebook.name}"


def _write_config(
    rendered: Path, plan: Plan, package: str, names: dict[str, str], copy: str, schema: dict[str, Any]
) -> None:
    import yaml

    path = rendered / "mlship.yaml"
    config = yaml.safe_load(path.read_text())
    entrypoints = {
        "preprocess": f"{package}.preprocess:transform",
        "train": f"{package}.train:main",
        "load": f"{package}.predict:load",
        "predict": f"{package}.predict:predict",
    }
    if plan.serve.post and not plan.serve.uses["postprocess"]:
        entrypoints["postprocess"] = f"{package}.predict:postprocess"
    config["entrypoints"] = entrypoints
    config["data"] = {key: f"data/{name}" for key, name in names.items()}
    config["params"] = {plan.param_keys[k]: v for k, v in plan.params.items()}
    if len(plan.serve.target_columns) == 1 and "target" not in config["params"]:
        # What the notebook learned to predict: `mlship train` measures the model on it, and
        # `mlship monitor --labels` joins outcomes of that name.
        config["params"]["target"] = plan.serve.target_columns[0]
    config["contract"] = {"schema": schema}
    config["notebook"] = {"path": copy}
    header = "# mlship.yaml: the one source of truth for this project. `mlship config` prints it resolved.\n"
    path.write_text(header + yaml.safe_dump(config, sort_keys=False, default_flow_style=False, width=100))


def _write_readme(rendered: Path, plan: Plan, package: str, names: dict[str, str], copy: str) -> None:
    from mlship.notebook.emit import _render

    def cells(stages: set[str]) -> str:
        return ", ".join(str(c.index) for c in plan.cells if c.stage in stages)

    rows = [
        (f"src/{package}/preprocess.py", cells({"preprocess", "predict"}), "raw records -> features"),
        (
            f"src/{package}/train.py",
            cells({"parameters", "train", "evaluate"}),
            "trains, evaluates, saves artifacts",
        ),
        (
            f"src/{package}/predict.py",
            cells({"predict", "postprocess"}),
            "`load`, `predict` (and `postprocess`)",
        ),
    ]
    if plan.helpers:
        rows.append((f"src/{package}/helpers.py", cells({"functions"}), "the notebook's own functions"))
    (rendered / "README.md").write_text(
        _render(
            "README.md.j2",
            name=package.replace("_", "-"),
            notebook_copy=copy,
            rows=rows,
            predict_data=f"data/{names['predict']}",
        )
    )
