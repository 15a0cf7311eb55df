"""A real GPU-variant image on the real engine, from a small CUDA wheel set (no torch: its CUDA wheels are
gigabytes): NVIDIA's CUDA runtime wheel, downloaded once from PyPI and served by the suite's local index
through the project's own `--extra-index-url` line. No GPU here: `gpu: optional` must start on the CPU and
say so; `gpu: required` must refuse with one clear line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlship import labels as L

from ..deps.localindex import IndexProcess, build_tree

pytestmark = [pytest.mark.docker, pytest.mark.slow]

CUDART = "nvidia-cuda-runtime-cu12==12.4.127"  # 0.9 MB: libcudart.so.12 as a wheel
WHEELS = Path(os.environ.get("MLSHIP_TEST_WHEELS", Path.home() / ".cache" / "mlship-test-wheels"))
SITE = "/opt/venv/lib/python3.11/site-packages"


@pytest.fixture(scope="module")
def cuda_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexProcess]:
    WHEELS.mkdir(parents=True, exist_ok=True)
    found = sorted(WHEELS.glob("nvidia_cuda_runtime_cu12-12.4.127-*.whl"))
    if not found:
        argv = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:"]
        argv += [
            "--python-version",
            "3.11",
            "--platform",
            "manylinux2014_x86_64",
            "--dest",
            str(WHEELS),
            CUDART,
        ]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            if os.environ.get("CI"):
                pytest.fail(f"cannot download {CUDART} from PyPI:\n{proc.stderr[-1500:]}")
            pytest.skip(f"PyPI is not reachable for the one-time download of {CUDART}")
        found = sorted(WHEELS.glob("nvidia_cuda_runtime_cu12-12.4.127-*.whl"))
    tree = build_tree(tmp_path_factory.mktemp("cuda-index"), [], real_files=[(found[0], 200)])
    server = IndexProcess(tree)
    yield server
    server.stop()


def _set_gpu(project: Path, value: str) -> None:
    config = project / "mlship.yaml"
    text, n = re.subn(r"(?m)^gpu: .*$", f"gpu: {value}", config.read_text())
    assert n == 1
    config.write_text(text)


def _wait_started(container: Any, timeout: float = 60.0) -> tuple[str, dict[str, Any]]:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        if container.status == "exited":
            pytest.fail("container exited:\n" + container.logs().decode()[-3000:])
        ports = container.ports.get("8080/tcp")
        if ports:
            url = f"http://127.0.0.1:{ports[0]['HostPort']}"
            try:
                response = httpx.get(f"{url}/readyz", timeout=2)
                if response.status_code == 200:
                    return url, response.json()
            except httpx.HTTPError:
                pass
        time.sleep(0.5)
    pytest.fail("container not ready:\n" + container.logs().decode()[-3000:])


def test_gpu_variant_image_from_cuda_wheels(
    project_copy: Path, built: Any, docker: Any, container: Any, cuda_index: IndexProcess
) -> None:
    import httpx

    from mlship.image.build import build_image

    # The copy's requirements.lock predates this edit (stale: `mlship check` refuses it, skipped here);
    # without it the build reads requirements.txt, index line and all.
    (project_copy / "requirements.lock").unlink()
    requirements = project_copy / "requirements.txt"
    requirements.write_text(
        requirements.read_text() + f"--extra-index-url {cuda_index.url}\n{CUDART}\n", encoding="utf-8"
    )
    _set_gpu(project_copy, "optional")
    result = build_image(directory=project_copy, tag=built.tag("gpu"), gpu=True, skip_check=True)

    # The plan: CUDA 12.4 from the locked runtime wheel, the 12.x minor-compatibility driver floor.
    assert result.gpu["gpu"] and result.gpu["cuda"] == "12.4" and result.gpu["cuda_source"] == "wheels"
    config = docker.images.get(result.image).attrs["Config"]
    labels = config["Labels"]
    assert (labels[L.GPU], labels[L.CUDA], labels[L.MIN_DRIVER]) == ("true", "12.4", "525.60.13")
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["NVIDIA_VISIBLE_DEVICES"] == "all"
    assert env["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility"
    assert env["NVIDIA_REQUIRE_CUDA"] == "cuda>=12.0"

    # gpu: optional on this CPU host: it starts, serves, and says it runs on the CPU.
    c = container(result.image)
    url, ready = _wait_started(c)
    assert ready["device"] == "cpu"
    assert "ready on cpu" in c.logs().decode()
    import pandas as pd

    rows = pd.read_csv(project_copy / "data/train.csv").drop(columns=["demand"]).head(3)
    response = httpx.post(f"{url}/predict", json={"records": rows.to_dict(orient="records")}, timeout=30)
    assert response.status_code == 200 and len(response.json()["predictions"]) == 3, response.text
    # The CUDA runtime in the image is the real library: it loads and reports CUDA 12.4 (no driver needed).
    probe = (
        "import ctypes; lib = ctypes.CDLL('" + SITE + "/nvidia/cuda_runtime/lib/libcudart.so.12'); "
        "v = ctypes.c_int(); assert lib.cudaRuntimeGetVersion(ctypes.byref(v)) == 0; print(v.value)"
    )
    code, output = c.exec_run(["python", "-c", probe])
    assert code == 0 and output.decode().strip() == "12040", output.decode()

    # gpu: required on this CPU host: the container refuses to start, in one line, with exit 2.
    _set_gpu(project_copy, "required")
    required = build_image(directory=project_copy, tag=built.tag("gpu-req"), skip_check=True)
    assert required.gpu["reason"] == "gpu: required" and required.labels[L.MIN_DRIVER] == "525.60.13"
    r = container(required.image)
    status = r.wait(timeout=60)
    assert status["StatusCode"] == 2
    lines = [line for line in r.logs().decode().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("mlship: refusing to start: mlship.yaml says gpu: required, but no GPU")
    assert "--gpus all" in lines[0]
