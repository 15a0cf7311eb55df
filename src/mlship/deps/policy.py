"""The dependency policy in force: mlship.yaml's `policy` section, overlaid by an org-wide policy file
(`policy.file` in mlship.yaml, or `--policy FILE`, which wins). Keys the file sets replace the project's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mlship.config import Policy
from mlship.errors import ConfigError
from mlship.project import Project


def resolve_policy(project: Project, policy_file: Path | None = None) -> Policy:
    policy = project.config.policy
    path = policy_file
    if path is None and policy.file:
        path = project.root / policy.file
    if path is None:
        return policy
    overlay = _read_policy_file(Path(path))
    merged: dict[str, Any] = policy.model_dump(exclude_unset=False)
    merged.update(overlay)
    merged["file"] = str(path)
    try:
        return Policy.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"{Path(path).name}: policy.{key}: {first['msg']}", hint="see docs/deps.md, Policy"
        ) from None


def _read_policy_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the policy file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"the policy file {path} is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path.name}:{mark.line + 1}" if mark else path.name
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"{where}: not valid YAML ({problem})", hint="check indentation and quoting"
        ) from None
    if isinstance(data, dict) and isinstance(data.get("policy"), dict):
        data = data["policy"]  # a file may hold `policy:` at the top, like mlship.yaml
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: a policy file is a mapping of policy keys")
    unknown = sorted(set(data) - set(Policy.model_fields))
    if unknown:
        raise ConfigError(
            f"{path.name}: unknown policy key(s) {', '.join(unknown)}",
            hint=f"known keys: {', '.join(sorted(Policy.model_fields))}",
        )
    return data
