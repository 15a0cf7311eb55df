"""`mlship plan` (how a notebook would be split) and `mlship verify` (the modules reproduce it)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from mlship.cli._output import JSON_HELP, emit, progress, stderr, stdout


def render_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        stderr.print(f"[yellow]warning:[/] {escape(str(warning))}", markup=True, highlight=False)


def _render_plan(plan) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    table = Table(title=f"Plan for {plan.notebook}", title_justify="left")
    for column in ("cell", "ran", "stage", "why", "first line"):
        table.add_column(column, overflow="fold")
    for cell in plan.cells:
        if cell.kind != "code":
            continue
        ran = "" if cell.execution_count is None else f"[{cell.execution_count}]"
        style = "dim" if cell.stage == "skip" else None
        table.add_row(
            str(cell.index), ran, cell.stage, escape(cell.reason), escape(cell.first_line), style=style
        )
    stdout.print(table)
    for segment in plan.segments:
        inputs = ", ".join(segment.inputs) or "-"
        outputs = ", ".join(segment.outputs) or "-"
        stdout.print(
            f"{segment.function}({escape(inputs)}) -> {escape(outputs)}   [dim]cells {segment.cells}[/]"
        )
    serve = plan.serve
    stdout.print(
        f"serving: transform(records) -> {escape(serve.features)} -> {serve.model}.predict -> {serve.output}"
        f"   [dim]cells {serve.cells}[/]"
    )
    stdout.print("artifacts saved by train: " + (", ".join(sorted(plan.state)) or "-"))
    params = {plan.param_keys[k]: v for k, v in plan.params.items()}
    stdout.print(f"params: {escape(str(params))}   data: train={plan.train_data} predict={plan.predict_data}")
    if plan.metrics:
        stdout.print("metrics: " + ", ".join(plan.metrics))
    render_warnings(plan.warnings)


def plan_command(
    notebook: Path = typer.Argument(..., help="The notebook (.ipynb) to plan."),
    data: list[Path] = typer.Option(
        None, "--data", help="A data file the notebook reads (matched by name), as for `init --from`."
    ),
    run: bool = typer.Option(
        True, "--run/--no-run", help="Run the notebook once for evidence (default), or plan from its code."
    ),
    json_mode: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Show how a notebook would be split into modules, cell by cell, and why. Changes nothing."""
    from mlship.errors import InputError
    from mlship.notebook.plan import plan_notebook

    for path in data or []:
        if not path.is_file():
            raise InputError(f"--data {path}: no such file")
    emit(plan_notebook(notebook, data=list(data or []), run=run), json_mode=json_mode, render=_render_plan)


def _render_parity(result) -> None:  # type: ignore[no-untyped-def]
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"Parity: {result.notebook} vs the generated pipeline", title_justify="left")
    for column in ("check", "notebook", "pipeline", "difference", "result"):
        table.add_column(column, overflow="fold")
    for row in result.rows:
        mark = "[green]ok[/]" if row.ok else "[red]MISMATCH[/]"
        table.add_row(
            escape(row.check), escape(row.notebook), escape(row.pipeline), escape(row.difference), mark
        )
    stdout.print(table)
    stdout.print(
        f"tolerance: rtol={result.rtol:g} atol={result.atol:g}   "
        f"notebook run {result.notebook_seconds:.1f}s, pipeline run {result.pipeline_seconds:.1f}s"
    )
    if result.ok and result.golden_test:
        stderr.print(f"[green]Parity holds.[/] Golden test written: {escape(result.golden_test)}")
        if result.examples:
            stderr.print(escape(result.examples), highlight=False)
    elif not result.ok:
        stderr.print("[red]The generated pipeline does not reproduce the notebook.[/]")


def verify_command(
    directory: Path = typer.Argument(Path("."), help="A project made by `mlship init --from`."),
    json_mode: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Run the notebook and the generated pipeline; compare predictions and metrics (exit 1 on a mismatch)."""
    from mlship.notebook.parity import verify_project
    from mlship.project import Project

    project = Project.load(directory)
    with progress("Verifying: notebook and pipeline", json_mode=json_mode) as update:
        result = verify_project(project, on_progress=update)
    emit(result, json_mode=json_mode, render=_render_parity)
    if not result.ok:
        from mlship.errors import CheckFailed

        bad = ", ".join(r.check for r in result.rows if not r.ok)
        raise CheckFailed(
            f"parity failed: {bad}",
            hint="the table shows where the generated modules and the notebook differ",
        )
