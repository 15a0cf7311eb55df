"""GPU facts from the lock's own evidence, against the real local index: CUDA 13 torch through
cuda-toolkit, a torch newer than the table, CUDA libraries in CPU images, torch's companions switched
together, and the table regenerated from the index."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from mlship.deps.check import check
from mlship.deps.gpu import lock_cuda, lock_wide_cuda, mixed_cuda_majors
from mlship.deps.gpu_table import load_current, regenerate
from mlship.deps.index import IndexClient

from .conftest import write_lock
from .localindex import IndexProcess
from .test_rules import make_project

CU130_LOCK = {
    "torch": "2.11.0+cu130",
    "cuda-toolkit": "13.0.2",
    "nvidia-cublas": "13.0.0.19",
    "nvidia-cuda-runtime": "13.0.96",
    "nvidia-cufft": "12.0.0.61",
    "nvidia-cusolver": "12.0.4.66",
    "nvidia-cusparse": "12.6.3.3",
    "nvidia-nvjitlink": "13.0.88",
    "nvidia-cudnn-cu13": "9.13.0.50",
}
IGNORE = "  ignore_unused: ['nvidia-*', 'cuda-*']\n"


@pytest.fixture
def gproj(tmp_path: Path, gpu_index: IndexProcess, gpu_index_tree: Path):
    def build(pins: dict[str, str], env: str, code: str = "import torch\n", reqs: str | None = None) -> Path:
        requirements = reqs if reqs is not None else "".join(f"{n}=={v}\n" for n, v in pins.items())
        root = make_project(tmp_path / "g", gpu_index.url, requirements, code, env)
        config = root / "mlship.yaml"
        config.write_text(config.read_text() + IGNORE)
        write_lock(root, gpu_index_tree, pins)
        return root

    return build


def found(result) -> set[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    return {(f.code, f.package) for f in result.findings}


def test_cuda13_torch_with_unsuffixed_12x_libraries_is_not_mixed(gproj) -> None:
    root = gproj(CU130_LOCK, "gpu: required\nenvironments:\n  prod:\n    gpu_driver: '580.65.06'\n")
    result = check(directory=root)
    assert "mixed-cuda" not in {f.code for f in result.findings}
    # Only the note that the index has a torch newer than the table (2.99) remains.
    assert found(result) == {("gpu-table-stale", "torch")}


def test_cuda13_torch_on_an_r535_driver_names_the_580_floor(gproj) -> None:
    root = gproj(CU130_LOCK, "gpu: required\nenvironments:\n  prod:\n    gpu_driver: '535.104.05'\n")
    (finding,) = [f for f in check(directory=root).findings if f.code == "gpu-driver"]
    assert "CUDA 13.0" in finding.message and ">= 580.65.06" in finding.message


def test_torch_newer_than_the_table_takes_its_cuda_from_the_locked_toolkit(gproj) -> None:
    pins = {
        "torch": "2.99.0",
        "cuda-toolkit": "13.2.2",
        "nvidia-cublas": "13.2.1.1",
        "nvidia-cuda-runtime": "13.2.51",
    }
    root = gproj(pins, "gpu: required\nenvironments:\n  prod:\n    gpu_driver: '535'\n")
    result = check(directory=root)
    by_code = {f.code: f for f in result.findings}
    assert set(by_code) == {"gpu-driver", "gpu-table-stale"}
    driver = by_code["gpu-driver"]
    assert "CUDA 13.2" in driver.message and "cuda-toolkit==13.2.2" in driver.message
    assert ">= 580.65.06" in driver.message and result.exit_code == 1
    stale = by_code["gpu-table-stale"]
    assert stale.severity == "info" and "torch 2.99.0" in stale.message


def test_framework_newer_than_the_table_without_cuda_evidence_is_unknown(gproj) -> None:
    root = gproj({"torch": "2.99.0"}, "gpu: required\nenvironments:\n  prod:\n    gpu_driver: '580.65.06'\n")
    gpu = {f.code: f for f in check(directory=root).findings if f.check == "gpu"}
    assert set(gpu) == {"gpu-table-unknown", "gpu-table-stale"}
    unknown = gpu["gpu-table-unknown"]
    assert unknown.status == "unknown" and unknown.severity == "warning"


def test_nccl_pulled_in_by_xgboost_is_flagged_in_a_cpu_image(gproj) -> None:
    pins = {"xgboost": "2.1.4", "nvidia-nccl-cu12": "2.23.4"}
    root = gproj(pins, "", code="import xgboost\n", reqs="xgboost==2.1.4\n")
    (finding,) = check(directory=root).findings
    assert finding.code == "cuda-in-cpu-image" and finding.severity == "warning"
    assert "nvidia-nccl-cu12==2.23.4 (required by xgboost)" in finding.message


def test_plain_tensorflow_bundles_no_cuda_but_its_gpu_need_is_still_checked(gproj) -> None:
    root = gproj({"tensorflow": "2.20.0"}, "", code="import tensorflow\n")
    assert check(directory=root).findings == []
    config = root / "mlship.yaml"  # the same project, now for a GPU environment on an old driver
    gpu_env = "gpu: required\nenvironments:\n  prod:\n    gpu_driver: '470'\npolicy:"
    config.write_text(config.read_text().replace("policy:", gpu_env))
    (finding,) = check(directory=root).findings
    assert finding.code == "gpu-driver" and "CUDA 12.5" in finding.message


def test_driver_hint_switches_torchvision_with_torch(gproj) -> None:
    pins = {"torch": "2.5.1", "torchvision": "0.20.1", "nvidia-cuda-runtime-cu12": "12.4.127"}
    root = gproj(
        pins,
        "gpu: required\nenvironments:\n  prod:\n    gpu_driver: '470.82.01'\n",
        code="import torch\nimport torchvision\n",
    )
    (finding,) = [f for f in check(directory=root).findings if f.code == "gpu-driver"]
    assert "CUDA 12.4" in finding.message
    assert "torch==2.5.1+cu118" in finding.hint and "torchvision==0.20.1+cu118" in finding.hint


def test_lock_cuda_from_names_versions_labels_and_requirements() -> None:
    requires = {"torch": ["cuda-toolkit[cufft]==13.0.2"], "cuda-toolkit": ["nvidia-cufft==12.0.0.61"]}
    facts = lock_cuda({"torch": "2.11.0", "cuda-toolkit": "13.0.2", "nvidia-cufft": "12.0.0.61"}, requires)
    assert facts["torch"].cuda == "13.0" and facts["nvidia-cufft"].cuda == "13.0"
    # Without the metadata, an unsuffixed self-numbered library tells nothing, and is never "CUDA 12".
    assert "nvidia-cufft" not in lock_cuda({"nvidia-cufft": "12.0.0.61"})
    assert lock_cuda({"nvidia-cufft-cu12": "11.3.3.83"})["nvidia-cufft-cu12"].cuda == "12"
    assert lock_cuda({"nvidia-cublas-cu11": "11.11.3.6"})["nvidia-cublas-cu11"].cuda == "11"
    assert lock_cuda({"torch": "2.9.0+cu126"})["torch"].cuda == "12.6"
    assert (
        lock_wide_cuda(lock_cuda({"nvidia-cuda-runtime": "13.2.51", "nvidia-cublas": "13.2.1.1"})).cuda
        == "13.2"
    )
    assert set(mixed_cuda_majors({"torch": "2.11.0+cu130", "nvidia-cufft": "12.0.0.61"}.items())) == {"13"}
    assert set(mixed_cuda_majors([("torch", "2.11.0+cu130"), ("cupy-cuda12x", "13.3.0")])) == {"12", "13"}


def test_regenerated_table_reads_each_release_cuda_from_its_metadata(gpu_index: IndexProcess) -> None:
    client = IndexClient(gpu_index.url, ttl=0)
    data = regenerate(client, load_current(), today=date(2026, 12, 1))
    torch = data["frameworks"]["torch"]["releases"]
    assert torch["2.99"]["default_cuda"] == "13.2" and "cu132" in torch["2.99"]["variants"]
    assert torch["2.11"]["default_cuda"] == "13.0"
    assert torch["2.5"]["default_cuda"] == "12.4" and "cu118" in torch["2.5"]["variants"]  # kept
    tf = data["frameworks"]["tensorflow"]["releases"]["2.20"]
    assert tf["default_cuda"] == "12.5" and tf["cudnn"] == "9.3"
    assert data["table_version"] == "2026.12.1" and data["generated_from"] == gpu_index.url


def test_driver_hint_switches_jax_through_its_extra_and_names_the_plugins_that_go(gproj) -> None:
    pins = {
        "jax": "0.7.2",
        "jaxlib": "0.7.2",
        "jax-cuda13-plugin": "0.7.2",
        "jax-cuda13-pjrt": "0.7.2",
        "nvidia-cuda-runtime": "13.0.96",
    }
    root = gproj(
        pins,
        "gpu: required\nenvironments:\n  prod:\n    gpu_driver: '550.54.15'\n",
        code="import jax\n",
        reqs="jax[cuda13]==0.7.2\n",
    )
    (finding,) = [f for f in check(directory=root).findings if f.code == "gpu-driver"]
    assert "CUDA 13" in finding.message and ">= 580.65.06" in finding.message
    assert "jax[cuda12]==0.7.2" in finding.hint and "+cuda12" not in finding.hint
    assert "jax-cuda13-plugin" in finding.hint and "jax-cuda13-pjrt" in finding.hint
