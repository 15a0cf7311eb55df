"""`mlship verify`: run the notebook (a real kernel) and the generated pipeline (a fresh `python`),
compare predictions and metrics within a tolerance, and turn the notebook's values into a golden test.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlship import proc
from mlship.compare import close
from mlship.errors import ProcessError, ProjectCodeError, UsageError
from mlship.project import Project

CAPTURE = """
import json as _mlship_json, numbers as _mlship_numbers

def _mlship_plain(value):
    if hasattr(value, "tolist"):
        value = value.tolist()
    elif hasattr(value, "to_numpy"):
        value = value.to_numpy().tolist()
    return [v.item() if hasattr(v, "item") else v for v in list(value)]

_mlship_metrics = {{}}
for _mlship_name in {metrics!r}:
    _mlship_value = globals().get(_mlship_name)
    if isinstance(_mlship_value, _mlship_numbers.Real):
        _mlship_metrics[_mlship_name] = float(_mlship_value)
with open({path!r}, "w") as _mlship_file:
    _mlship_json.dump({{"predictions": _mlship_plain({output}), "metrics": _mlship_metrics}}, _mlship_file,
                      default=str)
"""


@dataclass
class ParityRow:
    check: str
    notebook: str
    pipeline: str
    difference: str
    ok: bool


@dataclass
class VerifyResult:
    project: str
    notebook: str
    ok: bool
    rtol: float
    atol: float
    rows: list[ParityRow] = field(default_factory=list)
    notebook_seconds: float = 0.0
    pipeline_seconds: float = 0.0
    golden_test: str | None = None
    examples: str | None = None  # what became of contract.examples (seeded, or why not)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _abs_diff(a: Any, b: Any) -> float:
    if isinstance(a, list) and isinstance(b, list):
        return max((_abs_diff(x, y) for x, y in zip(a, b, strict=False)), default=0.0)
    try:
        return abs(float(a) - float(b))
    except (TypeError, ValueError):
        return 0.0 if a == b else math.inf


def _kernel_manager(workdir: Path) -> Any:
    """A kernel of this very interpreter: the notebook runs with the packages the pipeline uses."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec_dir = workdir / "kernels" / "mlship-python"
    spec_dir.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec_dir / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "mlship", "language": "python"})
    )
    specs = KernelSpecManager(kernel_dirs=[str(workdir / "kernels")], ensure_native_kernel=False)
    return KernelManager(kernel_name="mlship-python", kernel_spec_manager=specs)


def run_notebook(path: Path, *, output: str, metrics: list[str], timeout: float,
                 on_progress: Callable[[str], None], replace: dict[int, str] | None = None,
                 ) -> dict[str, Any]:  # fmt: skip
    """Execute the notebook top to bottom in a real kernel; returns its predictions and metrics.
    `replace`: cell (1-based) -> the code that runs instead (the plan's seeded cells)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    notebook = nbformat.read(str(path), as_version=4)
    total = len(notebook.cells)
    for index, code in (replace or {}).items():
        notebook.cells[index - 1].source = code
    with tempfile.TemporaryDirectory(prefix="mlship-verify-") as tmp:
        capture = Path(tmp) / "notebook.json"
        notebook.cells.append(
            nbformat.v4.new_code_cell(CAPTURE.format(metrics=metrics, path=str(capture), output=output))
        )
        workdir = _scratch_workdir(path, Path(tmp), notebook)
        client = NotebookClient(
            notebook,
            km=_kernel_manager(Path(tmp)),
            timeout=int(timeout),
            resources={"metadata": {"path": str(workdir)}},
            on_cell_start=lambda cell, cell_index: on_progress(
                f"notebook cell {min(cell_index + 1, total)}/{total}"
            ),
        )
        kernel_log = (Path(tmp) / "kernel.log").open("w")
        try:
            # The kernel's own chatter (transport warnings) goes to a log, not the user's terminal.
            client.execute(stderr=kernel_log)
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
            failed = next((i for i, c in enumerate(notebook.cells, 1) if _has_error(c)), None)
            where = "the capture step" if failed == total + 1 else f"cell {failed}" if failed else "a cell"
            source = notebook.cells[failed - 1].source if failed else ""
            raise _notebook_failure(path, where, exc, source) from None
        except RuntimeError as exc:  # the kernel did not start or answer
            raise ProjectCodeError(
                f"{path}: could not run the notebook: {exc}",
                hint=f"check that ipykernel works: {sys.executable} -m ipykernel_launcher --help",
            ) from None
        finally:
            kernel_log.close()
        return json.loads(capture.read_text())


def _notebook_failure(path: Path, where: str, exc: Exception, source: str) -> ProjectCodeError:
    """Which cell failed, the exception in one line, and a likely fix when a library API changed."""
    from mlship.notebook.stale import likely_fix, one_line

    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    error = one_line(ename, evalue or "") if ename else type(exc).__name__
    fix = likely_fix(ename, evalue or "", source + "\n" + str(exc)) if ename else None
    restart = "fix the notebook so it runs top to bottom in a fresh kernel (Restart & Run All)"
    return ProjectCodeError(
        f"{path}: the notebook failed in {where} when run top to bottom: {error}",
        hint=f"likely fix: {fix}; then {restart.replace('fix the notebook so it ', 'check it ')}"
        if fix
        else restart,
        details=str(exc)[-2000:],
    )


def _scratch_workdir(path: Path, tmp: Path, notebook: Any) -> Path:
    """Where the notebook runs: a copy of its folder beside a link to the project's data, so what it
    writes (a submission, a pickled model) lands in a scratch directory, not in the project; the
    folders it writes into exist."""
    from mlship.notebook.dropped import written_paths

    workdir = tmp / "run" / path.parent.name
    shutil.copytree(path.parent, workdir, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for sibling in path.parent.parent.iterdir():
        if sibling.name != path.parent.name and not (tmp / "run" / sibling.name).exists():
            (tmp / "run" / sibling.name).symlink_to(sibling.resolve())
    for written in written_paths(notebook):
        target = Path(written)
        if not target.is_absolute() and ".." not in target.parts:
            (workdir / target).parent.mkdir(parents=True, exist_ok=True)
    return workdir


def _has_error(cell: Any) -> bool:
    return any(o.get("output_type") == "error" for o in cell.get("outputs", []))


def run_pipeline(project: Project, *, predict_data: Path, timeout: float) -> dict[str, Any]:
    """Train and predict with the generated modules in a fresh plain `python` process."""
    cfg = project.config
    args = {
        "name": cfg.name,
        "version": cfg.version,
        "source": str(project.source_dir),
        "entrypoints": cfg.entrypoints.model_dump(),
        "data": str(project.data_path("train")),
        "predict": str(predict_data),
        "params": dict(cfg.params),
    }
    with tempfile.TemporaryDirectory(prefix="mlship-verify-") as tmp:
        out = Path(tmp) / "pipeline.json"
        argv = [sys.executable, "-m", "mlship.notebook.runner", json.dumps(args), str(out)]
        try:
            done = proc.run(argv, cwd=project.root, timeout=timeout, check=False)
        except ProcessError as exc:
            if not exc.timed_out:
                return {"error": exc.message}
            return {"error": f"the pipeline ran longer than {timeout:.0f}s"}
        if done.returncode != 0 or not out.is_file():
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
            return {"error": tail or f"exited with {done.returncode}"}
        return json.loads(out.read_text())


def compare(nb: dict[str, Any], pipe: dict[str, Any], *, rtol: float, atol: float) -> list[ParityRow]:
    if "error" in pipe:
        return [ParityRow("pipeline runs", "ran", "failed", pipe["error"], False)]
    expected, got = nb["predictions"], pipe["predictions"]
    rows = []
    if len(expected) != len(got):
        rows.append(ParityRow("predictions", f"{len(expected)} rows", f"{len(got)} rows", "row count", False))
    else:
        bad = [
            i for i, (a, b) in enumerate(zip(expected, got, strict=False)) if not close(a, b, atol, rtol=rtol)
        ]
        diff = max((_abs_diff(a, b) for a, b in zip(expected, got, strict=False)), default=0.0)
        detail = f"max |diff| {diff:.3g}" + (f"; {len(bad)} differ, first row {bad[0]}" if bad else "")
        rows.append(ParityRow(f"predictions ({len(got)} rows)", _show(expected), _show(got), detail, not bad))
    singles = {int(row): value for row, value in pipe.get("singles", {}).items()}
    if singles:
        order = sorted(singles)
        want = [expected[i] if i < len(expected) else None for i in order]
        alone = [singles[i] for i in order]
        bad = [i for i, a, b in zip(order, want, alone, strict=True) if not close(a, b, atol, rtol=rtol)]
        diff = max((_abs_diff(a, b) for a, b in zip(want, alone, strict=True)), default=0.0)
        detail = f"max |diff| {diff:.3g}" + (
            f"; {len(bad)} differ, rows {', '.join(map(str, bad[:8]))}{' ...' if len(bad) > 8 else ''}"
            if bad
            else ""
        )
        rows.append(
            ParityRow(f"records scored alone ({len(order)} of {len(expected)})", _show(want), _show(alone),
                      detail,
                      not bad)
        )  # fmt: skip
    for name, value in nb["metrics"].items():
        mine = pipe["metrics"].get(name)
        ok = mine is not None and close(value, mine, atol, rtol=rtol)
        gap = f"{abs(value - mine):.3g}" if mine is not None else "missing in train's metrics"
        rows.append(
            ParityRow(f"metric {name}", f"{value:.6g}", "-" if mine is None else f"{mine:.6g}", gap, ok)
        )
    return rows


def _show(values: list[Any]) -> str:
    text = ", ".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in values[:3])
    return text + (", ..." if len(values) > 3 else "")


def verify_project(project: Project, *, on_progress: Callable[[str], None] = lambda _: None) -> VerifyResult:
    from mlship.notebook.plan import plan_notebook

    source = project.config.notebook
    if source is None:
        raise UsageError(
            f"{project.root} was not made from a notebook (mlship.yaml has no `notebook:` section)",
            hint="convert one with `mlship init DIR --from NOTEBOOK`",
        )
    notebook = project.root / source.path
    plan = plan_notebook(notebook)
    predict_data = project.data_path("predict") if "predict" in project.config.data else None
    if predict_data is None or not predict_data.is_file():
        raise UsageError("mlship.yaml data.predict (the records the notebook scores) is missing")
    started = time.perf_counter()
    output = plan.serve.capture or plan.serve.output
    nb = run_notebook(
        notebook,
        output=output,
        metrics=plan.metrics,
        timeout=source.timeout,
        on_progress=on_progress,
        replace=plan.verify_cells,
    )
    nb_seconds = time.perf_counter() - started
    on_progress("generated pipeline in a fresh python process")
    started = time.perf_counter()
    pipe = run_pipeline(project, predict_data=predict_data, timeout=max(source.timeout, 60))
    result = VerifyResult(
        project=str(project.root),
        notebook=source.path,
        ok=False,
        rtol=source.rtol,
        atol=source.atol,
        rows=compare(nb, pipe, rtol=source.rtol, atol=source.atol),
        notebook_seconds=round(nb_seconds, 2),
        pipeline_seconds=round(time.perf_counter() - started, 2),
    )
    result.ok = all(r.ok for r in result.rows)
    if result.ok:
        result.golden_test = write_golden(project, plan, nb)
        result.examples = seed_contract_examples(project, pipe)
    return result


def seed_contract_examples(project: Project, pipe: dict[str, Any]) -> str:
    """`contract.examples` from the records verify scored one at a time (their values match the
    notebook's), through the same path as `mlship test --init-examples`; examples already in
    mlship.yaml are the user's and stay as they are."""
    from mlship.contract.records import frame_records
    from mlship.contract.schema import record_problems
    from mlship.contract.seed import seed_examples
    from mlship.datafiles import read_table
    from mlship.errors import UsageError

    data = project.config.data["predict"]
    frame = read_table(project.data_path("predict"))
    scored = sorted(int(row) for row in pipe.get("singles", {}))
    # A handful spread over the records (first, quartiles, last): the contract's examples, not all of them.
    rows = sorted({scored[round(q * (len(scored) - 1))] for q in (0, 0.25, 0.5, 0.75, 1)}) if scored else []
    records = frame_records(frame.iloc[rows])
    schema = dict(project.config.contract.schema_)
    keep = [i for i, record in enumerate(records) if not record_problems(schema, record)]
    if not keep:
        return "contract.examples not written: no record scored alone keeps contract.schema"
    outputs = [pipe["singles"][str(rows[i])] for i in keep]
    try:
        seeded = seed_examples(
            project,
            [records[i] for i in keep],
            outputs,
            count=len(keep),
            source=data,
            note=f"recorded by `mlship verify`: rows {[rows[i] for i in keep]} of {data} scored alone,"
            " equal to the notebook's predictions",
        )
    except UsageError as exc:  # the block is there and not empty: it is the user's now
        return f"contract.examples left as it is: {exc.message}"
    return f"contract.examples: {seeded.entries} examples written into {Path(seeded.path).name}:{seeded.line}"


def write_golden(project: Project, plan: Any, nb: dict[str, Any]) -> str:
    """The notebook's values as a test of the generated project (rewritten by every passing verify)."""
    from mlship.notebook.emit import _render

    cfg, source = project.config, project.config.notebook
    assert source is not None
    golden = {
        "notebook": source.path,
        "train_data": cfg.data["train"],
        "predict_data": cfg.data["predict"],
        "params": dict(cfg.params),
        "rtol": source.rtol,
        "atol": source.atol,
        "predictions": nb["predictions"],
        "metrics": nb["metrics"],
    }
    tests = project.root / "tests"
    (tests / "golden").mkdir(parents=True, exist_ok=True)
    (tests / "golden" / "notebook.json").write_text(json.dumps(golden, indent=1) + "\n")
    package = cfg.entrypoints.train.split(".")[0]
    test = tests / "test_golden.py"
    test.write_text(
        _render("test_golden.py.j2", package=package, postprocess=bool(cfg.entrypoints.postprocess))
    )
    return str(test.relative_to(project.root))
