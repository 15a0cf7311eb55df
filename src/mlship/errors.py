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


class MlshipError(Exception):
    """Base of all expected errors: printed as one message, never as a traceback."""

    exit_code: ExitCode = ExitCode.USAGE

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
        }


class UsageError(MlshipError):
    """A command was called wrongly (bad option, missing directory, refused overwrite)."""


class ConfigError(MlshipError):
    """mlship.yaml (or another config file) is missing or invalid."""


class InputError(MlshipError):
    """A file or record given to mlship cannot be used (notebook, data, request)."""


class ProjectCodeError(MlshipError):
    """The project's own code failed (an import or a raised exception in train/predict)."""


class CheckFailed(MlshipError):
    """A check, test or gate ran and found problems."""

    exit_code = ExitCode.FAILED


class UnreachableError(MlshipError):
    """An external system (docker engine, registry, package index) did not answer."""

    exit_code = ExitCode.UNREACHABLE


class BuildError(MlshipError):
    """An image build failed."""

    exit_code = ExitCode.BUILD_FAILED


class DeployError(MlshipError):
    """A deploy failed; the previous version keeps serving where a rollback applied."""

    exit_code = ExitCode.BUILD_FAILED


class ProcessError(MlshipError):
    """A subprocess that mlship ran exited non-zero."""

    @classmethod
    def from_process(
        cls,
        argv: Sequence[str],
        returncode: int,
        output: str,
        *,
        hint: str | None = None,
        tail_lines: int = 20,
    ) -> ProcessError:
        tail = "\n".join(output.strip().splitlines()[-tail_lines:])
        message = f"`{' '.join(argv)}` exited with {returncode}"
        return cls(message, hint=hint, details=tail or None)
