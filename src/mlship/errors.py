"""One exception hierarchy: every expected failure carries its exit code and a hint."""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum


class ExitCode(IntEnum):
    """The exit codes every command uses (documented in the README)."""

    OK = 0
    FAILED = 1  # a check, test or gate found problems
    USAGE = 2  # usage, config or input error
    UNREACHABLE = 3  # an external system (docker, registry, index) could not be reached
    BUILD_FAILED = 4  # a build or deploy failed (rolled back where that applies)
    INTERNAL = 70  # a bug in mlship: an unexpected error (the traceback with --debug)
    INTERRUPTED = 130  # stopped by Ctrl-C (SIGINT)


class MlshipError(Exception):
    """Base of all expected errors: printed as one message, never as a traceback."""

    exit_code: ExitCode = ExitCode.USAGE
    kind = "usage"  # a stable word for scripts (`--json`): what sort of failure this is

    def __init__(self, message: str, *, hint: str | None = None, details: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def to_dict(self) -> dict[str, object]:
        return {
            "error": type(self).__name__,
            "message": self.message,
            "hint": self.hint,
            "exit_code": int(self.exit_code),
            "kind": self.kind,
        }


class UsageError(MlshipError):
    """A command was called wrongly (bad option, missing directory, refused overwrite)."""


class ConfigError(MlshipError):
    """mlship.yaml (or another config file) is missing or invalid."""

    kind = "config"


class InputError(MlshipError):
    """A file or record given to mlship cannot be used (notebook, data, request)."""

    kind = "input"


class ProjectCodeError(MlshipError):
    """The project's own code failed (an import or a raised exception in train/predict)."""

    kind = "project_code"


class CheckFailed(MlshipError):
    """A check, test or gate ran and found problems."""

    exit_code = ExitCode.FAILED
    kind = "check_failed"


class UnreachableError(MlshipError):
    """An external system (docker engine, registry, package index) did not answer."""

    exit_code = ExitCode.UNREACHABLE
    kind = "unreachable"


class BuildError(MlshipError):
    """An image build failed."""

    exit_code = ExitCode.BUILD_FAILED
    kind = "build"


class DeployError(MlshipError):
    """A deploy failed; the previous version keeps serving where a rollback applied."""

    exit_code = ExitCode.BUILD_FAILED
    kind = "deploy"


class ProcessError(MlshipError):
    """A subprocess that mlship ran failed: exited non-zero, ran past its timeout, or could not start.

    The command, exit status (None when it timed out or never started) and output stay attributes.
    """

    kind = "process"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        details: str | None = None,
        argv: Sequence[str] = (),
        returncode: int | None = None,
        output: str = "",
        timed_out: bool = False,
    ):
        super().__init__(message, hint=hint, details=details)
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output
        self.timed_out = timed_out

    @classmethod
    def from_process(
        cls,
        argv: Sequence[str],
        returncode: int | None,
        output: str,
        *,
        hint: str | None = None,
        tail_lines: int = 20,
        timeout: float | None = None,
        start_error: bool = False,
    ) -> ProcessError:
        tail = "\n".join(output.strip().splitlines()[-tail_lines:])
        command = " ".join(argv)
        if timeout is not None:
            message = f"`{command}` did not finish in {timeout:g}s"
        elif start_error:
            message = f"cannot run `{command}`"
        else:
            message = f"`{command}` exited with {returncode}"
        return cls(
            message,
            hint=hint,
            details=tail or None,
            argv=argv,
            returncode=returncode,
            output=output,
            timed_out=timeout is not None,
        )
