"""The `mlship` command line: one typer sub-command module per command, one place that catches."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

import typer

from mlship import __version__
from mlship.errors import MlshipError

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
    debug: bool = typer.Option(
        False, "--debug", help="Show tracebacks and the commands mlship runs (or MLSHIP_DEBUG=1)."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    _state["debug"] = debug or _state["debug"]


# The commands, in the order `mlship --help` lists them (the order of the spine: notebook -> project ->
# deps -> contract -> serve -> image -> environments -> monitor), registered here in one place: the
# command modules do not import this package. Imports stay light: heavy ones live in the core functions.
def _register() -> None:
    from mlship.cli import build, config_cmd, deploy, deps, init, monitor, notebook, serve, stages, test_cmd

    commands: list[tuple[str, Callable[..., Any]]] = [
        ("init", init.init_command),
        ("plan", notebook.plan_command),
        ("verify", notebook.verify_command),
        ("train", stages.train_command),
        ("predict", stages.predict_command),
        ("lock", deps.lock_command),
        ("check", deps.check_command),
        ("test", test_cmd.test_command),
        ("serve", serve.serve_command),
        ("build", build.build_command),
        ("deploy", deploy.deploy_command),
        ("promote", deploy.promote_command),
        ("rollback", deploy.rollback_command),
        ("status", deploy.status_command),
        ("history", deploy.history_command),
        ("monitor", monitor.monitor_command),
        ("replay", monitor.replay_command),
        ("config", config_cmd.config_command),
    ]
    for name, function in commands:
        app.command(name)(function)


_register()

INTERRUPTED = 130


def main(argv: list[str] | None = None) -> None:
    """Entry point: expected errors become one red message and their exit code.

    `--debug` (anywhere on the line, or MLSHIP_DEBUG=1) shows tracebacks and the commands mlship runs.
    With `--json`, a failure also prints one JSON error object on stdout (message, hint, exit_code, kind).
    """
    from mlship.cli import _output

    # click's base exception, whichever click typer uses (its own vendored copy in newer versions)
    click_error: type[Exception] = next(
        c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
    )

    args = list(argv if argv is not None else sys.argv[1:])
    # --debug is the root's option, but a user adds it where the error was: after the sub-command too.
    cut = args.index("--") if "--" in args else len(args)
    debug = "--debug" in args[:cut] or _env_debug()
    args = [a for a in args[:cut] if a != "--debug"] + args[cut:]
    _state["debug"] = debug or _state["debug"]
    if debug:
        _log_debug()
    # With --json, stdout holds the result and nothing else: whatever else writes to it (a print in the
    # project's own code, at import or in train/predict) goes to stderr instead.
    json_mode = "--json" in args[: args.index("--") if "--" in args else len(args)]
    saved_stdout = sys.stdout
    _output.emitted = False
    if json_mode:
        _output.data_stream = saved_stdout
        sys.stdout = sys.stderr
    failure: dict[str, object] | None = None
    code = 0
    try:
        # Not standalone: click's own errors and Ctrl-C come back here, to be reported like the rest.
        returned = app(args=args, standalone_mode=False)
        code = returned if isinstance(returned, int) and not isinstance(returned, bool) else 0
        if code == INTERRUPTED:  # typer turns KeyboardInterrupt into Exit(130)
            failure = _interrupted()
    except KeyboardInterrupt:
        failure, code = _interrupted(), INTERRUPTED
    except typer.Abort:  # EOF at a prompt
        sys.stderr.write("Aborted!\n")
        code = 1
    except click_error as exc:  # a bad option or argument (click's, exit 2)
        exc.show()  # type: ignore[attr-defined]
        failure = _click_failure(exc)
        code = int(failure["exit_code"])  # type: ignore[call-overload]
    except MlshipError as exc:
        _report(exc, debug=debug)
        failure, code = exc.to_dict(), int(exc.exit_code)
    except OSError as exc:
        if debug or exc.errno not in _USER_FS_ERRORS:
            failure, code = _unexpected(exc, debug=debug)
        else:
            # The user's file system refused (permissions, a read-only or full disk, a file where a
            # directory belongs): an input problem, not a bug in mlship.
            error = _fs_error(exc)
            _report(error, debug=False)
            failure, code = error.to_dict(), int(error.exit_code)
    except Exception as exc:
        failure, code = _unexpected(exc, debug=debug)
    finally:
        if json_mode:
            sys.stdout = saved_stdout
            _output.data_stream = None
    if json_mode and failure is not None and not _output.emitted:
        saved_stdout.write(json.dumps(failure, indent=2) + "\n")
        saved_stdout.flush()
    if code:
        sys.exit(code)


def _env_debug() -> bool:
    return os.environ.get("MLSHIP_DEBUG", "").strip().lower() not in {"", "0", "false", "no", "off"}


def _log_debug() -> None:
    """mlship's own log (the commands it runs, the requests it sends) on stderr."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("mlship: debug: %(message)s"))
    logger = logging.getLogger("mlship")
    logger.setLevel(logging.DEBUG)
    if not logger.handlers:
        logger.addHandler(handler)


def _interrupted() -> dict[str, object]:
    sys.stderr.write("\nmlship: interrupted (Ctrl-C)\n")
    return _failure("Interrupted", "interrupted by Ctrl-C", None, INTERRUPTED, "interrupted")


def _click_failure(exc: Exception) -> dict[str, object]:
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    ctx = getattr(exc, "ctx", None)
    hint = f"see `{ctx.command_path} --help`" if ctx is not None else "see `mlship --help`"
    return _failure("UsageError", message, hint, int(getattr(exc, "exit_code", 2)), "usage")


def _failure(error: str, message: str, hint: str | None, code: int, kind: str) -> dict[str, object]:
    """The JSON error object: the same keys as MlshipError.to_dict."""
    return {"error": error, "message": message, "hint": hint, "exit_code": code, "kind": kind}


def _unexpected(exc: Exception, *, debug: bool) -> tuple[dict[str, object], int]:
    if debug:
        raise exc
    sys.stderr.write(
        f"mlship: unexpected error: {type(exc).__name__}: {exc}\n"
        "Run again with --debug for the traceback, and report it if it persists.\n"
    )
    hint = "run again with --debug (or MLSHIP_DEBUG=1) for the traceback, and report it"
    return _failure(type(exc).__name__, f"unexpected error: {exc}", hint, 70, "internal"), 70


def _fs_errors() -> frozenset[int]:
    import errno

    names = ("EACCES", "EPERM", "EROFS", "ENOSPC", "EDQUOT", "ENOTDIR", "EISDIR")
    return frozenset(getattr(errno, n) for n in names if hasattr(errno, n))


_USER_FS_ERRORS = _fs_errors()


def _fs_error(exc: OSError) -> MlshipError:
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
