"""`mlship deploy`, `promote`, `rollback`, `status`, `history`: environments, read from the targets."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.markup import escape

from mlship.cli._output import JSON_HELP, Column, emit, fit_table, progress, stderr, stdout

DIR_HELP = "The project directory."


class Strategy(str, Enum):
    recreate = "recreate"
    rolling = "rolling"
    canary = "canary"


class TargetKind(str, Enum):
    docker = "docker"
    swarm = "swarm"
    kubernetes = "kubernetes"


def _render_deploy(result) -> None:  # type: ignore[no-untyped-def]
    release = result.release
    verb = {"deploy": "Deployed", "promote": "Promoted", "rollback": "Rolled back:"}[result.action]
    stderr.print(f"[green]{verb}[/] {result.environment} ({result.target}) runs version {release.version}")
    for gate in result.rollout.gates:
        for check in gate.checks:
            mark = "[green]ok[/]" if check["passed"] else "[red]failed[/]"
            stderr.print(f"  gate {check['check']}: {mark} {escape(str(check['detail']))}", highlight=False)
    if result.rollout.replaced:
        stderr.print(f"  replaced version {result.rollout.replaced.version}")
    stderr.print(f"  image {escape(release.image)}", soft_wrap=True)
    stdout.print(result.url)


def deploy_command(
    environment: str = typer.Argument(..., help="The environment in mlship.yaml (local exists by default)."),
    directory: Path = typer.Argument(Path("."), help=DIR_HELP),
    image: str = typer.Option(None, "--image", help="Image to ship (default: the one `mlship build` made)."),
    strategy: Strategy = typer.Option(None, "--strategy", help="Override environments.X.strategy."),
    target: TargetKind = typer.Option(None, "--target", help="Override environments.X.target."),
    json_mode: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Push the image by digest, roll it out through the health gate; a failure rolls back (exit 4)."""
    from mlship.deploy.core import deploy

    with progress(f"Deploying to {environment}", json_mode=json_mode) as report:
        result = deploy(
            directory=directory,
            environment=environment,
            image=image,
            strategy=strategy.value if strategy else None,
            target=target.value if target else None,
            report=report,
        )
    emit(result, json_mode=json_mode, render=_render_deploy)


def promote_command(
    source: str = typer.Argument(..., help="Environment whose running digest is promoted."),
    dest: str = typer.Argument(..., help="Environment that receives it."),
    directory: Path = typer.Argument(Path("."), help=DIR_HELP),
    strategy: Strategy = typer.Option(None, "--strategy", help="Override the destination's strategy."),
    json_mode: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Ship the exact digest running in SOURCE to DEST: build once, promote."""
    from mlship.deploy.core import promote

    with progress(f"Promoting {source} -> {dest}", json_mode=json_mode) as report:
        result = promote(
            directory=directory,
            source=source,
            dest=dest,
            strategy=strategy.value if strategy else None,
            report=report,
        )
    emit(result, json_mode=json_mode, render=_render_deploy)


def rollback_command(
    environment: str = typer.Argument(..., help="The environment to roll back."),
    directory: Path = typer.Argument(Path("."), help=DIR_HELP),
    to: str = typer.Option(None, "--to", help="The version to return to (default: the previous one)."),
    json_mode: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Return an environment to an earlier release recorded on its target, through the gate."""
    from mlship.deploy.core import rollback

    with progress(f"Rolling back {environment}", json_mode=json_mode) as report:
        result = rollback(directory=directory, environment=environment, to=to, report=report)
    emit(result, json_mode=json_mode, render=_render_deploy)


def status_command(
    environment: str = typer.Argument(None, help="One environment (default: all)."),
    directory: Path = typer.Option(Path("."), "--dir", "-C", help=DIR_HELP),
    json_mode: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """What runs where: version, digest, replicas, readiness - read from the targets themselves."""
    from mlship.deploy.core import status

    result = status(directory=directory, environment=environment)

    def render(r) -> None:  # type: ignore[no-untyped-def]
        stdout.print(status_table(r.environments, width=stdout.width))
        for e in r.environments:
            if e.get("detail") and "canary" in e["detail"]:
                stderr.print(f"{e['environment']}: {e['detail']}")

    emit(result, json_mode=json_mode, render=render)
    if result.degraded:
        from mlship.errors import CheckFailed

        raise CheckFailed(
            f"fewer ready replicas than desired in {', '.join(result.degraded)}",
            hint="`mlship history ENV` shows the last releases; `mlship deploy ENV` or "
            "`mlship rollback ENV` puts one back",
        )


def history_command(
    environment: str = typer.Argument(..., help="The environment."),
    directory: Path = typer.Option(Path("."), "--dir", "-C", help=DIR_HELP),
    json_mode: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Releases of one environment, newest first (target labels; failed attempts from the local journal)."""
    from mlship.deploy.core import history

    result = history(directory=directory, environment=environment)

    def render(r) -> None:  # type: ignore[no-untyped-def]
        if not r.entries:
            stderr.print(f"nothing has been deployed to {environment} yet")
            return
        stdout.print(history_table(r.entries, width=stdout.width))
        for e in r.entries:
            if e.get("reason"):
                stderr.print(f"{e.get('deployed_at', '')} {e.get('version', '')} failed: {e['reason']}")

    emit(result, json_mode=json_mode, render=render)


# On a narrow terminal the URL (what a user copies) stays whole; "deployed" goes first, then the target.
STATUS_COLUMNS = (
    Column("environment"),
    Column("target", drop=2),
    Column("version"),
    Column("replicas"),
    Column("ready"),
    Column("url", keep=True),
    Column("deployed", drop=3),
)
# Dates and digests are never cut; the strategy, then who, then the digest make room for the rest.
HISTORY_COLUMNS = (
    Column("deployed at", keep=True),
    Column("version"),
    Column("result"),
    Column("by", drop=2),
    Column("strategy", drop=3),
    Column("digest", keep=True, drop=1),
)


def status_table(environments: list[dict], *, width: int):  # type: ignore[no-untyped-def]
    rows = []
    for e in environments:
        if "error" in e:
            rows.append([e["environment"], "", "", "", "", "", f"[red]{escape(e['error'])}[/]"])
            continue
        cur = e["current"] or {}
        ready = {True: "[green]yes[/]", False: "[red]no[/]", None: "-"}[e.get("ready")]
        reps = f"{e['replicas']['running']}/{e['replicas']['desired']}"
        when = f"{cur.get('deployed_at', '')} by {cur.get('deployed_by', '')}" if cur else "-"
        version = str(cur.get("version", "-"))
        rows.append([e["environment"], e["target"], version, reps, ready, e["url"] or "-", when])
    return fit_table(STATUS_COLUMNS, rows, width=width)


def history_table(entries: list[dict], *, width: int):  # type: ignore[no-untyped-def]
    keys = ("deployed_at", "version", "result", "deployed_by", "strategy")
    rows = [[str(e.get(k, "")) for k in keys] + [(e.get("digest") or "")[:19]] for e in entries]
    return fit_table(HISTORY_COLUMNS, rows, width=width)
