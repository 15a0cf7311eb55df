"""The base image choice and the Dockerfile, rendered from `templates/image/Dockerfile.j2`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mlship import labels as L
from mlship.errors import ConfigError
from mlship.image.gpu import GpuPlan
from mlship.platforms import GLIBC_BY_NAME, GLIBC_DEFAULT, glibc_of

DEFAULT_BASE = "python:{python}-slim"
# Only for frameworks whose GPU build needs the CUDA libraries from the system (not from wheels).
CUDA_BASE = "nvidia/cuda:{cuda}.0-{cudnn}runtime-ubuntu22.04"
CUDA_BASE_PYTHON = "3.10"
BASE_ENV = "MLSHIP_BASE_IMAGE"
VENV = "/opt/venv"
USER, UID = "mlship", 10001
LOG_DIR = "/app/logs/predictions"
CMD = ["python", "-m", "mlship.serving", "--spec", "/app/runtime.json"]
# No curl in slim bases: the readiness probe is python's own urllib.
HEALTHCHECK = [
    "python",
    "-c",
    "import os, urllib.request; urllib.request.urlopen("
    "'http://127.0.0.1:%s/readyz' % os.environ.get('PORT', '{port}'), timeout=2)",
]


@dataclass(frozen=True)
class BaseChoice:
    image: str
    source: str  # --base, image.base, MLSHIP_BASE_IMAGE, default, cuda
    glibc: int
    system_cuda: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"image": self.image, "source": self.source, "glibc": f"2.{self.glibc}"}


def choose_base(*, python: str, plan: GpuPlan, flag: str | None, config_base: str | None) -> BaseChoice:
    """Precedence: --base > image.base > MLSHIP_BASE_IMAGE > a CUDA base when the GPU build needs
    system CUDA > python:X.Y-slim."""
    for source, image in (
        ("--base", flag),
        ("image.base", config_base),
        (BASE_ENV, os.environ.get(BASE_ENV)),
    ):
        if image:
            return BaseChoice(image, source, glibc_of(image))
    if plan.gpu and plan.cuda_source == "system" and plan.cuda:
        if python != CUDA_BASE_PYTHON:
            raise ConfigError(
                f"{plan.framework} {plan.version} on GPU needs system CUDA {plan.cuda}; the CUDA runtime "
                f"base (ubuntu22.04) has python {CUDA_BASE_PYTHON}, mlship.yaml asks for {python}",
                hint=f'set python: "{CUDA_BASE_PYTHON}", '
                f"or set image.base to a CUDA image with python {python}",
            )
        cuda = plan.cuda if "." in plan.cuda else f"{plan.cuda}.0"
        cudnn = f"cudnn{plan.cudnn.split('.')[0]}-" if plan.cudnn else ""
        image = CUDA_BASE.format(cuda=cuda, cudnn=cudnn)
        return BaseChoice(image, "cuda", GLIBC_BY_NAME["ubuntu22.04"], system_cuda=True)
    image = DEFAULT_BASE.format(python=python)
    return BaseChoice(image, "default", GLIBC_DEFAULT)


def base_glibc(project: Any, environments: Iterable[Any]) -> int:
    """The glibc `build` gets for these environments (the oldest, when their bases differ): the base
    is chosen by `choose_base` from the same lock, so `check` and `lock` judge wheels for what the
    image will really run. An environment whose GPU plan is itself an error counts as the default base."""
    from mlship.errors import MlshipError
    from mlship.image.gpu import plan_gpu
    from mlship.image.requirements import build_lock

    cfg = project.config
    try:
        requirements = build_lock(project, cfg.policy.platforms[0]).requirements
    except MlshipError:
        requirements = []
    found = []
    for env in environments:
        try:
            plan = plan_gpu(requirements, project_gpu=cfg.gpu, env_gpu=env.gpu, driver=env.gpu_driver)
            choice = choose_base(python=cfg.python, plan=plan, flag=None, config_base=cfg.image.base)
        except MlshipError:
            continue
        found.append(choice.glibc)
    return min(found, default=GLIBC_DEFAULT)


def label_value(value: str) -> str:
    """A LABEL value in Dockerfile syntax: double-quoted, with quotes, backslashes and `$` escaped."""
    text = " ".join(str(value).split())
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def render(
    *,
    name: str,
    version: str,
    python: str,
    base: BaseChoice,
    plan: GpuPlan,
    port: int,
    mtime: int,
    system_packages: list[str],
    has_deps: bool,
    has_runtime_wheels: bool,
    labels: dict[str, str],
) -> str:
    import jinja2

    from mlship import __version__
    from mlship.templates_dir import templates_dir

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir() / "image")),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.filters["label"] = label_value
    env.filters["exec_form"] = lambda argv: json.dumps(argv)
    return env.get_template("Dockerfile.j2").render(
        labels=dict(sorted(labels.items())),
        build_cache_label=L.BUILD_CACHE,
        mlship_version=__version__,
        name=name,
        version=version,
        python=python,
        base=base.image,
        system_cuda=base.system_cuda,
        system_packages=sorted(system_packages),
        deps=has_deps,
        runtime_wheels=has_runtime_wheels,
        venv=VENV,
        site_packages=f"{VENV}/lib/python{python}/site-packages",
        user=USER,
        uid=UID,
        log_dir=LOG_DIR,
        port=port,
        mtime=mtime,
        env=dict(sorted(plan.env.items())),
        cmd=CMD,
        healthcheck=healthcheck(port),
    )


def healthcheck(port: int) -> list[str]:
    return [part.replace("{port}", str(port)) for part in HEALTHCHECK]
