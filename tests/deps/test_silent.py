"""Where `mlship check` used to stay silent: no lock, a requirement the index lacks, another project's lock,
calendar versions and upgrades the project cannot take, failed advisory lookups. All against the real
local index server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlship.deps.check import check

from ..support import free_port
from .conftest import write_lock
from .localindex import IndexProcess, build_tree
from .test_rules import codes, make_project

PACKAGES = [
    # Calendar versions: a "major" a year, never semver.
    {"name": "calpkg", "version": "2023.1.1", "days_ago": 300},
    {"name": "calpkg", "version": "2025.6.1", "days_ago": 60},
    # A newer major the project's own bound forbids, and one whose Requires-Python excludes 3.11.
    {"name": "boundpkg", "version": "1.0.0", "days_ago": 300},
    {"name": "boundpkg", "version": "3.0.0", "days_ago": 60},
    {"name": "pypkg", "version": "1.0.0", "days_ago": 300},
    {"name": "pypkg", "version": "3.0.0", "days_ago": 60, "requires_python": ">=3.13"},
    # The control: an old major nothing forbids upgrading.
    {"name": "semverpkg", "version": "1.0.0", "days_ago": 300},
    {"name": "semverpkg", "version": "3.0.0", "days_ago": 60},
    # Another project's lock: app requires lib; stray and other are required by nothing here.
    {"name": "app", "version": "1.0.0", "days_ago": 100, "requires": ["lib>=1"]},
    {"name": "lib", "version": "1.2.0", "days_ago": 100},
    {"name": "stray", "version": "0.3.0", "days_ago": 100},
    {"name": "other", "version": "4.1.0", "days_ago": 100},
]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tree(tmp_path_factory.mktemp("silent-index"), PACKAGES)


@pytest.fixture(scope="module")
def index(tree: Path) -> Iterator[IndexProcess]:
    server = IndexProcess(tree)
    yield server
    server.stop()


def test_without_a_lock_the_requirements_pins_are_checked_against_the_index(
    tmp_path: Path, local_index: IndexProcess
) -> None:
    root = make_project(
        tmp_path / "p",
        local_index.url,
        "pandas==9.9.9\nyaml~=0.2.4\nvulnpkg==1.0.0\nyankpkg==2.0.1\n",
        "import pandas\nimport yaml\nimport vulnpkg\nimport yankpkg\n",
    )
    result = check(directory=root)
    found = codes(result)
    assert ("lock-missing", None) in found
    assert ("not-on-index", "pandas") in found  # 9.9.9 was never released
    assert ("not-on-index", "yaml") in found  # no such project: PyYAML is what provides `yaml`
    assert ("vulnerability", "vulnpkg") in found and ("yanked", "yankpkg") in found
    by_code = {(f.code, f.package): f for f in result.findings}
    assert by_code[("not-on-index", "pandas")].where == "requirements.txt:1"
    assert local_index.url in by_code[("not-on-index", "yaml")].message
    # A requirement the index lacks provides no import.
    missing = [f for f in result.findings if f.code == "missing-import"]
    assert [f.message.split("`")[1] for f in missing] == ["yaml"]
    assert result.exit_code == 1


def test_calendar_versions_and_forbidden_upgrades_are_not_stale_majors(
    tmp_path: Path, tree: Path, index
) -> None:
    requirements = "calpkg==2023.1.1\nboundpkg<2,>=1\npypkg==1.0.0\nsemverpkg==1.0.0\n"
    root = make_project(
        tmp_path / "p",
        index.url,
        requirements,
        "import calpkg\nimport boundpkg\nimport pypkg\nimport semverpkg\n",
    )
    write_lock(
        root, tree, {"calpkg": "2023.1.1", "boundpkg": "1.0.0", "pypkg": "1.0.0", "semverpkg": "1.0.0"}
    )
    stale = {f.package for f in check(directory=root).findings if f.code == "stale-major"}
    assert stale == {"semverpkg"}


def test_a_lock_of_another_project_is_flagged(tmp_path: Path, tree: Path, index) -> None:
    root = make_project(tmp_path / "p", index.url, "app>=1\n", "import app\n")
    lock = write_lock(root, tree, {"app": "1.0.0", "lib": "1.2.0", "stray": "0.3.0", "other": "4.1.0"})
    lock.write_text("\n".join(lock.read_text().splitlines()[1:]) + "\n")  # its header removed
    found = [f for f in check(directory=root).findings if f.code == "lock-unrequired"]
    assert len(found) == 1 and "2 of 4 pins" in found[0].message and "other, stray" in found[0].message
    # The same pins, each required: nothing to say.
    ok = make_project(
        tmp_path / "q", index.url, "app>=1\nstray\nother\n", "import app\nimport stray\nimport other\n"
    )
    write_lock(ok, tree, {"app": "1.0.0", "lib": "1.2.0", "stray": "0.3.0", "other": "4.1.0"})
    (ok / "requirements.lock").write_text(
        "\n".join((ok / "requirements.lock").read_text().splitlines()[1:]) + "\n"
    )
    assert "lock-unrequired" not in {f.code for f in check(directory=ok).findings}


def test_failed_advisory_lookups_are_counted_and_cached_briefly(
    tmp_path: Path, tree: Path, index, monkeypatch: pytest.MonkeyPatch
) -> None:
    advisories = f"http://127.0.0.1:{free_port()}/pypi/{{name}}/{{version}}/json"
    root = make_project(
        tmp_path / "p",
        index.url,
        "app>=1\n",
        "import app\n",
        extra_config="",
    )
    config = root / "mlship.yaml"
    config.write_text(config.read_text() + f"  advisory_url: {advisories}\n")
    write_lock(root, tree, {"app": "1.0.0", "lib": "1.2.0"})
    first = check(directory=root)
    assert first.index["failed_requests"] == 2  # one advisory lookup per pin, both refused
    assert first.index["requests"] >= 2 + 2  # the two pages answered, the two lookups made
    assert ("advisories-unknown", None) in codes(first)
    warm = check(directory=root)
    assert warm.index["requests"] == 0 and warm.index["failed_requests"] == 0
    assert ("advisories-unknown", None) in codes(warm)  # still unknown, and said so
    monkeypatch.setenv("MLSHIP_INDEX_ERROR_TTL", "0")  # the failure is old: ask again
    again = check(directory=root)
    assert again.index["failed_requests"] == 2
    data = json.loads(json.dumps(again.index))
    assert set(data) >= {"requests", "failed_requests", "cache_hits"}


def test_the_requirements_files_index_url_is_used_and_named_when_unreachable(
    tmp_path: Path, tree: Path, index
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/simple"
    root = make_project(tmp_path / "p", index.url, f"--index-url {dead}\napp>=1\n", "import app\n")
    write_lock(root, tree, {"app": "1.0.0", "lib": "1.2.0"})
    result = check(directory=root)
    assert result.index["url"] == dead
    unknown = [f for f in result.findings if f.code == "index-unavailable"]
    assert len(unknown) == 1 and dead in unknown[0].message
    # The command line still wins over the file.
    assert check(directory=root, index_url=index.url).index["url"] == index.url
