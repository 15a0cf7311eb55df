"""`mlship check`: every dependency rule over one project, from index facts gathered once."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

from mlship.config import Environment
from mlship.deps.context import RuleContext
from mlship.deps.facts import gather
from mlship.deps.findings import DependencyReport, decide_exit, rank
from mlship.deps.gpu import load_table
from mlship.deps.imports import scan_imports
from mlship.deps.index import IndexClient
from mlship.deps.policy import resolve_policy
from mlship.deps.requirements import (
    Requirements,
    lock_path,
    project_requirements,
    read_lock,
    requirement_pins,
)
from mlship.deps.rules_code import check_imports, check_lock, check_policy_lists
from mlship.deps.rules_gpu import check_gpu
from mlship.deps.rules_index import check_advisories, check_platforms, check_releases
from mlship.errors import UsageError
from mlship.image.dockerfile import base_glibc
from mlship.project import Project

RULES = (
    check_imports,
    check_lock,
    check_releases,
    check_platforms,
    check_gpu,
    check_advisories,
    check_policy_lists,
)


def check(
    *,
    directory: Path,
    offline: bool = False,
    policy_file: Path | None = None,
    environments: list[str] | None = None,
    index_url: str | None = None,
    now: datetime | None = None,
) -> DependencyReport:
    started = time.perf_counter()
    project = Project.load(directory)
    config = project.config
    policy = resolve_policy(project, policy_file)
    req_path, requirements = project_requirements(project.root)
    path = lock_path(project.root, policy.platforms[0], policy.platforms)
    lock = read_lock(path) if path.is_file() else None
    pinned = lock or requirement_pins(requirements, req_path)
    # --index-url > requirements.txt's own --index-url line (what pip would use) > policy.index_url;
    # its --extra-index-url lines are searched too, as pip does.
    file_index, file_extras = _file_indexes(requirements)
    client = IndexClient(
        index_url or file_index or policy.index_url,
        extra_index_urls=file_extras,
        advisory_url=policy.advisory_url,
        offline=offline,
    )
    pins = list(pinned.pins.values())
    checked_envs = _environments(config.environments, environments)
    glibc = base_glibc(project, checked_envs.values())
    facts = gather(client, pins, python=config.python, platform=policy.platforms[0], glibc=glibc)
    scan = scan_imports(project.source_dir, project.root)
    ctx = RuleContext(
        config=config,
        policy=policy,
        requirements=requirements,
        lock=lock,
        imports=scan.sites,
        facts=facts,
        python=config.python,
        platforms=policy.platforms,
        environments=checked_envs,
        table=load_table(),
        now=now or datetime.now(timezone.utc),
        pinned=pinned,
        index_url=client.index_url,
        extra_index_urls=client.extra_index_urls,
        glibc=glibc,
    )
    if scan.unparsed:
        shown = ", ".join(scan.unparsed[:8]) + (
            f" and {len(scan.unparsed) - 8} more" if len(scan.unparsed) > 8 else ""
        )
        ctx.unknown(
            "source-unparsed",
            "imports",
            f"{len(scan.unparsed)} file(s) are not valid Python, so their imports were not checked: {shown}",
            "fix the syntax (python -m py_compile FILE shows where)",
        )
    for rule in RULES:
        rule(ctx)
    findings = sorted(ctx.findings, key=lambda f: (-rank(f.severity), f.check, f.package or "", f.code))
    result = DependencyReport(
        project=config.name,
        target={"python": config.python, "platforms": list(policy.platforms), "glibc": f"2.{glibc}"},
        index={
            "url": client.index_url,
            "extra_urls": client.extra_index_urls,
            "advisory_url": client.advisory_url,
            "offline": offline,
            "requests": client.stats["network"],
            "failed_requests": client.stats["failed"],
            "cache_hits": client.stats["cache"],
            "cache_dir": str(client.cache_dir),
        },
        policy=policy.model_dump(mode="json"),
        gpu_table=ctx.table.version,
        checked=_checked(ctx, requirements, lock_name=path.name if lock else None),
        findings=findings,
    )
    result.exit_code = decide_exit(findings, fail_on=policy.fail_on, on_unknown=policy.on_unknown)
    result.seconds = time.perf_counter() - started
    return result


def _file_indexes(requirements: Requirements) -> tuple[str | None, list[str]]:
    """requirements.txt's index as pip reads it (the last `--index-url URL` / `-i URL` line) and its
    `--extra-index-url` lines, in order."""
    found, extras = None, []
    for option in requirements.options:
        flag, _, value = option.replace("=", " ", 1).partition(" ")
        if flag in ("--index-url", "-i") and value.strip():
            found = value.strip()
        elif flag == "--extra-index-url" and value.strip():
            extras.append(value.strip())
    return found, extras


def _environments(defined: dict[str, Environment], wanted: list[str] | None) -> dict[str, Environment]:
    if wanted:
        unknown = [w for w in wanted if w not in defined and w != "local"]
        if unknown:
            raise UsageError(
                f"unknown environment(s) {', '.join(unknown)}",
                hint=f"environments in mlship.yaml: {', '.join(sorted(defined)) or '(none)'}",
            )
        return {w: defined.get(w, Environment()) for w in wanted}
    return dict(defined) or {"local": Environment()}


def _checked(ctx: RuleContext, requirements: Requirements, *, lock_name: str | None) -> dict[str, object]:
    return {
        "requirements": len(requirements.items),
        "lock": lock_name,
        "pins": len(ctx.lock.pins) if ctx.lock else 0,
        "imports": len({s.module.split(".")[0] for s in ctx.imports}),
        "environments": sorted(ctx.environments),
    }
