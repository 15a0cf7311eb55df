"""Rules about the project's own files: imports vs declared requirements, and the lock vs requirements."""

from __future__ import annotations

from fnmatch import fnmatch

from packaging.requirements import Requirement

from mlship.deps.context import RuleContext
from mlship.deps.imports import KNOWN_PROVIDERS, module_candidates, provided_modules, suggest_distribution
from mlship.deps.requirements import Lock, canonical, lock_stale


def provider_map(ctx: RuleContext) -> dict[str, set[str]]:
    """Importable name -> distributions (declared or locked) that provide it."""
    dists = set(ctx.requirements.names()) | (set(ctx.lock.pins) | set(ctx.lock.direct) if ctx.lock else set())
    providers: dict[str, set[str]] = {}
    for dist in dists:
        facts = ctx.facts.get(dist)
        if facts is not None and not facts.on_index and not facts.index_error:
            continue  # the index has no such project: it provides no module (`yaml` is not PyYAML)
        names = facts.wheel.get("names") if facts and facts.wheel else None
        modules = provided_modules(names) if names else set()
        if not modules:
            # No wheel listing (offline without cache, or a multi-GB wheel): the maintained map and the
            # distribution's own name are what is left.
            modules = {m for m, owners in KNOWN_PROVIDERS.items() if dist in owners}
            modules.add(dist.replace("-", "_"))
        for module in modules:
            providers.setdefault(module, set()).add(dist)
    return providers


def check_imports(ctx: RuleContext) -> None:
    providers = provider_map(ctx)
    declared = ctx.requirements.names()
    used: set[str] = set()
    reported: set[str] = set()
    for site in ctx.imports:
        owners = next((providers[c] for c in module_candidates(site.module) if c in providers), set())
        top = site.module.split(".")[0]
        if owners & declared:
            used |= owners & declared
            continue
        if top in reported:
            continue
        reported.add(top)
        where = {"where": f"{site.path}:{site.line}", "package": None}
        if owners:
            dist = sorted(owners)[0]
            ctx.add(
                "transitive-only-import",
                "imports",
                f"`{site.module}` comes from {dist}, which is only a dependency of another package",
                f"declare {dist} in requirements.txt so an upgrade elsewhere cannot remove it",
                package=dist,
                where=where["where"],
            )
            continue
        suggestion = " or ".join(suggest_distribution(site.module))
        code = "optional-import-missing" if site.optional else "missing-import"
        ctx.add(
            code,
            "imports",
            f"`{site.module}` is imported but no declared requirement provides it",
            f"add {suggestion} to requirements.txt, then run `mlship lock`",
            where=where["where"],
        )
    for item in ctx.requirements.items:
        if item.name in used or any(fnmatch(item.name, p) for p in ctx.policy.ignore_unused):
            continue
        if not ctx.marker_true(item.requirement):
            continue
        ctx.add(
            "unused-requirement",
            "imports",
            f"{item.name} is declared but the code never imports it",
            "remove it from requirements.txt, or list it in policy.ignore_unused if it is loaded indirectly",
            package=item.name,
            where=item.source,
        )


def check_lock(ctx: RuleContext) -> None:
    lock = ctx.lock
    if lock is None:
        ctx.add("lock-missing", "lock", "there is no requirements.lock", "run `mlship lock`")
        return
    name = lock.path.name
    header = lock.header
    if lock_stale(lock, ctx.requirements):
        ctx.add(
            "lock-stale",
            "lock",
            f"requirements.txt changed since {name} was made",
            "run `mlship lock`",
            where=name,
        )
    for key, want in (("python", ctx.python), ("platform", ctx.platforms[0])):
        if header.get(key) and header[key] != want:
            ctx.add(
                "lock-target",
                "lock",
                f"{name} was made for {key} {header[key]}, the target is {want}",
                "run `mlship lock`",
                where=name,
            )
    for item in ctx.requirements.items:
        req = item.requirement
        if not ctx.marker_true(req):
            continue
        _check_pinned(ctx, req, item.source)
    for pin in lock.pins.values():
        if not pin.hashes:
            ctx.add(
                "lock-unhashed",
                "lock",
                f"{pin.name}=={pin.version} has no --hash",
                "run `mlship lock`",
                package=pin.name,
                version=pin.version,
                where=f"{name}:{pin.line}",
            )
        facts = ctx.facts.get(pin.name)
        known = {f.sha256 for f in facts.files if f.sha256} if facts else set()
        if pin.hashes and known and not known & set(pin.hashes):
            ctx.add(
                "lock-hash-mismatch",
                "lock",
                f"no file of {pin.name}=={pin.version} on the index has a locked hash",
                "the release was replaced or the lock edited by hand: run `mlship lock`",
                package=pin.name,
                version=pin.version,
                where=f"{name}:{pin.line}",
            )
        for req in ctx.requires(pin.name):
            _check_pinned(ctx, req, name, parent=pin.name)
    if not header.get("requirements-sha256"):
        _check_unrequired(ctx, lock)


def _check_unrequired(ctx: RuleContext, lock: Lock) -> None:
    """A lock without mlship's header may be another project's: pins nothing in requirements.txt needs,
    directly or through the locked wheels' own requirements, say so. Decided only when every pin reached
    has known metadata (offline without a cache, a reached wheel's requirements are unknown)."""
    reached: set[str] = set()
    wanted = [i.name for i in ctx.requirements.items if ctx.marker_true(i.requirement)]
    if any(name in lock.direct for name in wanted):
        return  # a package from a URL: its own requirements are not known without building it
    todo = [name for name in wanted if name in lock.pins]
    while todo:
        dist = todo.pop()
        if dist in reached:
            continue
        reached.add(dist)
        facts = ctx.facts.get(dist)
        if facts is None or not facts.wheel or not facts.wheel.get("metadata"):
            return
        todo += [n for r in ctx.requires(dist) if (n := canonical(r.name)) in lock.pins]
    extra = sorted(set(lock.pins) - reached)
    if extra:
        shown = ", ".join(extra[:8]) + (f" and {len(extra) - 8} more" if len(extra) > 8 else "")
        ctx.add(
            "lock-unrequired",
            "lock",
            f"{len(extra)} of {len(lock.pins)} pins in {lock.path.name} are required by nothing in "
            f"requirements.txt: {shown}",
            "the lock may belong to another project: run `mlship lock`",
            where=lock.path.name,
        )


def _check_pinned(ctx: RuleContext, req: Requirement, source: str, parent: str | None = None) -> None:
    assert ctx.lock is not None
    pin = ctx.lock.pins.get(canonical(req.name))
    who = f"{parent} requires {req}" if parent else f"{source} asks for {req}"
    if pin is None and canonical(req.name) in ctx.lock.direct:
        return  # locked by its URL (a git commit): nothing on an index to compare with
    if pin is None:
        ctx.add(
            "lock-incomplete",
            "lock",
            f"{who}, but {ctx.lock.path.name} has no {canonical(req.name)}",
            "run `mlship lock`",
            package=canonical(req.name),
            where=source,
        )
    elif req.specifier and not req.specifier.contains(pin.version, prereleases=True):
        ctx.add(
            "lock-inconsistent",
            "lock",
            f"{who}, but the lock pins {pin.version}",
            "run `mlship lock`",
            package=pin.name,
            version=pin.version,
            where=source,
        )


def check_policy_lists(ctx: RuleContext) -> None:
    names = set(ctx.lock.pins) if ctx.lock else ctx.requirements.names()
    for name in sorted(names):
        if any(fnmatch(name, canonical(p)) for p in ctx.policy.deny):
            ctx.add(
                "denied",
                "policy",
                f"{name} is on the policy's deny list",
                "replace it or ask for an exception",
                package=name,
            )
        elif ctx.policy.allow and not any(fnmatch(name, canonical(p)) for p in ctx.policy.allow):
            ctx.add(
                "not-allowed",
                "policy",
                f"{name} is not on the policy's allow list",
                "ask for it to be reviewed and allowed, or use an allowed alternative",
                package=name,
            )
