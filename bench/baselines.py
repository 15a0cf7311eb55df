"""The servers the bench compares, each serving the same project code and artifacts.

Every baseline calls the project's own load -> preprocess -> predict on a DataFrame built from
the request's records, as mlship does; only the server around it differs. The scripts import
nothing from mlship, so MLflow and BentoML can run from their own virtual environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

# Shared by every generated script: bind the project's entrypoints from the runtime spec.
PROJECT_CODE = """
import importlib, json, sys
import pandas as pd
SPEC = json.load(open({spec!r}))
sys.path.insert(0, SPEC["source_dir"])
def _ref(key):
    module, _, name = SPEC["entrypoints"][key].partition(":")
    return getattr(importlib.import_module(module), name)
load, preprocess, predict = _ref("load"), _ref("preprocess"), _ref("predict")
def score(model, frame):
    return [float(v) for v in predict(model, preprocess(frame, model))]
"""

BARE = """
{project}
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
import uvicorn
MODEL = load(SPEC["artifact_dir"])
async def predict_endpoint(request):
    body = await request.json()
    return JSONResponse({{"predictions": score(MODEL, pd.DataFrame.from_records(body["records"]))}})
app = Starlette(routes=[Route("/predict", predict_endpoint, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning", access_log=False)
"""

MLFLOW_SAVE = """
{project}
import mlflow.pyfunc
class Wrapped(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        self.model = load(context.artifacts["artifacts"])
    def predict(self, context, model_input, params=None):
        return score(self.model, model_input)
mlflow.pyfunc.save_model({path!r}, python_model=Wrapped(), artifacts={{"artifacts": SPEC["artifact_dir"]}})
"""

BENTO = """
{project}
import bentoml
@bentoml.service(workers=1, traffic={{"timeout": 30}})
class Demand:
    def __init__(self):
        self.model = load(SPEC["artifact_dir"])
    @bentoml.api
    def predict(self, records: list[dict]) -> list[float]:
        return score(self.model, pd.DataFrame.from_records(records))
"""


@dataclass
class Target:
    """One server to measure: how to start it and how to ask it for predictions."""

    name: str
    argv: list[str]
    port: int
    path: str
    body_key: str  # the key that carries the records list
    cwd: str | None = None
    env: dict[str, str] | None = None
    ready_path: str = "/predict"


def _write(directory: Path, name: str, code: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(code))
    return path


def mlship_target(python: str, spec_file: Path, port: int, log_dir: Path) -> Target:
    argv = [python, "-m", "mlship.serving", "--spec", str(spec_file), "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--workers", "1", "--log-dir", str(log_dir), "--log-level", "warning"]
    return Target("mlship", argv, port, "/predict", "records", ready_path="/readyz")


def bare_target(python: str, spec_file: Path, port: int, work: Path) -> Target:
    project = PROJECT_CODE.format(spec=str(spec_file))
    script = _write(work, "bare_app.py", BARE.format(project=project, port=port))
    return Target("bare-starlette", [python, str(script)], port, "/predict", "records")


def mlflow_target(python: str, spec_file: Path, port: int, work: Path) -> Target:
    model_dir = work / "mlflow-model"
    project = PROJECT_CODE.format(spec=str(spec_file))
    script = _write(work, "mlflow_save.py", MLFLOW_SAVE.format(project=project, path=str(model_dir)))
    subprocess.run([python, str(script)], check=True, capture_output=True, timeout=300)
    mlflow = str(Path(python).parent / "mlflow")
    argv = [mlflow, "models", "serve", "-m", str(model_dir), "--env-manager", "local"]
    argv += ["-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    # MLflow starts its server as `uvicorn ...` found on PATH: its own environment's.
    env = {"PATH": f"{Path(python).parent}:{os.environ.get('PATH', '')}"}
    # The pickled wrapper refers to the project's modules by name: put them on the path.
    env["PYTHONPATH"] = json.loads(spec_file.read_text())["source_dir"]
    return Target("mlflow", argv, port, "/invocations", "dataframe_records", env=env, ready_path="/ping")


def bento_target(python: str, spec_file: Path, port: int, work: Path) -> Target:
    project = PROJECT_CODE.format(spec=str(spec_file))
    _write(work, "bento_service.py", BENTO.format(project=project))
    bentoml = str(Path(python).parent / "bentoml")
    argv = [bentoml, "serve", "bento_service:Demand", "--host", "127.0.0.1", "--port", str(port)]
    env = {"PATH": f"{Path(python).parent}:{os.environ.get('PATH', '')}"}
    return Target("bentoml", argv, port, "/predict", "records", cwd=str(work), env=env, ready_path="/readyz")


def has_module(python: str, module: str) -> bool:
    probe = subprocess.run(
        [python, "-c", f"import importlib.util,sys; sys.exit(importlib.util.find_spec({module!r}) is None)"],
        capture_output=True,
        timeout=60,
    )
    return probe.returncode == 0


def body(key: str, records: list[dict]) -> bytes:
    return json.dumps({key: records}).encode()


def current_python() -> str:
    return sys.executable
