"""`mlship lock` and `mlship check`: pinned dependencies for the target, and the findings on them."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from mlship.cli._output import JSON_HELP, Column, emit, fit_table, progress, stderr, stdout

_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def lock_command(
    directory: Path = typer.Argument(Path("."), help="The project directory."),
    platform: list[str] = typer.Option(
        None, "--platform", help="Target platform (linux_x86_64, linux_aarch64); default: policy.platforms."
    ),
    index_url: str = typer.Option(
        None, "--index-url", help="Package index (default: policy.index_url or PyPI)."
    ),
    policy: Path = typer.Option(None, "--policy", help="An org-wide policy file (YAML) over mlship.yaml's."),
    json_mode: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Resolve requirements.txt for the target platform and Python into a hashed requirements.lock."""
    from mlship.deps.lock import lock

    with progress("Locking dependencies", json_mode=json_mode):
        result = lock(
            directory=directory, policy_file=policy, platforms=platform or None, index_url=index_url
        )

    def render(r) -> None:  # type: ignore[no-untyped-def]
        for item in r.files:
            stderr.print(
                f"[green]Locked[/] {item['packages']} packages for {item['platform']}"
                f" -> {escape(item['path'])}"
            )
        source = r.index_url or "the index named in requirements.txt"
        stderr.print(f"  releases up to {r.exclude_newer} from {escape(source)} ({r.seconds:.1f}s)")

    emit(result, json_mode=json_mode, render=render)


def check_command(
    directory: Path = typer.Argument(Path("."), help="The project directory."),
    json_mode: bool = typer.Option(False, "--json", help=JSON_HELP),
    offline: bool = typer.Option(False, "--offline", help="Use only the on-disk index cache; no network."),
    policy: Path = typer.Option(None, "--policy", help="An org-wide policy file (YAML) over mlship.yaml's."),
    env: list[str] = typer.Option(None, "--env", help="Check these environments only (default: all)."),
    index_url: str = typer.Option(
        None, "--index-url", help="Package index (default: policy.index_url or PyPI)."
    ),
) -> None:
    """Check imports, the lock, release ages, wheels, GPU/CUDA fit, advisories and the policy.

    Exit 0 pass, 1 violations, 2 usage/config error, 3 data unreachable and policy.on_unknown is fail.
    """
    from mlship.deps.check import check

    with progress("Checking dependencies", json_mode=json_mode):
        result = check(
            directory=directory,
            offline=offline,
            policy_file=policy,
            environments=env or None,
            index_url=index_url,
        )
    emit(result, json_mode=json_mode, render=_render_check)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


# Every cell wraps (a fix is a command to copy, never cut); the check's name goes first when narrow.
CHECK_COLUMNS = (
    Column("severity"),
    Column("check", drop=1),
    Column("package"),
    Column("finding"),
    Column("fix"),
)


def _render_check(result) -> None:  # type: ignore[no-untyped-def]
    from rich.text import Text

    if result.findings:
        rows = []
        for f in result.findings:
            label = "unknown" if f.status == "unknown" else f.severity
            package = f"{f.package} {f.version or ''}".strip() if f.package else (f.where or "")
            if f.environment:
                package += f" ({f.environment})"
            # Text cells: package names, messages and hints are data, never rich markup.
            cells = [Text(c) for c in (f.check, package, f.message, f.hint)]
            rows.append([Text(label, style=_STYLE[f.severity]), *cells])
        stdout.print(fit_table(CHECK_COLUMNS, rows, width=stdout.width))
    counts = result.summary()
    line = ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no findings"
    verdict = "[green]passed[/]" if result.exit_code == 0 else "[bold red]failed[/]"
    checked = result.checked
    stderr.print(
        f"{verdict}: {line} — {checked['pins']} pins, {checked['imports']} imported packages, "
        f"environments {', '.join(checked['environments'])} ({result.seconds:.2f}s"
        f"{', offline' if result.index['offline'] else ''})"
    )
