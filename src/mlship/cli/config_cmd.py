"""`mlship config`: the resolved mlship.yaml, with every default filled in."""

from __future__ import annotations

from pathlib import Path

import typer

from mlship.cli._output import JSON_HELP, emit, stdout


def config_command(
    directory: Path = typer.Argument(Path("."), help="The project directory."),
    json_mode: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Print the resolved configuration (defaults filled in); exit 2 if mlship.yaml is invalid."""
    import yaml

    from mlship.project import Project

    data = Project.load(directory).config.to_data()
    emit(
        data,
        json_mode=json_mode,
        render=lambda d: stdout.print(yaml.safe_dump(d, sort_keys=False), markup=False, end=""),
    )
