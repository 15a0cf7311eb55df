"""`mlship check` end to end against a real local index: seeded problems, the clean example, offline."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.support import run_mlship

from .localindex import IndexProcess

SEEDED = {
    ("missing-import", None),
    ("unused-requirement", "tabulate"),
    ("bleeding-edge", "freshpkg"),
    ("yanked", "yankpkg"),
    ("stale-major", "oldmajor"),
    ("gpu-driver", "torch"),
    ("no-wheel", "macpkg"),
}


def run_check(project: Path, *args: str) -> tuple[int, dict]:
    result = run_mlship("check", str(project), "--json", *args, timeout=300)
    assert result.stdout.strip().startswith("{"), result.stderr
    return result.returncode, json.loads(result.stdout)


def test_seeded_project_gets_exactly_the_seeded_findings(seeded_project: Path) -> None:
    code, data = run_check(seeded_project)
    got = {(f["code"], f["package"]) for f in data["findings"]}
    assert got == SEEDED, json.dumps(data["findings"], indent=1)
    assert code == 1 and data["exit_code"] == 1 and not data["ok"]
    missing = next(f for f in data["findings"] if f["code"] == "missing-import")
    assert "requests" in missing["message"] and missing["where"] == "src/mlsfix/model.py:4"
    gpu = next(f for f in data["findings"] if f["code"] == "gpu-driver")
    assert gpu["environment"] == "prod" and "580" in gpu["message"] and "cu128" in gpu["hint"]


def test_offline_check_from_warm_cache_gives_the_same_findings(
    seeded_project: Path, index_tree: Path
) -> None:
    server = IndexProcess(index_tree)  # our own server, so stopping it leaves the shared one alone
    config = seeded_project / "mlship.yaml"
    config.write_text(re.sub(r"index_url: .*", f"index_url: {server.url}", config.read_text()))
    try:
        _, online = run_check(seeded_project)
    finally:
        server.stop()  # nothing can be fetched now: only the cache answers
    code, offline = run_check(seeded_project, "--offline")
    assert code == 1
    assert offline["findings"] == online["findings"]
    assert offline["index"]["offline"] is True and offline["index"]["requests"] == 0
    assert online["index"]["requests"] > 0


def test_cold_offline_check_is_unknown_never_clean(seeded_project: Path) -> None:
    code, data = run_check(seeded_project, "--offline")
    unknown = {f["code"] for f in data["findings"] if f["status"] == "unknown"}
    assert {"index-unavailable", "advisories-unknown"} <= unknown
    assert all(f["severity"] == "warning" for f in data["findings"] if f["status"] == "unknown")
    assert "yanked" not in {f["code"] for f in data["findings"]}  # nothing was claimed about releases
    assert code == 1  # the import findings still stand


def test_unknown_fails_with_exit_3_when_the_policy_says_so(seeded_project: Path, tmp_path: Path) -> None:
    # Only the unknowns remain once the import problems are fixed and the other rules are off.
    policy = tmp_path / "org-policy.yaml"
    off = ["missing-import", "unused-requirement", "gpu-driver"]
    policy.write_text("on_unknown: fail\nseverity:\n" + "".join(f"  {c}: 'off'\n" for c in off))
    code, data = run_check(seeded_project, "--offline", "--policy", str(policy))
    assert data["policy"]["on_unknown"] == "fail"
    assert {f["status"] for f in data["findings"]} == {"unknown"}
    assert all(f["severity"] == "error" for f in data["findings"])
    assert code == 3


def test_example_project_locks_and_passes(example_project: Path) -> None:
    locked = run_mlship("lock", str(example_project), "--json", timeout=300)
    assert locked.returncode == 0, locked.stderr
    info = json.loads(locked.stdout)
    assert info["files"][0]["path"] == "requirements.lock"
    lock_text = (example_project / "requirements.lock").read_text()
    assert "joblib==1.4.2" in lock_text  # 1.5.0 is inside the 14-day window
    assert "numpy==2.1.3" in lock_text and "--hash=sha256:" in lock_text
    assert "pyarrow" not in lock_text  # an extra nobody asked for
    code, data = run_check(example_project)
    assert data["findings"] == [], json.dumps(data["findings"], indent=1)
    assert code == 0 and data["ok"]
    assert data["checked"]["pins"] == 10 and data["checked"]["imports"] == 4


def test_check_judges_wheels_for_the_glibc_of_the_base_build_chooses(example_project: Path) -> None:
    """bookworm (python:X.Y-slim) has glibc 2.36, a jammy-based CUDA base 2.35: a manylinux_2_36 wheel
    installs on the first only, and `check` (like `lock`) assumes the base `build` would choose."""
    from mlship.config import Environment
    from mlship.deps.target import wheel_fits
    from mlship.image.dockerfile import base_glibc
    from mlship.project import Project

    wheel = "fastpkg-1.0-cp311-cp311-manylinux_2_36_x86_64.whl"
    assert wheel_fits(wheel, "3.11", "linux_x86_64", 36) and not wheel_fits(wheel, "3.11", "linux_x86_64", 35)
    assert base_glibc(Project.load(example_project), [Environment()]) == 36
    _, data = run_check(example_project, "--offline")
    assert data["target"]["glibc"] == "2.36"
    config = example_project / "mlship.yaml"
    config.write_text(config.read_text() + "image:\n  base: nvidia/cuda:12.4.1-runtime-ubuntu22.04\n")
    assert base_glibc(Project.load(example_project), [Environment()]) == 35
    _, data = run_check(example_project, "--offline")
    assert data["target"]["glibc"] == "2.35"
