"""`mlship monitor` (drift of live traffic from the training reference) and `mlship replay`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from mlship.cli._output import JSON_HELP, emit, progress, stderr, stdout

VERDICT_STYLE = {"ok": "green", "warn": "yellow", "drift": "bold red", "few": "dim", "absent": "yellow"}


def monitor_command(
    directory: Path = typer.Argument(
        Path("."), help="The project directory (its artifacts hold the reference)."
    ),
    env: str = typer.Option(
        None,
        "--env",
        "-e",
        help="Read the logs of this environment (environments.ENV.log_dir, else logs/environments/ENV).",
    ),
    log: list[Path] = typer.Option(
        None, "--log", "-l", help="Prediction log files or directories (repeatable)."
    ),
    since: str = typer.Option(
        None, "--since", help="Only requests newer than this: 30m, 6h, 7d or an ISO time."
    ),
    report: Path = typer.Option(None, "--report", help="Write a self-contained HTML report here."),
    labels: list[Path] = typer.Option(
        None,
        "--labels",
        help="Outcomes (CSV, JSONL, Parquet: key, outcome, optional time) joined to the logged predictions.",
    ),
    json_mode: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Compare logged traffic with the training reference; exit 1 when drift crosses the thresholds
    or, with --labels, when performance fell past monitor.performance.max_drop."""
    from mlship.errors import CheckFailed
    from mlship.monitor.core import monitor
    from mlship.project import Project

    project = Project.load(directory)
    with progress("Reading prediction logs", json_mode=json_mode):
        result = monitor(
            project, env=env, logs=log or None, since=since, report=report, labels=labels or None
        )
    emit(result, json_mode=json_mode, render=_render_monitor)
    problems = [f"drift in {', '.join(result.drifted)}"] if result.verdict == "drift" else []
    perf = result.performance
    if perf is not None and perf.verdict == "degraded":
        problems.append(f"performance fell: {'; '.join(str(f) for f in perf.failures[:3])}")
    if problems:
        raise CheckFailed(
            "; ".join(problems),
            hint="open the --report for the distributions" if not result.report else f"see {result.report}",
        )


def _render_monitor(result) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    t = result.traffic
    stderr.print(
        f"{t['requests']} requests ({t['failed']} failed), {t['records']} records "
        f"from {len(result.sources)} file(s), {result.window['first']} .. {result.window['last']}"
    )
    table = Table(show_edge=False, pad_edge=False)
    for column in ("feature", "kind", "verdict", "PSI", "test p", "missing", "n"):
        table.add_column(column, justify="left" if column in {"feature", "kind", "verdict"} else "right")
    rows = [*result.features, *result.predictions]
    for row in rows:
        name = row.name if row.role == "feature" else f"[italic]{row.name}[/]"
        table.add_row(
            name,
            "num" if row.kind == "numeric" else "cat",
            f"[{VERDICT_STYLE.get(row.verdict, '')}]{row.verdict}[/]",
            "" if row.psi is None else f"{row.psi:.3f}",
            "" if row.p_value is None else f"{row.test} {row.p_value:.2g}",
            f"{row.missing_reference:.0%}->{row.missing_live:.0%}",
            str(row.samples),
        )
    stdout.print(table)
    for row in rows:
        if row.reasons and row.verdict != "ok":
            stdout.print(f"  {row.name}: {'; '.join(row.reasons)}", markup=False)
    if result.performance is not None:
        _render_performance(result.performance)
    for note in result.notes:
        stderr.print(f"[yellow]note:[/] {escape(note)}")
    if result.report:
        stderr.print(f"report: {escape(result.report)}")
    if result.verdict not in {"drift", "degraded"}:  # reported as the command's error (exit 1)
        colour = "green" if result.verdict == "ok" else "yellow"
        stderr.print(f"verdict: [{colour}]{result.verdict}[/]")


CLASSIFICATION = ("auc", "accuracy", "precision", "recall", "f1", "brier")
REGRESSION = ("mae", "rmse", "bias")


def _render_performance(perf) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    names = CLASSIFICATION if perf.task == "classification" else REGRESSION
    if perf.labels:
        c = perf.labels
        stderr.print(
            f"labels: {c['matched']} of {c['predictions']} predictions have an outcome; "
            f"{c['unmatched_labels']} label(s) matched no prediction"
        )
    table = Table(show_edge=False, pad_edge=False, title=f"performance ({perf.task})")
    for column in ("scope", "n", *names):
        table.add_column(column, justify="left" if column == "scope" else "right")
    training = perf.training["values"]
    table.add_row("training", "", *(_num(training.get(n)) for n in names))
    rows = [("all labelled", perf.overall)] if perf.overall else []
    rows += [(f"model {v['model_version']}", v) for v in perf.versions] if len(perf.versions) > 1 else []
    for w in perf.windows:
        if "realised" in w:
            rows.append((w["start"], w["realised"]))
        if "estimated" in w:
            rows.append((f"{w['start']} (estimated)", w["estimated"]))
    for scope, figures in rows:
        table.add_row(scope, str(figures.get("n", "")), *(_num(figures.get(n)) for n in names))
    stdout.print(table)
    for failure in perf.failures:
        stdout.print(f"  [red]{escape(str(failure))}[/]")
    for note in perf.notes:
        stderr.print(f"[yellow]note:[/] {escape(note)}")
    colour = {"ok": "green", "degraded": "red"}.get(perf.verdict, "yellow")
    stderr.print(f"performance: [{colour}]{perf.verdict}[/]")


def _num(value) -> str:  # type: ignore[no-untyped-def]
    return "" if value is None else f"{value:.4g}"


def replay_command(
    log: list[Path] = typer.Argument(None, help="Prediction log files or directories."),
    model: str = typer.Option(..., "--model", "-m", help="A project directory, or a local image to run."),
    env: str = typer.Option(
        None, "--env", "-e", help="Replay the logged traffic of this environment of the project (-C)."
    ),
    directory: Path = typer.Option(Path("."), "--project", "-C", help="The project, for --env."),
    since: str = typer.Option(
        None, "--since", help="Only requests newer than this: 30m, 6h, 7d or an ISO time."
    ),
    limit: int = typer.Option(
        None, "--limit", min=1, help="Replay at most this many records (oldest first)."
    ),
    tolerance: float = typer.Option(1e-6, "--tolerance", min=0, help="Numeric outputs within this agree."),
    min_agreement: float = typer.Option(
        None, "--min-agreement", min=0, max=1, help="Exit 1 when the share of agreeing records is lower."
    ),
    labels: list[Path] = typer.Option(
        None,
        "--labels",
        help="Outcomes of logged records: both models' metrics, difference and 95% interval.",
    ),
    not_worse: list[str] = typer.Option(
        None, "--not-worse", help="Exit 1 when the candidate is measurably worse on this metric (repeatable)."
    ),
    json_mode: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Re-score logged inputs with another model version: agreement and how far outputs moved."""
    from mlship.errors import UsageError
    from mlship.monitor.core import log_sources
    from mlship.monitor.replay import check, replay
    from mlship.project import Project

    if env or not log:
        if not env:
            raise UsageError("name the logs to replay: LOG paths, or --env ENV")
        log = log_sources(Project.load(directory), env=env, logs=log or None)
    with progress(f"Replaying logged requests through {model}", json_mode=json_mode) as update:
        result = replay(
            logs=log,
            model=model,
            since=since,
            limit=limit,
            tolerance=tolerance,
            min_agreement=min_agreement,
            progress=update,
            labels=labels or None,
            not_worse=not_worse or None,
        )
    emit(result, json_mode=json_mode, render=_render_replay)
    check(result)


def _render_replay(result) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    versions = ", ".join(f"{v} ({n} requests)" for v, n in result.logged_versions.items())
    stderr.print(f"logged by {versions}; replayed with {result.model_version}")
    agreement = "n/a" if result.agreement is None else f"{result.agreement:.2%}"
    stdout.print(
        f"agreement: {agreement} ({result.agreed}/{result.compared} records within {result.tolerance:g})"
        f"; {result.rejected} rejected by the new model; {result.no_output} logged without output"
    )
    if result.differences:
        table = Table(show_edge=False, pad_edge=False, title="new - logged")
        for column in ("output", "n", "mean", "mean |d|", "p1", "p50", "p99", "max |d|"):
            table.add_column(column, justify="left" if column == "output" else "right")
        for name, d in result.differences.items():
            p = d["percentiles"]
            table.add_row(
                name,
                str(d["count"]),
                *(f"{v:.4g}" for v in (d["mean"], d["mean_abs"], p["1"], p["50"], p["99"])),
                f"{d['max_abs']:.4g}",
            )
        stdout.print(table)
    for change in result.changes:
        stdout.print(
            f"  {change['output']}: {change['logged']} -> {change['replayed']} ({change['count']}x)",
            markup=False,
        )
    if result.performance:
        perf = result.performance
        table = Table(
            show_edge=False,
            pad_edge=False,
            title=f"on {perf['labelled']} labelled records: candidate - live, 95% interval",
        )
        for column in ("metric", "live", "candidate", "difference", "interval", "verdict"):
            table.add_column(column, justify="left" if column in {"metric", "verdict"} else "right")
        for name, d in perf["metrics"].items():
            interval = "" if d["ci_low"] is None else f"[{d['ci_low']:+.4g}, {d['ci_high']:+.4g}]"
            table.add_row(
                name,
                f"{d['live']:.4g}",
                f"{d['candidate']:.4g}",
                f"{d['difference']:+.4g}",
                interval,
                d["verdict"],
            )
        stdout.print(table)
