"""`mlship init`: render the project template into a directory without losing any user file."""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlship.errors import InputError, UsageError
from mlship.outfiles import file_in_the_way
from mlship.templates_dir import templates_dir


@dataclass
class InitResult:
    directory: str
    name: str
    template: str
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_template() -> str:
    return str(templates_dir() / "project")


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not slug or not slug[0].isalpha():
        slug = f"model_{slug}".rstrip("_")
    return slug


def render_template(*, template: str, context: dict[str, Any], no_input: bool, output_dir: Path) -> Path:
    """Render a cookiecutter template into output_dir; returns the rendered project folder."""
    from cookiecutter.exceptions import CookiecutterException
    from cookiecutter.main import cookiecutter

    try:
        rendered = cookiecutter(
            template,
            no_input=no_input,
            extra_context=context,
            output_dir=str(output_dir),
            overwrite_if_exists=False,
            accept_hooks=True,
        )
    except CookiecutterException as exc:
        raise InputError(f"template {template}: {exc}") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"template {template} could not be rendered: {exc}") from None
    return Path(rendered)


def _is_empty(directory: Path) -> bool:
    return not directory.exists() or not any(directory.iterdir())


def merge_into(rendered: Path, target: Path) -> tuple[list[str], list[str]]:
    """Move rendered files into target; a file that already exists there is kept, never replaced."""
    written, kept = [], []
    for source in sorted(p for p in rendered.rglob("*") if p.is_file() or p.is_symlink()):
        rel = source.relative_to(rendered)
        dest = target / rel
        if dest.exists() or dest.is_symlink():
            kept.append(rel.as_posix())
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(source), dest)
        written.append(rel.as_posix())
    return written, kept


def init_project(
    *,
    directory: Path,
    name: str | None = None,
    template: str | None = None,
    no_input: bool = False,
    force: bool = False,
    extra_context: dict[str, Any] | None = None,
    postprocess: Any = None,
) -> InitResult:
    """Scaffold a project in `directory`.

    Everything is rendered into a temporary directory first and moved into place at the end, so
    a failure leaves nothing half-written. `postprocess(rendered_dir)` may change the rendered
    tree before it is moved (the notebook converter uses it).
    """
    directory = directory.resolve()
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a directory")
    if not _is_empty(directory) and not force:
        raise UsageError(
            f"{directory} is not empty",
            hint="choose a new directory, or pass --force to add the project's files "
            "(existing files are kept, never overwritten)",
        )
    project_name = name or directory.name
    slug = slugify(project_name)
    context = {"project_name": slug.replace("_", "-"), "package": slug, **(extra_context or {})}
    chosen = template or default_template()
    if not sys.stdin.isatty():
        no_input = True  # CI and pipes: never wait for a prompt

    blocker = file_in_the_way(directory)
    if blocker is not None:
        raise UsageError(f"cannot create {directory}: {blocker} is a file, not a directory")
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".mlship-init-", dir=directory.parent)
    except OSError as exc:
        raise InputError(f"cannot create {directory}: {exc.strerror or exc}") from None
    try:
        rendered = render_template(template=chosen, context=context, no_input=no_input, output_dir=Path(tmp))
        if postprocess is not None:
            postprocess(rendered)
        directory.mkdir(parents=True, exist_ok=True)
        written, kept = merge_into(rendered, directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return InitResult(str(directory), context["project_name"], chosen, written, kept)
