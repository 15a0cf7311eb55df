"""`mlship init`: scaffold a project from the template (or, with --from, from a notebook)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from mlship.cli._output import JSON_HELP, emit, progress, stderr


def _render(result) -> None:  # type: ignore[no-untyped-def]
    stderr.print(
        f"[green]Created[/] {result.name} in {escape(result.directory)} ({len(result.written)} files)"
    )
    if result.kept:
        stderr.print(
            f"[yellow]Kept {len(result.kept)} existing file(s) unchanged:[/] "
            + escape(", ".join(result.kept))
        )
    stderr.print(f"Next: cd {escape(result.directory)} && pip install -r requirements.txt && mlship train")


def init_command(
    directory: Path = typer.Argument(Path("."), help="Where to create the project."),
    name: str = typer.Option(None, "--name", help="Project name (default: the directory's name)."),
    template: str = typer.Option(None, "--template", help="A cookiecutter template: a path or a git URL."),
    no_input: bool = typer.Option(False, "--no-input", help="Do not prompt; use the defaults."),
    force: bool = typer.Option(
        False, "--force", help="Add files to a non-empty directory (existing files are kept)."
    ),
    from_notebook: Path = typer.Option(
        None, "--from", help="Convert this notebook: its cells become the project's modules."
    ),
    data: list[Path] = typer.Option(
        None, "--data", help="A data file the notebook reads (matched by file name); repeatable."
    ),
    json_mode: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Create a new project: modules, mlship.yaml, example data, tests and CI files."""
    if from_notebook is not None:
        from mlship.notebook.convert import convert_notebook

        with progress(f"Converting {from_notebook}", json_mode=json_mode):
            converted = convert_notebook(
                notebook=from_notebook,
                directory=directory,
                name=name,
                data=data or [],
                template=template,
                force=force,
            )
        emit(converted, json_mode=json_mode, render=_render_converted)
        return
    if data:
        from mlship.errors import UsageError

        raise UsageError(
            "--data goes with --from NOTEBOOK", hint="mlship init DIR --from NOTEBOOK --data FILE"
        )
    from mlship.scaffold import init_project

    result = init_project(directory=directory, name=name, template=template, no_input=no_input, force=force)
    emit(result, json_mode=json_mode, render=_render)


def _render_converted(result) -> None:  # type: ignore[no-untyped-def]
    from mlship.cli.notebook import render_warnings

    _render(result.init)
    stderr.print(f"  notebook copy with the plan as cell tags: {escape(result.notebook_copy)}")
    render_warnings(result.plan.warnings)
    stderr.print("Check parity with the notebook: mlship verify " + str(result.init.directory))
