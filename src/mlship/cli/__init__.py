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
    rich_markup_mode=None,
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
    from mlship.cli import _output
    from mlship.errors import MlshipError

    args = argv if argv is not None else sys.argv[1:]
    debug = "--debug" in args
    # With --json, stdout holds the result and nothing else: whatever else writes to it (a print in the
    # project's own code, at import or in train/predict) goes to stderr instead.
    json_mode = "--json" in args
    saved_stdout = sys.stdout
    if json_mode:
        _output.data_stream = saved_stdout
        sys.stdout = sys.stderr
    try:
        app(args=argv)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
        return  # click's standalone mode exits 0 on success; callers of main() get a plain return
    except MlshipError as exc:
        _report(exc, debug=debug)
        sys.exit(int(exc.exit_code))
    except OSError as exc:
        if debug or exc.errno not in _USER_FS_ERRORS:
            _unexpected(exc, debug=debug)
        # The user's file system refused (permissions, a read-only or full disk, a file where a
        # directory belongs): an input problem, not a bug in mlship.
        _report(_fs_error(exc), debug=False)
        sys.exit(2)
    except Exception as exc:
        _unexpected(exc, debug=debug)
    finally:
        if json_mode:
            sys.stdout = saved_stdout
            _output.data_stream = None


def _unexpected(exc: Exception, *, debug: bool) -> None:
    if debug:
        raise exc
    sys.stderr.write(
        f"mlship: unexpected error: {type(exc).__name__}: {exc}\n"
        "Run again with --debug for the traceback, and report it if it persists.\n"
    )
    sys.exit(70)


def _fs_errors() -> frozenset[int]:
    import errno

    names = ("EACCES", "EPERM", "EROFS", "ENOSPC", "EDQUOT", "ENOTDIR", "EISDIR")
    return frozenset(getattr(errno, n) for n in names if hasattr(errno, n))


_USER_FS_ERRORS = _fs_errors()


def _fs_error(exc: OSError) -> Exception:
    from mlship.errors import InputError

    where = exc.filename if exc.filename is not None else "a file"
    return InputError(
        f"cannot use {where}: {exc.strerror or exc}",
        hint="check the path and its permissions, and that the disk has room",
    )


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
