"""Individual rules, each driven through `check()` on a small project against the local index."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlship.deps.check import check
from mlship.errors import ConfigError, InputError, UsageError

from .conftest import write_lock
from .localindex import IndexProcess


def make_project(root: Path, index_url: str, requirements: str, code: str, extra_config: str = "") -> Path:
    pkg = root / "src" / "proj"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "model.py").write_text(code)
    (root / "requirements.txt").write_text(requirements)
    (root / "mlship.yaml").write_text(
        "name: proj\npython: '3.11'\nentrypoints:\n  preprocess: proj.model:a\n  train: proj.model:b\n"
        "  load: proj.model:c\n  predict: proj.model:d\n"
        + extra_config
        + f"policy:\n  index_url: {index_url}\n"
    )
    return root


def codes(result) -> set[tuple[str, str | None]]:
    return {(f.code, f.package) for f in result.findings}


@pytest.fixture
def proj(tmp_path: Path, local_index: IndexProcess, index_tree: Path):
    def build(requirements: str, code: str, pins: dict[str, str] | None, extra_config: str = "") -> Path:
        root = make_project(tmp_path / "p", local_index.url, requirements, code, extra_config)
        if pins is not None:
            write_lock(root, index_tree, pins)
        return root

    return build


def test_vulnerability_is_reported_with_its_fix(proj) -> None:
    root = proj("vulnpkg==1.0.0\n", "import vulnpkg\n", {"vulnpkg": "1.0.0"})
    result = check(directory=root)
    (finding,) = result.findings
    assert finding.code == "vulnerability" and "PYSEC-2099-1" in finding.message and "1.0.1" in finding.hint
    assert result.exit_code == 1


def test_transitive_only_import_and_lock_completeness(proj) -> None:
    # pandas brings python-dateutil; the code imports dateutil without declaring it.
    pins = {"pandas": "2.2.3", "numpy": "2.1.3", "python-dateutil": "2.9.0.post0", "pytz": "2024.2"}
    root = proj("pandas>=2.0\n", "import pandas\nimport dateutil.parser\n", pins)
    result = check(directory=root)
    assert codes(result) == {
        ("transitive-only-import", "python-dateutil"),
        ("lock-incomplete", "tzdata"),
        ("lock-incomplete", "six"),
    }
    assert result.exit_code == 1


def test_lock_missing_stale_and_inconsistent(proj) -> None:
    root = proj("tabulate==0.9.0\n", "import tabulate\n", None)
    assert codes(check(directory=root)) == {("lock-missing", None)}
    (root / "requirements.lock").write_text(
        "# mlship-lock: python=3.10 platform=linux_x86_64 requirements-sha256=x\ntabulate==0.9.0\n"
    )
    (root / "requirements.txt").write_text("tabulate>=1.0\n")
    got = {f.code for f in check(directory=root).findings}
    assert got == {"lock-stale", "lock-target", "lock-inconsistent", "lock-unhashed"}


def test_allow_and_deny_lists(proj) -> None:
    root = proj(
        "tabulate==0.9.0\nsix==1.17.0\n",
        "import tabulate\nimport six\n",
        {"tabulate": "0.9.0", "six": "1.17.0"},
    )
    policy = root / "org.yaml"
    policy.write_text("policy:\n  deny: [tabulate]\n  allow: [six, 'tab*']\n")
    assert codes(check(directory=root, policy_file=policy)) == {("denied", "tabulate")}
    policy.write_text("allow: [tabulate]\n")
    assert codes(check(directory=root, policy_file=policy)) == {("not-allowed", "six")}


def test_cpu_build_under_required_gpu_and_cuda_in_cpu_image(proj) -> None:
    env = "gpu: required\nenvironments:\n  train:\n    gpu_driver: '580.65.06'\n  web:\n    gpu: false\n"
    root = proj("torch==2.9.0+cu130\n", "import torch\n", {"torch": "2.9.0+cu130"}, env)
    result = check(directory=root)
    assert {(f.code, f.environment) for f in result.findings} == {("cuda-in-cpu-image", "web")}
    assert result.exit_code == 0  # a warning: the image is bigger than it needs to be
    assert {(f.code, f.environment) for f in check(directory=root, environments=["train"]).findings} == set()


def test_gpu_driver_unknown_is_not_clean(proj) -> None:
    root = proj("torch==2.9.0+cu128\n", "import torch\n", {"torch": "2.9.0+cu128"}, "gpu: required\n")
    (finding,) = check(directory=root).findings
    assert finding.code == "gpu-driver-unknown" and finding.status == "unknown"


def test_requires_python_against_the_target(proj) -> None:
    root = proj("joblib==1.4.2\n", "import joblib\n", {"joblib": "1.4.2"})
    config = root / "mlship.yaml"
    config.write_text(config.read_text().replace("python: '3.11'", "python: '3.7'"))
    got = {f.code for f in check(directory=root).findings}
    # the lock was made for 3.11 too, and py3-none-any wheels still fit 3.7
    assert got == {"requires-python", "lock-target"}


def test_html_only_index(tmp_path: Path, index_tree: Path) -> None:
    server = IndexProcess(index_tree, html_only=True)
    try:
        root = make_project(
            tmp_path / "p", server.url, "scipy==1.14.1\nnumpy==2.1.3\n", "import scipy\nimport numpy\n", ""
        )
        write_lock(root, index_tree, {"scipy": "1.14.1", "numpy": "2.1.3"})
        result = check(directory=root)
    finally:
        server.stop()
    # HTML pages carry no upload time: the age window is "unknown", never passed silently.
    assert {f.code for f in result.findings} == {"release-age-unknown"}
    assert result.findings[0].status == "unknown"


def test_errors_are_usage_errors(proj, tmp_path: Path) -> None:
    root = proj("tabulate==0.9.0\n", "import tabulate\n", {"tabulate": "0.9.0"})
    with pytest.raises(UsageError):
        check(directory=root, environments=["nope"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("fail_on: sometimes\n")
    with pytest.raises(ConfigError):
        check(directory=root, policy_file=bad)
    bad.write_text("colour: blue\n")
    with pytest.raises(ConfigError, match="colour"):
        check(directory=root, policy_file=bad)
    (root / "requirements.txt").write_text("-e .\n")
    with pytest.raises(InputError, match="requirements.txt:1"):
        check(directory=root)


def test_mixed_cuda_majors_in_one_lock(proj) -> None:
    pins = {"torch": "2.9.0+cu128", "nvidia-cublas-cu12": "12.8.4.1", "nvidia-cuda-runtime": "13.0.96"}
    reqs = "torch==2.9.0+cu128\nnvidia-cublas-cu12\nnvidia-cuda-runtime\n"
    env = "gpu: required\nenvironments:\n  prod:\n    gpu_driver: '570.86.15'\n"
    root = proj(reqs, "import torch\n", pins, env + "")
    config = root / "mlship.yaml"
    config.write_text(config.read_text() + "  ignore_unused: ['nvidia-*']\n")
    result = check(directory=root)
    (finding,) = result.findings
    assert finding.code == "mixed-cuda" and "CUDA 12" in finding.message and "CUDA 13" in finding.message


def test_requirements_with_a_byte_order_mark_are_read_as_pip_reads_them(proj) -> None:
    root = proj("tabulate==0.9.0\n", "import tabulate\n", None)
    for encoding in ("utf-16", "utf-8-sig"):  # what PowerShell's `pip freeze >` and Notepad write
        (root / "requirements.txt").write_bytes("tabulate==0.9.0\n".encode(encoding))
        assert codes(check(directory=root)) == {("lock-missing", None)}


def test_modules_inside_the_project_are_local_not_packages_to_add(proj) -> None:
    root = proj("tabulate==0.9.0\n", "import tabulate\nimport src.globals\nimport data_helpers\n", None)
    (root / "notebooks").mkdir()
    (root / "notebooks" / "data_helpers.py").write_text("X = 1\n")
    (root / "src" / "globals.py").write_text("Y = 2\n")
    assert codes(check(directory=root)) == {("lock-missing", None)}


def test_files_that_do_not_parse_are_named(proj) -> None:
    root = proj("tabulate==0.9.0\n", "import tabulate\n", None)
    (root / "src" / "proj" / "broken.py").write_text("import yaml\ndef f(:\n")
    result = check(directory=root)
    (finding,) = [f for f in result.findings if f.code == "source-unparsed"]
    assert finding.status == "unknown" and "src/proj/broken.py" in finding.message


def test_a_git_pin_in_the_lock_is_read_and_counts_as_locked(proj) -> None:
    url = "git+https://git.example.invalid/team/featurelib@0123456789abcdef0123456789abcdef01234567"
    code = "import tabulate\nimport featurelib\n"
    root = proj(f"tabulate==0.9.0\nfeaturelib @ {url}\n", code, {"tabulate": "0.9.0"})
    lock = root / "requirements.lock"
    lock.write_text(lock.read_text() + f"featurelib @ {url}\n")
    result = check(directory=root)
    # Read (not "not a pinned requirement"), locked (no lock-incomplete), providing its import, and never
    # looked up on the index (the index has no featurelib): nothing to report.
    assert codes(result) == set() and result.exit_code == 0
