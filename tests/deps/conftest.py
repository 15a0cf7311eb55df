"""Fixtures for the deps tests: a real local index server over generated wheels, a seeded project and
the rendered example project."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from .localindex import IndexProcess, build_tree

# What the example project (templates/project) needs, at versions a few months old, with the real
# projects' dependency metadata; pure stubs so nothing heavy is ever fetched.
EXAMPLE_PACKAGES = [
    {
        "name": "numpy",
        "version": "2.1.3",
        "days_ago": 200,
        "requires_python": ">=3.10",
        "tag": "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
    },
    {
        "name": "numpy",
        "version": "1.26.4",
        "days_ago": 600,
        "requires_python": ">=3.9",
        "tag": "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
    },
    {
        "name": "pandas",
        "version": "2.2.3",
        "days_ago": 180,
        "requires_python": ">=3.9",
        "tag": "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
        "requires": [
            "numpy>=1.23.2; python_version == '3.11'",
            "python-dateutil>=2.8.2",
            "pytz>=2020.1",
            "tzdata>=2022.7",
            "pyarrow>=10.0.1; extra == 'parquet'",
        ],
    },
    {
        "name": "scikit-learn",
        "version": "1.5.2",
        "days_ago": 170,
        "requires_python": ">=3.9",
        "tag": "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
        "modules": ["sklearn"],
        # an extra of pandas asked only under an extra of scikit-learn that nobody asks: pyarrow
        # (pandas' `parquet` extra) is not needed, and the lock lacks it rightly
        "requires": [
            "numpy>=1.19.5",
            "scipy>=1.6.0",
            "joblib>=1.2.0",
            "threadpoolctl>=3.1.0",
            "pandas[parquet]>=1.0; extra == 'benchmark'",
        ],
    },
    {
        "name": "scipy",
        "version": "1.14.1",
        "days_ago": 190,
        "requires_python": ">=3.10",
        "tag": "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
        "requires": ["numpy<2.3,>=1.23.5"],
    },
    {"name": "joblib", "version": "1.4.2", "days_ago": 160, "requires_python": ">=3.8"},
    {"name": "threadpoolctl", "version": "3.5.0", "days_ago": 165, "requires_python": ">=3.8"},
    {
        "name": "python-dateutil",
        "version": "2.9.0.post0",
        "days_ago": 150,
        "modules": ["dateutil"],
        "requires": ["six>=1.5"],
    },
    {"name": "pytz", "version": "2024.2", "days_ago": 140},
    {"name": "tzdata", "version": "2024.2", "days_ago": 140},
    {"name": "six", "version": "1.17.0", "days_ago": 130},
    # A release inside the 14-day window: `mlship lock` must not pick it.
    {"name": "joblib", "version": "1.5.0", "days_ago": 3, "requires_python": ">=3.9"},
]

# The seeded project's packages: each one carries exactly one problem.
SEEDED_PACKAGES = [
    {"name": "tabulate", "version": "0.9.0", "days_ago": 100},
    {"name": "freshpkg", "version": "1.0.0", "days_ago": 90},
    {"name": "freshpkg", "version": "1.1.0", "days_ago": 3},
    {"name": "yankpkg", "version": "2.0.0", "days_ago": 120},
    {"name": "yankpkg", "version": "2.0.1", "days_ago": 110, "yanked": "broken build"},
    {"name": "oldmajor", "version": "1.4.0", "days_ago": 200},
    {"name": "oldmajor", "version": "3.2.0", "days_ago": 60},
    {"name": "torch", "version": "2.9.0", "days_ago": 300, "tag": "cp311-cp311-manylinux_2_28_x86_64"},
    {"name": "torch", "version": "2.9.0+cu130", "days_ago": 300, "tag": "cp311-cp311-manylinux_2_28_x86_64"},
    {"name": "torch", "version": "2.9.0+cu128", "days_ago": 300, "tag": "cp311-cp311-manylinux_2_28_x86_64"},
    {
        "name": "macpkg",
        "version": "1.0.0",
        "days_ago": 150,
        "tag": "py3-none-macosx_11_0_arm64",
        "sdist": True,
    },
    {"name": "vulnpkg", "version": "1.0.0", "days_ago": 150},
    # GPU: CUDA 12 and CUDA 13 libraries (NVIDIA dropped the -cu13 suffix), a torch newer than the table.
    {
        "name": "nvidia-cublas-cu12",
        "version": "12.8.4.1",
        "days_ago": 150,
        "modules": ["nvidia.cublas"],
        "tag": "py3-none-manylinux_2_27_x86_64",
    },
    {
        "name": "nvidia-cuda-runtime",
        "version": "13.0.96",
        "days_ago": 150,
        "modules": ["nvidia.cuda_runtime"],
        "tag": "py3-none-manylinux_2_27_x86_64",
    },
    {"name": "torch", "version": "2.15.0", "days_ago": 40, "tag": "cp311-cp311-manylinux_2_28_x86_64"},
]

VULNERABILITIES = {
    "vulnpkg==1.0.0": [
        {
            "id": "PYSEC-2099-1",
            "aliases": ["CVE-2099-0001"],
            "summary": "remote code execution",
            "fixed_in": ["1.0.1"],
        }
    ],
}

SEEDED_REQUIREMENTS = """\
tabulate==0.9.0
freshpkg==1.1.0
yankpkg==2.0.1
oldmajor==1.4.0
torch==2.9.0+cu130
macpkg==1.0.0
"""

SEEDED_CODE = """\
import freshpkg
import macpkg
import oldmajor
import requests
import torch
import yankpkg
from mlsfix import helpers
"""

SEEDED_CONFIG = """\
name: seeded
python: "3.11"
source: src
entrypoints:
  preprocess: mlsfix.model:preprocess
  train: mlsfix.model:train
  load: mlsfix.model:load
  predict: mlsfix.model:predict
gpu: required
environments:
  prod:
    gpu_driver: "535"
"""


@pytest.fixture(scope="session")
def index_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tree(tmp_path_factory.mktemp("index"), EXAMPLE_PACKAGES + SEEDED_PACKAGES, VULNERABILITIES)


@pytest.fixture(scope="session")
def local_index(index_tree: Path):
    server = IndexProcess(index_tree)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("MLSHIP_CACHE_DIR", str(cache))
    monkeypatch.delenv("MLSHIP_INDEX_URL", raising=False)
    return cache


def write_lock(project: Path, tree: Path, pins: dict[str, str], *, python: str = "3.11") -> Path:
    """A hashed lock as `mlship lock` writes it, for pins uv would refuse (yanked, too new)."""
    from mlship.deps.requirements import read_requirements

    digest = read_requirements(project / "requirements.txt").digest
    lines = [f"# mlship-lock: python={python} platform=linux_x86_64 requirements-sha256={digest}"]
    for name, version in pins.items():
        stem = name.replace("-", "_") + "-" + version + "-"
        hashes = [
            hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((tree / "files").glob(stem + "*"))
        ]
        lines.append(f"{name}=={version} \\")
        lines += [f"    --hash=sha256:{h} \\" for h in hashes[:-1]] + [f"    --hash=sha256:{hashes[-1]}"]
    path = project / "requirements.lock"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def seeded_project(tmp_path: Path, index_tree: Path, local_index: IndexProcess) -> Path:
    root = tmp_path / "seeded"
    pkg = root / "src" / "mlsfix"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "helpers.py").write_text("")
    (pkg / "model.py").write_text(SEEDED_CODE)
    (root / "mlship.yaml").write_text(SEEDED_CONFIG + f"policy:\n  index_url: {local_index.url}\n")
    (root / "requirements.txt").write_text(SEEDED_REQUIREMENTS)
    pins = {line.split("==")[0]: line.split("==")[1] for line in SEEDED_REQUIREMENTS.split()}
    write_lock(root, index_tree, pins)
    return root


@pytest.fixture
def example_project(tmp_path: Path, local_index: IndexProcess) -> Path:
    """templates/project rendered by `mlship init`, its policy pointing at the local index."""
    from mlship.scaffold import init_project

    root = tmp_path / "demo"
    init_project(directory=root, no_input=True)
    config = root / "mlship.yaml"
    config.write_text(config.read_text() + f"policy:\n  index_url: {local_index.url}\n")
    return root


# CUDA-era wheels with the real projects' dependency metadata (versions as on PyPI): CUDA 13 torch through
# cuda-toolkit and NVIDIA's unsuffixed libraries (cufft/cusolver/cusparse number themselves 12.x), a torch
# newer than any table, tensorflow 2.20 whose CUDA libraries come only with [and-cuda], xgboost's nccl.
_LINUX = "py3-none-manylinux_2_27_x86_64"
_CP311 = "cp311-cp311-manylinux_2_28_x86_64"
_CT130 = [
    'nvidia-cublas==13.0.0.19; extra == "cublas"',
    'nvidia-cuda-runtime==13.0.96; extra == "cudart"',
    'nvidia-cufft==12.0.0.61; extra == "cufft"',
    'nvidia-cusolver==12.0.4.66; extra == "cusolver"',
    'nvidia-cusparse==12.6.3.3; extra == "cusparse"',
    'nvidia-nvjitlink==13.0.88; extra == "nvjitlink"',
]
_TF_AND_CUDA = [
    'nvidia-cublas-cu12<13.0,>=12.5.3.2; extra == "and-cuda"',
    'nvidia-cuda-runtime-cu12<13.0,>=12.5.82; extra == "and-cuda"',
    'nvidia-cudnn-cu12<10.0,>=9.3.0.75; extra == "and-cuda"',
]
GPU_PACKAGES = [
    {"name": "cuda-toolkit", "version": "13.0.2", "days_ago": 120, "requires": _CT130},
    {
        "name": "cuda-toolkit",
        "version": "13.2.2",
        "days_ago": 60,
        "requires": [r.replace("13.0.0.19", "13.2.1.1").replace("13.0.96", "13.2.51") for r in _CT130[:2]],
    },
    *(
        {
            "name": n,
            "version": v,
            "days_ago": 120,
            "tag": _LINUX,
            "modules": [f"nvidia.{n[7:].replace('-', '_')}"],
        }
        for n, v in [
            ("nvidia-cublas", "13.0.0.19"),
            ("nvidia-cublas", "13.2.1.1"),
            ("nvidia-cuda-runtime", "13.0.96"),
            ("nvidia-cuda-runtime", "13.2.51"),
            ("nvidia-cufft", "12.0.0.61"),
            ("nvidia-cusolver", "12.0.4.66"),
            ("nvidia-cusparse", "12.6.3.3"),
            ("nvidia-nvjitlink", "13.0.88"),
            ("nvidia-cudnn-cu13", "9.13.0.50"),
            ("nvidia-nccl-cu12", "2.23.4"),
            ("nvidia-cuda-runtime-cu12", "12.4.127"),
            ("nvidia-cuda-runtime-cu12", "12.5.82"),
            ("nvidia-cublas-cu12", "12.5.3.2"),
            ("nvidia-cudnn-cu12", "9.3.0.75"),
        ]
    ),
    {
        "name": "torch",
        "version": "2.11.0+cu130",
        "days_ago": 100,
        "tag": _CP311,
        "requires": [
            "cuda-toolkit[cublas,cudart,cufft,cusolver,cusparse,nvjitlink]==13.0.2"
            "; platform_system == 'Linux'",
            "nvidia-cudnn-cu13==9.13.0.50; platform_system == 'Linux'",
        ],
    },
    {
        "name": "torch",
        "version": "2.99.0",
        "days_ago": 40,
        "tag": _CP311,
        "requires": ["cuda-toolkit[cublas,cudart]==13.2.2; platform_system == 'Linux'"],
    },
    {
        "name": "torch",
        "version": "2.5.1",
        "days_ago": 400,
        "tag": _CP311,
        "requires": ["nvidia-cuda-runtime-cu12==12.4.127; platform_system == 'Linux'"],
    },
    {
        "name": "torchvision",
        "version": "0.20.1",
        "days_ago": 400,
        "tag": _CP311,
        "requires": ["torch==2.5.1"],
    },
    {"name": "xgboost", "version": "2.1.4", "days_ago": 200, "tag": _LINUX, "requires": ["nvidia-nccl-cu12"]},
    {"name": "tensorflow", "version": "2.20.0", "days_ago": 150, "tag": _CP311, "requires": _TF_AND_CUDA},
    # jax: pure Python; the CUDA comes with the plugins its [cudaNN] extra pulls in (as on PyPI).
    {
        "name": "jax",
        "version": "0.7.2",
        "days_ago": 120,
        "tag": "py3-none-any",
        "requires": [
            "jaxlib<=0.7.2,>=0.7.2",
            'jax-cuda13-plugin==0.7.2; extra == "cuda13"',
            'jax-cuda12-plugin==0.7.2; extra == "cuda12"',
        ],
    },
    {"name": "jaxlib", "version": "0.7.2", "days_ago": 120, "tag": _CP311},
    {
        "name": "jax-cuda13-plugin",
        "version": "0.7.2",
        "days_ago": 120,
        "tag": _CP311,
        "requires": ["jax-cuda13-pjrt==0.7.2"],
    },
    {"name": "jax-cuda13-pjrt", "version": "0.7.2", "days_ago": 120, "tag": "py3-none-manylinux_2_27_x86_64"},
]


@pytest.fixture(scope="session")
def gpu_index_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tree(tmp_path_factory.mktemp("gpu-index"), GPU_PACKAGES)


@pytest.fixture(scope="session")
def gpu_index(gpu_index_tree: Path):
    server = IndexProcess(gpu_index_tree)
    yield server
    server.stop()
