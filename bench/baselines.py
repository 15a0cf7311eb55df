"""The servers the bench compares, each serving the same project code and artifacts.

Every baseline calls the project's own load -> preprocess -> predict on a DataFrame built from
the request's records, as mlship does; only the server around it differs. The scripts import
nothing from mlship: each framework runs from its own virtual environment under the bench's cache
directory (~/.cache/mlship-bench/venvs/NAME, made by `ensure_venv` on first use).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# What each framework's venv installs (beside the project's own pandas/scikit-learn/joblib).
FRAMEWORKS = {
    "mlflow": ["mlflow"],
    "bentoml": ["bentoml"],
    "litserve": ["litserve"],
    "mlserver": ["mlserver"],
    "coglet": ["coglet", "cog"],
}
PROJECT_PACKAGES = ["pandas", "scikit-learn", "joblib"]
CACHE = Path(os.environ.get("MLSHIP_BENCH_CACHE", Path.home() / ".cache" / "mlship-bench"))

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
    encode: Callable[[list[dict]], bytes] | None = field(default=None, repr=False)

    def body(self, records: list[dict]) -> bytes:
        return self.encode(records) if self.encode else body(self.body_key, records)


def _write(directory: Path, name: str, code: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(code))
    return path


def mlship_target(python: str, spec_file: Path, port: int, log_dir: Path, workers: int = 1) -> Target:
    argv = [python, "-m", "mlship.serving", "--spec", str(spec_file), "--host", "127.0.0.1"]
    argv += [
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-dir",
        str(log_dir),
        "--log-level",
        "warning",
    ]
    return Target("mlship", argv, port, "/predict", "records", ready_path="/readyz")


def bare_target(python: str, spec_file: Path, port: int, work: Path) -> Target:
    project = PROJECT_CODE.format(spec=str(spec_file))
    script = _write(work, "bare_app.py", BARE.format(project=project, port=port))
    return Target("bare-starlette", [python, str(script)], port, "/predict", "records")


# The floor under any Python server here: uvicorn and a raw ASGI app that reads the body and
# answers a constant, no JSON, no model. Served p50 - in-process time can be no lower than this.
FLOOR = """
import uvicorn
ANSWER = b'{{"predictions": [0.0]}}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({{"type": "http.response.start", "status": 200, "headers": HEADERS}})
    await send({{"type": "http.response.body", "body": ANSWER}})
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning", access_log=False, lifespan="off")
"""


def floor_target(python: str, port: int, work: Path) -> Target:
    script = _write(work, "floor_app.py", FLOOR.format(port=port))
    return Target("http-floor", [python, str(script)], port, "/predict", "records")


def mlflow_target(python: str, spec_file: Path, port: int, work: Path) -> Target:
    model_dir = work / f"mlflow-model-{spec_file.stem}"  # one per model: save_model refuses an existing one
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


LITSERVE = """
{project}
import litserve as ls
class Demand(ls.LitAPI):
    def setup(self, device):
        self.model = load(SPEC["artifact_dir"])
    def decode_request(self, request):
        return request["records"]
    def predict(self, records):
        return score(self.model, pd.DataFrame.from_records(records))
    def encode_response(self, output):
        return {{"predictions": output}}
if __name__ == "__main__":
    server = ls.LitServer(Demand(), accelerator="cpu", workers_per_device=1, api_path="/predict")
    options = dict(num_api_servers=1, log_level="warning", generate_client_file=False)
    server.run(host="127.0.0.1", port={port}, **options)
"""

MLSERVER = """
{project}
import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec, PandasCodec
from mlserver.types import InferenceRequest, InferenceResponse
class Demand(MLModel):
    async def load(self):
        self.model = load(SPEC["artifact_dir"])
        return True
    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        frame = PandasCodec.decode_request(payload)
        out = np.asarray(score(self.model, frame))
        return InferenceResponse(model_name=self.name, outputs=[NumpyCodec.encode_output("predictions", out)])
"""

COG = """
{project}
from cog import BasePredictor
class Predictor(BasePredictor):
    def setup(self):
        self.model = load(SPEC["artifact_dir"])
    def predict(self, records: str) -> list[float]:
        return score(self.model, pd.DataFrame.from_records(json.loads(records)))
"""


def litserve_target(python: str, spec_file: Path, port: int, work: Path) -> Target:
    project = PROJECT_CODE.format(spec=str(spec_file))
    script = _write(work, "litserve_app.py", LITSERVE.format(project=project, port=port))
    return Target("litserve", [python, str(script)], port, "/predict", "records", ready_path="/health")


def v2_body(records: list[dict]) -> bytes:
    """Records as an Open Inference Protocol request: one named column per field."""
    inputs = []
    for name in records[0]:
        column = [record[name] for record in records]
        if all(isinstance(v, str) for v in column):
            kind = "BYTES"
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in column):
            kind = "INT64"
        else:
            kind = "FP64"
        inputs.append({"name": name, "shape": [len(column)], "datatype": kind, "data": column})
    return json.dumps({"inputs": inputs}).encode()


def mlserver_target(python: str, spec_file: Path, port: int, work: Path) -> Target:
    project = PROJECT_CODE.format(spec=str(spec_file))
    model_dir = work / "mlserver"
    model_dir.mkdir(exist_ok=True)
    _write(model_dir, "demand_runtime.py", MLSERVER.format(project=project))
    # parallel_workers 0: inference in the server's own process (one worker, as for every server).
    settings = {"host": "127.0.0.1", "http_port": port, "grpc_port": port + 100, "metrics_port": port + 200}
    settings["parallel_workers"] = 0
    (model_dir / "settings.json").write_text(json.dumps({**settings, "debug": False}))
    model = {"name": "demand", "implementation": "demand_runtime.Demand"}
    (model_dir / "model-settings.json").write_text(json.dumps(model))
    argv = [str(Path(python).parent / "mlserver"), "start", str(model_dir)]
    env = {"PATH": f"{Path(python).parent}:{os.environ.get('PATH', '')}", "PYTHONPATH": str(model_dir)}
    path = "/v2/models/demand/infer"
    return Target("mlserver", argv, port, path, "inputs", cwd=str(model_dir), env=env, encode=v2_body)


def cog_body(records: list[dict]) -> bytes:
    return json.dumps({"input": {"records": json.dumps(records)}}).encode()


def coglet_target(python: str, spec_file: Path, port: int, work: Path) -> Target:
    project = PROJECT_CODE.format(spec=str(spec_file))
    _write(work, "cog_predictor.py", COG.format(project=project))
    code = f"import coglet; coglet.server.serve('cog_predictor.py:Predictor', host='127.0.0.1', port={port})"
    # Its worker process is started as `python` from PATH: this venv's. RUST_LOG: no line per request.
    env = {
        "PYTHONPATH": str(work),
        "PATH": f"{Path(python).parent}:{os.environ.get('PATH', '')}",
        "RUST_LOG": "warn",
    }
    return Target(
        "coglet", [python, "-c", code], port, "/predictions", "input", cwd=str(work), env=env, encode=cog_body
    )


TARGETS = {
    "mlflow": mlflow_target,
    "bentoml": bento_target,
    "litserve": litserve_target,
    "mlserver": mlserver_target,
    "coglet": coglet_target,
}


def ensure_venv(name: str, base_python: str, install: bool) -> tuple[str | None, str]:
    """The framework's own interpreter (made and filled on first use), or None and why not."""
    venv = CACHE / "venvs" / name
    python = venv / "bin" / "python"
    done = venv / ".ok"
    if not done.exists():
        if not install:
            return None, f"no venv at {venv} (run without --no-install to make it)"
        print(f"(installing {name} into {venv}: once, a few minutes)", flush=True)
        try:
            subprocess.run(
                [base_python, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300
            )
            packages = FRAMEWORKS[name] + PROJECT_PACKAGES
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", *packages],
                check=True,
                capture_output=True,
                timeout=1200,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            tail = (getattr(exc, "stderr", b"") or b"").decode(errors="replace").strip().splitlines()[-1:]
            return None, f"{name} did not install: {tail[0] if tail else exc}"
        done.touch()
    version = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({FRAMEWORKS[name][0]!r}))"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    return str(python), version


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
