"""Layers mlship writes itself: the bytes depend only on content; test suites and CUDA wheels are
recognised; bytecode compiles to the same bytes from any staging directory."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from mlship.image import layers as lay
from mlship.image.layered import ImageSpec, image_config


def _tree(root: Path, mtime: int) -> Path:
    (root / "pkg" / "tests").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("VALUE = frozenset({'a', 'b', 'c', 'd'})\n")
    (root / "pkg" / "tests" / "test_x.py").write_text("")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o775)
    for path in root.rglob("*"):
        os.utime(path, (mtime, mtime))
    return root


def _digest(root: Path) -> tuple[str, bytes]:
    layer = lay.LayerTar(parents={"/opt": (0o755, 0, 0)})
    layer.add_tree(root, "/opt/x")
    out = io.BytesIO()
    return layer.write(out), out.getvalue()


def test_same_content_gives_the_same_layer_whatever_the_mtimes(tmp_path: Path) -> None:
    a, data = _digest(_tree(tmp_path / "a", 1_000_000_000))
    b, _ = _digest(_tree(tmp_path / "b", 1_700_000_000))
    assert a == b
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names) and names[0] == "opt"
    assert {m.mtime for m in members} == {lay.LAYER_MTIME} and {m.uid for m in members} == {0}
    assert next(m for m in members if m.name.endswith("run.sh")).mode == 0o755
    (tmp_path / "b" / "pkg" / "__init__.py").write_text("VALUE = 2\n")
    assert _digest(tmp_path / "b")[0] != a


def test_bytecode_is_the_same_from_any_staging_directory(tmp_path: Path) -> None:
    compiled = []
    for name in ("one", "two"):
        stage = tmp_path / name
        _tree(stage / "opt" / "x", 1_000_000_000)
        lay.compile_bytecode(stage, ["/opt/x"])
        pyc = next((stage / "opt/x/pkg/__pycache__").glob("__init__.*.pyc")).read_bytes()
        compiled.append(pyc)
    assert compiled[0] == compiled[1]
    assert int.from_bytes(compiled[0][4:8], "little") == 1  # unchecked-hash: no mtime inside
    assert b"/opt/x/pkg/__init__.py" in compiled[0] and str(tmp_path).encode() not in compiled[0]


def test_test_suites_and_cuda_wheels_are_recognised() -> None:
    assert lay.is_test_path("pandas/tests/frame/test_api.py")
    assert lay.is_test_path("scipy/linalg/tests/data/x.npz")
    assert not lay.is_test_path("numpy/testing/__init__.py")
    assert not lay.is_test_path("tests/__init__.py")  # a top-level package named tests is kept
    assert not lay.is_test_path("sklearn/utils/_testing.py")
    assert lay.CUDA_WHEEL.match("nvidia-nccl-cu12") and lay.CUDA_WHEEL.match("nvidia-cublas-cu11")
    assert not lay.CUDA_WHEEL.match("nvidia-ml-py")


def test_image_config_has_no_clock_time() -> None:
    spec = ImageSpec(
        base="b",
        python="3.11",
        venv="/opt/venv",
        site_packages="/opt/venv/lib/python3.11/site-packages",
        user="mlship",
        uid=10001,
        log_dir="/app/logs/predictions",
        env={},
        port=8080,
        cmd=["python"],
        healthcheck=["CMD", "true"],
        labels={"a": "1"},
        created=1_700_000_000,
        gpu=False,
    )
    history = [{"Created": 1_600_000_000, "CreatedBy": "base", "Size": 10}]
    config = image_config(
        spec, {"Env": ["PATH=/usr/bin", "LANG=C.UTF-8"]}, "amd64", ["l0", "l1"], history, ["x"]
    )
    assert config["created"] == "2023-11-14T22:13:20Z"
    assert {h["created"] for h in config["history"][1:]} == {config["created"]}
    assert (
        "PATH=/opt/venv/bin:/usr/bin" in config["config"]["Env"] and "LANG=C.UTF-8" in config["config"]["Env"]
    )
    assert config["config"]["User"] == "10001:10001" and config["rootfs"]["diff_ids"] == ["l0", "l1"]
