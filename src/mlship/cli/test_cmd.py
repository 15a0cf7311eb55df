"""`mlship test`: run the behaviour contract of mlship.yaml; JUnit XML for CI."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from mlship.cli._output import JSON_HELP, emit, progress, stderr, stdout

STATUS_STYLE = {"passed": "green", "failed": "bold red", "error": "bold magenta", "skipped": "dim"}


def test_command(
    directory: Path = typer.Argument(Path("."), help="The project directory."),
    against: str = typer.Option(
        None,
        "--against",
        metavar="ENV|URL",
        help="Run the checks against a running service and compare it with the local model (differential).",
    ),
    junit: Path = typer.Option(None, "--junit", metavar="FILE", help="Also write the results as JUnit XML."),
    check: list[str] = typer.Option(
        None,
        "--check",
        "-k",
        metavar="NAME",
        help="Run only these checks (repeat): examples, schema, invariants, extremes, latency, differential.",
    ),
    init_schema: bool = typer.Option(
        False,
        "--init-schema",
        help="Derive contract.schema from the training data, write it into "
        "mlship.yaml (never over an existing one) and stop.",
    ),
    init_examples: bool = typer.Option(
        False,
        "--init-examples",
        help="Record golden examples from the trained model into contract.examples "
        "(never over existing ones) and stop.",
    ),
    json_mode: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Check the model keeps its contract: golden examples, schema, invariants, extremes, latency and,
    with --against, agreement with a deployed model. Exit 1 when a check fails."""
    from mlship.project import Project

    project = Project.load(directory)
    if init_schema or init_examples:
        _seed(project, schema=init_schema, examples=init_examples, json_mode=json_mode)
        return

    from mlship.contract import run_contract
    from mlship.contract.junit import write_junit

    if junit is not None:
        from mlship.outfiles import check_target

        check_target(junit, "--junit")  # before the checks run, not after
    with progress(f"Testing the contract of {project.config.name}", json_mode=json_mode) as update:
        url, environment = (
            (_resolve_against(project, against), _env_name(against)) if against else (None, None)
        )
        report = run_contract(
            project, against=url, environment=environment, checks=check or None, on_check=update
        )
    if junit is not None:
        write_junit(report, junit)
    emit(report, json_mode=json_mode, render=_render)
    if junit is not None and not json_mode:
        stderr.print(f"JUnit XML -> {junit}")
    if not report.passed:
        from mlship.errors import CheckFailed

        names = ", ".join(check.name for check in report.failed)
        raise CheckFailed(
            f"{len(report.failed)} of {len(report.checks)} contract checks failed: {names}",
            hint="each failure above names the field and the values; fix the model or, when the change "
            "is intended, the contract in mlship.yaml",
        )


def _seed(project, *, schema: bool, examples: bool, json_mode: bool) -> None:  # type: ignore[no-untyped-def]
    from mlship.contract.seed import init_examples, init_schema

    results = []
    if schema:
        results.append(init_schema(project))
    if examples:
        results.append(init_examples(project))

    def render(_) -> None:  # type: ignore[no-untyped-def]
        for r in results:
            stderr.print(
                f"[green]Wrote[/] contract.{r.key} ({r.entries} entries) into {escape(r.path)}:{r.line}"
            )
            stdout.print(r.text, markup=False)
        stderr.print("Review it: from now on it is yours to edit; `mlship test` checks against it.")

    emit({"written": [r.to_dict() for r in results]}, json_mode=json_mode, render=render)


def _render(report) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"Contract of {report.project} ({report.model_version}) against {report.target}")
    table.add_column("check", overflow="fold")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    table.add_column("time", justify="right")
    for check in report.checks:
        table.add_row(
            check.name,
            Text(check.status, style=STATUS_STYLE[check.status]),
            Text(check.summary),
            f"{check.seconds:.2f}s",
        )
    stdout.print(table)
    for check in report.failed:
        stdout.print(Text(f"\n{check.name} ({check.status}):", style=STATUS_STYLE[check.status]))
        for failure in check.failures:
            stdout.print(Text(f"  - {failure}"))
    counts = report.counts()
    verdict = Text("passed", style="bold green") if report.passed else Text("FAILED", style="bold red")
    stderr.print(
        Text.assemble(
            "contract ",
            verdict,
            f": {counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['error']} errors, {counts['skipped']} skipped in {report.seconds:.1f}s",
        )
    )


def _env_name(value: str) -> str | None:
    return None if value.startswith(("http://", "https://")) else value


def _resolve_against(project, value: str) -> str:  # type: ignore[no-untyped-def]
    """`--against`: a URL as given, or the URL deploy recorded for an environment. Here, in the CLI:
    the contract is the stage before deploy and does not read deploy's state itself."""
    if _env_name(value) is None:
        return value
    from mlship.deploy import service_url
    from mlship.errors import UsageError

    project.config.environment(value)  # an unknown name is a ConfigError (exit 2)
    url = service_url(project, value)
    if url:
        return url
    raise UsageError(
        f"cannot resolve the URL of environment {value!r}: no deployment of it is recorded here",
        hint=f"deploy it first (`mlship deploy {value}`), or pass the service URL: --against http://HOST:PORT",
    )
