"""`mlship init`: scaffold a project from the template (or, with --from, from a notebook)."""

from __future__ import annotations

from pathlib import Path

import typer

from mlship.cli import app
from mlship.cli._output import JSON_HELP, emit, stderr


def _render(result) -> None:  # type: ignore[no-untyped-def]
    stderr.print(f"[green]Created[/] {result.name} in {result.directory} ({len(result.written)} files)")
    if result.kept:
        stderr.print(
            f"[yellow]Kept {len(result.kept)} existing file(s) unchanged:[/] " + ", ".join(result.kept)
        )
    stderr.print(f"Next: cd {result.directory} && pip install -r requirements.txt && mlship train")


@app.command("init")
def init_command(
    directory: Path = typer.Argument(Path("."), help="Where to create the project."),
    name: str = typer.Option(None, "--name", help="Project name (default: the directory's name)."),
    template: str = typer.Option(None, "--template", help="A cookiecutter template: a path or a git URL."),
    no_input: bool = typer.Option(False, "--no-input", help="Do not prompt; use the defaults."),
    force: bool = typer.Option(
        False, "--force", help="Add files to a non-empty directory (existing files are kept)."
    ),
    json_mode: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Create a new project: modules, mlship.yaml, example data, tests and CI files."""
    from mlship.scaffold import init_project

    result = init_project(directory=directory, name=name, template=template, no_input=no_input, force=force)
    emit(result, json_mode=json_mode, render=_render)
