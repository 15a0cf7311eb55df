"""Deploy targets behind one interface (`base.Target`): the name -> class table and how one is chosen.

The interface does not know its implementations; a new target is a class here and a name in TARGETS.
"""

from __future__ import annotations

import os

from mlship.config import Environment
from mlship.deploy.targets.base import Context, Target
from mlship.deploy.targets.docker_target import DockerTarget
from mlship.deploy.targets.kubernetes import KubernetesTarget
from mlship.deploy.targets.swarm import SwarmTarget
from mlship.errors import ConfigError

TARGET_ENV_VAR = "MLSHIP_TARGET"
TARGETS: dict[str, type[Target]] = {
    "docker": DockerTarget,
    "swarm": SwarmTarget,
    "kubernetes": KubernetesTarget,
}


def choose_target(flag: str | None, env: Environment) -> str:
    """Precedence: the --target flag, then environments.X.target written in mlship.yaml, then the
    MLSHIP_TARGET environment variable, then `docker`."""
    if flag:
        chosen = flag
    elif "target" in env.model_fields_set:
        chosen = env.target
    else:
        chosen = os.environ.get(TARGET_ENV_VAR) or env.target
    if chosen not in TARGETS:
        raise ConfigError(f"unknown deploy target {chosen!r}", hint=f"choose one of {', '.join(TARGETS)}")
    return chosen


def make_target(kind: str, context: Context) -> Target:
    return TARGETS[kind](context)
