"""The `mlship` command line: one typer sub-command module per command, one place that catches."""

from __future__ import annotations

import sys

import typer

from mlship import __version__

app = typer.Typer(
    name="mlship",
    help="From a notebook to a running, monitored model service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlship {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    _state["debug"] = debug


# Each module registers its commands on `app`, in the order `mlship --help` lists them (the order of
# the spine: notebook -> project -> deps -> contract -> serve -> image -> environments -> monitor).
# Imports stay light: heavy ones live in the core functions the commands call.
from mlship.cli import init, notebook, stages  # noqa: E402,F401,I001
from mlship.cli import deps, test_cmd, serve, build  # noqa: E402,F401,I001
from mlship.cli import deploy, monitor, config_cmd  # noqa: E402,F401,I001


def main(argv: list[str] | None = None) -> None:
    """Entry point: expected errors become one red message and their exit code.

    Usage errors (unknown command or option) are click's, which exits 2 by itself.
    """
    from mlship.errors import MlshipError

    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        app(args=argv)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
        return  # click's standalone mode exits 0 on success; callers of main() get a plain return
    except MlshipError as exc:
        _report(exc, debug=debug)
        sys.exit(int(exc.exit_code))
    except Exception as exc:
        if debug:
            raise
        sys.stderr.write(
            f"mlship: unexpected error: {type(exc).__name__}: {exc}\n"
            "Run again with --debug for the traceback, and report it if it persists.\n"
        )
        sys.exit(70)


def _report(exc: Exception, *, debug: bool) -> None:
    from rich.text import Text

    from mlship.cli._output import stderr

    if debug:
        stderr.print_exception()
    stderr.print(Text.assemble(("error: ", "bold red"), str(getattr(exc, "message", exc))))
    details = getattr(exc, "details", None)
    if details:
        stderr.print(Text(details, style="dim"))
    hint = getattr(exc, "hint", None)
    if hint:
        stderr.print(Text.assemble(("hint: ", "yellow"), hint))
