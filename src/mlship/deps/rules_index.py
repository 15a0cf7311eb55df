"""Rules on what the index says about each pin: release age, yanked and prereleases, Requires-Python,
wheels for every target platform, and known vulnerabilities. What could not be read is "unknown".
"""

from __future__ import annotations

from fnmatch import fnmatch

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from mlship.deps.context import RuleContext
from mlship.deps.facts import PinFacts
from mlship.deps.index import DistFile
from mlship.deps.target import wheel_fits

# A major this large is a year: calendar-versioned projects release a "major" every January.
CALENDAR_MAJOR = 1900


def _months(days: float) -> float:
    return days / 30.44


def _unreachable(
    ctx: RuleContext, code: str, check: str, what: str, packages: list[str], errors: list[str]
) -> None:
    if packages:
        shown = ", ".join(packages[:8]) + (f" and {len(packages) - 8} more" if len(packages) > 8 else "")
        ctx.unknown(
            code,
            check,
            f"{what} could not be read for {shown}: {errors[0]}",
            "run once online to fill the cache, or fix policy.index_url / MLSHIP_INDEX_URL",
        )


def check_releases(ctx: RuleContext) -> None:
    if ctx.pinned is None:
        return
    unreachable, errors, no_time = [], [], []
    missed: dict[str, tuple[list[str], str]] = {}  # an index that did not answer -> (packages, reason)
    for name, facts in sorted(ctx.facts.items()):
        pin = facts.pin
        loc = {"package": name, "version": pin.version or None, "where": ctx.where(pin)}
        for url, reason in (facts.page.missed if facts.page else {}).items():
            missed.setdefault(url, ([], reason))[0].append(name)
        if facts.index_error:
            unreachable.append(name)
            errors.append(facts.index_error)
            continue
        if not facts.on_index:
            ctx.add(
                "not-on-index",
                "release",
                f"{name} is not on {ctx.indexes}",
                "a private or misspelt package: publish it to the index the image builds from",
                **loc,
            )
            continue
        if not pin.version:
            continue  # requirements.txt without a lock: a range, nothing pinned to check further
        if not facts.files:
            ctx.add(
                "not-on-index",
                "release",
                f"{name} {pin.version} is not on {ctx.indexes}",
                "pin a released version and run `mlship lock`",
                **loc,
            )
            continue
        _release_rules(ctx, facts, loc)
        if facts.upload_time() is None:
            no_time.append(name)
    _unreachable(ctx, "index-unavailable", "release", "index data", unreachable, errors)
    for url, (packages, reason) in missed.items():
        shown = ", ".join(packages[:8]) + (f" and {len(packages) - 8} more" if len(packages) > 8 else "")
        ctx.unknown(
            "index-unavailable",
            "release",
            f"the index {url} did not answer for {shown}, so the releases it serves were not checked "
            f"({reason})",
            "fix or remove that --index-url / --extra-index-url line, or run once when it is reachable",
        )
    if no_time:
        ctx.unknown(
            "release-age-unknown",
            "release",
            f"the index gives no upload time for {', '.join(no_time[:8])}: the age window was not checked",
            "use an index that serves PEP 691 JSON with upload-time (PEP 700)",
        )


def _release_rules(ctx: RuleContext, facts: PinFacts, loc: dict[str, str | None]) -> None:
    pin, policy = facts.pin, ctx.policy
    name = pin.name
    yanked = facts.yanked()
    if yanked:
        reason = f" ({yanked})" if isinstance(yanked, str) else ""
        ctx.add(
            "yanked",
            "release",
            f"{name} {pin.version} was yanked from the index{reason}",
            "pin another release and run `mlship lock`",
            **loc,
        )
    version = Version(pin.version)
    if version.is_prerelease and not any(fnmatch(name, p) for p in policy.allow_prereleases):
        ctx.add(
            "prerelease",
            "release",
            f"{name} {pin.version} is a pre-release",
            "pin a final release, or list it in policy.allow_prereleases",
            **loc,
        )
    uploaded = facts.upload_time()
    finals = sorted(
        v
        for v, files in facts.releases().items()
        if not v.is_prerelease and not all(f.yanked for f in files) and _allowed(ctx, name, v, files)
    )
    latest = finals[-1] if finals else None
    if uploaded is not None:
        age_days = (ctx.now - uploaded).total_seconds() / 86400
        if age_days < policy.min_age_days:
            ctx.add(
                "bleeding-edge",
                "release",
                f"{name} {pin.version} was released {age_days:.0f} days ago "
                f"(policy: at least {policy.min_age_days})",
                f"pin a release older than {policy.min_age_days} days; `mlship lock` does so",
                **loc,
            )
        elif _months(age_days) > policy.max_age_months:
            newer = latest is not None and latest > Version(pin.public_version)
            code, hint = (
                ("stale-release", f"upgrade to {latest}")
                if newer
                else ("unmaintained", "nothing newer was released: check the project is still maintained")
            )
            ctx.add(
                code,
                "release",
                f"{name} {pin.version} is {_months(age_days):.0f} months old "
                f"(policy: at most {policy.max_age_months})",
                hint,
                **loc,
            )
    calendar = version.major >= CALENDAR_MAJOR  # certifi 2024.8.30, tifffile 2024.9.20: no semver majors
    if latest is not None and not calendar and latest.major - version.major > policy.max_majors_behind:
        ctx.add(
            "stale-major",
            "release",
            f"{name} {pin.version} is {latest.major - version.major} major versions behind {latest} "
            f"(policy: at most {policy.max_majors_behind})",
            f"upgrade to {latest.major}.x",
            **loc,
        )


def _allowed(ctx: RuleContext, name: str, version: Version, files: list[DistFile]) -> bool:
    """Whether an upgrade to `version` is one the project could take: inside its own declared bounds
    (requirements.txt) and with a file whose Requires-Python admits the target."""
    for item in ctx.requirements.items:
        # An exact pin is what the stale rules judge, not a bound: only ranges (<2, ~=1.4) forbid.
        bounds = [s for s in item.requirement.specifier if s.operator not in ("==", "===")]
        if item.name == name and not all(s.contains(version, prereleases=True) for s in bounds):
            return False
    target = Version(ctx.python)
    for file in files:
        try:
            if not file.requires_python or SpecifierSet(file.requires_python).contains(
                target, prereleases=True
            ):
                return True
        except (InvalidSpecifier, InvalidVersion):
            return True
    return not files


def check_platforms(ctx: RuleContext) -> None:
    if ctx.pinned is None:
        return
    target = Version(ctx.python)
    for name, facts in sorted(ctx.facts.items()):
        if not facts.files:
            continue
        pin = facts.pin
        loc = {"package": name, "version": pin.version, "where": ctx.where(pin)}
        specs = {f.requires_python for f in facts.files if f.requires_python}
        for raw in sorted(specs)[:1]:
            try:
                ok = SpecifierSet(raw).contains(target, prereleases=True)
            except (InvalidSpecifier, InvalidVersion):
                continue
            if not ok:
                ctx.add(
                    "requires-python",
                    "platform",
                    f"{name} {pin.version} requires Python {raw}; the target is {ctx.python}",
                    "pin a release that supports the target Python, or change mlship.yaml `python`",
                    **loc,
                )
        for platform in ctx.platforms:
            if not any(
                f.is_wheel and wheel_fits(f.filename, ctx.python, platform, ctx.glibc) for f in facts.files
            ):
                has_sdist = any(not f.is_wheel for f in facts.files)
                extra = (
                    " (only a source distribution: it would compile inside the image)" if has_sdist else ""
                )
                ctx.add(
                    "no-wheel",
                    "platform",
                    f"{name} {pin.version} has no wheel for {platform} / CPython {ctx.python}"
                    f" / glibc 2.{ctx.glibc}{extra}",
                    "pin a release with a manylinux wheel, or replace the package",
                    **loc,
                )
        if facts.variant_fallback:
            ctx.unknown(
                "variant-unverified",
                "platform",
                f"{name} {pin.version} is not on the index; public release {pin.public_version} was checked",
                "add the framework's own index (e.g. download.pytorch.org/whl/<variant>) as policy.index_url",
                **loc,
            )


def check_advisories(ctx: RuleContext) -> None:
    if ctx.pinned is None:
        return
    missing, errors = [], []
    for name, facts in sorted(ctx.facts.items()):
        if facts.advisory_error or (facts.on_index and facts.files and facts.advisories is None):
            missing.append(name)
            errors.append(facts.advisory_error or "not fetched")
            continue
        if facts.index_error:
            missing.append(name)
            errors.append(facts.index_error)
            continue
        for vuln in facts.advisories or []:
            ident = vuln.get("id") or "advisory"
            aliases = ", ".join(vuln.get("aliases") or [])
            fixed = ", ".join(vuln.get("fixed_in") or [])
            ctx.add(
                "vulnerability",
                "advisories",
                f"{name} {facts.pin.version}: {ident}{f' ({aliases})' if aliases else ''} "
                f"{(vuln.get('summary') or vuln.get('details') or '').strip()[:160]}".rstrip(),
                f"upgrade to {fixed}" if fixed else "no fixed release is known: consider replacing it",
                package=name,
                version=facts.pin.version,
            )
    _unreachable(ctx, "advisories-unknown", "advisories", "vulnerability data", missing, errors)
