"""Helpers shared by the deploy tests."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.support import (
    free_port,  # noqa: F401  (re-exported)
    require_docker,  # noqa: F401  (re-exported for the deploy tests)
    run_mlship,
)


def mlship(
    *args: str, cwd: Path, env: dict | None = None, timeout: float = 240
) -> subprocess.CompletedProcess:
    """The real command line, in a subprocess (exit codes come from mlship.cli.main)."""
    return run_mlship(*args, cwd=cwd, timeout=timeout, env={**os.environ, "CI": "1", **(env or {})})


def mlship_json(*args: str, cwd: Path) -> dict:
    done = mlship(*args, "--json", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def write_project(root: Path, name: str, environments: dict) -> Path:
    import yaml

    config = {
        "name": name,
        "version": "0.1.0",
        "entrypoints": {
            "preprocess": "m.p:t",
            "train": "m.t:main",
            "load": "m.p:load",
            "predict": "m.p:predict",
        },
        "contract": {"examples": [{"input": {"x": 2}, "output": 4, "tolerance": 0.001, "name": "doubles"}]},
        "environments": environments,
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / "mlship.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root


def predict(url: str, x: float = 2) -> tuple[float, str]:
    from mlship import service_http

    reply = service_http.request("POST", f"{url}/predict", json_body={"records": [{"x": x}]}, timeout=5.0)
    assert reply.status == 200, reply.text
    body = reply.json()
    return body["predictions"][0], body["model_version"]
