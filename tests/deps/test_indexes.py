"""requirements.txt's --extra-index-url lines, searched as pip searches them, and requirements that come
from elsewhere than an index (git URLs): against two real local index servers and a closed port."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlship.deps.check import check

from ..support import free_port, run_mlship
from .localindex import IndexProcess, build_tree
from .test_rules import codes, make_project

MAIN = [
    {"name": "semverpkg", "version": "1.0.0", "days_ago": 300},
    {"name": "app", "version": "1.0.0", "days_ago": 100},
]
# A private index: a package only it has (yanked there), and a newer major of one the main index has.
EXTRA = [
    {"name": "privpkg", "version": "1.0.0", "days_ago": 100, "yanked": "bad build"},
    {"name": "semverpkg", "version": "3.0.0", "days_ago": 60},
]
CODE = "import semverpkg\nimport privpkg\nimport app\n"


@pytest.fixture(scope="module")
def main_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexProcess]:
    server = IndexProcess(build_tree(tmp_path_factory.mktemp("main-index"), MAIN))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def extra_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexProcess]:
    server = IndexProcess(build_tree(tmp_path_factory.mktemp("extra-index"), EXTRA))
    yield server
    server.stop()


PINS = "semverpkg==1.0.0\nprivpkg==1.0.0\napp==1.0.0\n"


def test_packages_are_looked_up_across_the_main_and_extra_indexes(
    tmp_path: Path, main_index: IndexProcess, extra_index: IndexProcess
) -> None:
    root = make_project(tmp_path / "p", main_index.url, f"--extra-index-url {extra_index.url}\n" + PINS, CODE)
    result = check(directory=root)
    found = codes(result)
    assert ("not-on-index", "privpkg") not in found
    assert ("yanked", "privpkg") in found  # the extra index's files were checked
    assert ("stale-major", "semverpkg") in found  # 3.0.0 is only on the extra index: the pages merge
    assert result.index["url"] == main_index.url and result.index["extra_urls"] == [extra_index.url]
    assert not [f for f in result.findings if f.code == "index-unavailable"]
    # The control: the main index alone has no privpkg and no newer semverpkg; the message names it.
    alone = make_project(tmp_path / "q", main_index.url, PINS, CODE)
    plain = check(directory=alone)
    assert ("not-on-index", "privpkg") in codes(plain)
    assert ("stale-major", "semverpkg") not in codes(plain)
    missing = next(f for f in plain.findings if f.code == "not-on-index")
    assert main_index.url in missing.message


def test_an_unreachable_extra_index_is_named_and_its_packages_are_unknown(
    tmp_path: Path, main_index: IndexProcess
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/simple"
    root = make_project(
        tmp_path / "p",
        main_index.url,
        f"--extra-index-url={dead}\n" + PINS,
        CODE,
    )
    result = check(directory=root)
    unknown = [f for f in result.findings if f.code == "index-unavailable"]
    assert unknown and all(dead in f.message and f.status == "unknown" for f in unknown)
    assert not any(main_index.url + " " in f.message for f in unknown)  # the main index answered
    # privpkg may be on the index that did not answer: unknown, not "not on the index".
    assert ("not-on-index", "privpkg") not in codes(result)
    assert any("privpkg" in f.message for f in unknown)
    # What the main index has is still checked, and the missing extra is said for it too.
    assert any("semverpkg" in f.message and "app" in f.message for f in unknown)
    assert result.index["extra_urls"] == [dead] and result.index["failed_requests"] >= 3


def test_a_git_requirement_comes_from_its_url_not_the_index(tmp_path: Path, main_index: IndexProcess) -> None:
    from mlship.deps.requirements import read_requirements

    root = make_project(
        tmp_path / "p",
        main_index.url,
        "app==1.0.0\nx @ git+https://127.0.0.1:9/x.git\ngit+https://127.0.0.1:9/org/tool.git@v1#egg=mytool\n"
        "git+https://127.0.0.1:9/org/other-lib.git@main\n",
        "import app\nimport x\nimport mytool\nimport other_lib\n",
    )
    declared = read_requirements(root / "requirements.txt")
    assert sorted(declared.names()) == ["app", "mytool", "other-lib", "x"]
    found = codes(check(directory=root))
    assert not {c for c in found if c[0] == "not-on-index"}  # no index lookup for URL requirements
    assert not {c for c in found if c[0] == "missing-import"}


def test_a_git_requirement_whose_host_is_unreachable_is_exit_3_naming_the_host(
    tmp_path: Path, main_index: IndexProcess
) -> None:
    for line in ("git+https://127.0.0.1:9/x.git", "x @ git+https://127.0.0.1:9/x.git"):
        root = make_project(tmp_path / f"p{len(line)}", main_index.url, f"app==1.0.0\n{line}\n", "import x\n")
        # Through the real entry point, as a user or CI runs it.
        proc = run_mlship("lock", str(root), timeout=120, env={**os.environ, "UV_HTTP_RETRIES": "0"})
        assert proc.returncode == 3, proc.stderr
        errors = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
        assert len(errors) == 1, proc.stderr  # one message
        first = errors[0]
        assert "git host 127.0.0.1:9 could not be reached" in first
        assert not (root / "requirements.lock").exists()


def test_lock_names_the_index_that_did_not_answer(tmp_path: Path, main_index: IndexProcess) -> None:
    dead = f"http://127.0.0.1:{free_port()}/simple"
    for n, line in enumerate((f"--index-url {dead}", f"--extra-index-url {dead}")):
        root = make_project(tmp_path / f"p{n}", main_index.url, f"{line}\napp==1.0.0\n", "import app\n")
        if n == 0:  # requirements.txt's own index replaces policy.index_url
            config = root / "mlship.yaml"
            config.write_text(config.read_text().replace(f"policy:\n  index_url: {main_index.url}\n", ""))
        proc = run_mlship("lock", str(root), timeout=120, env={**os.environ, "UV_HTTP_RETRIES": "0"})
        assert proc.returncode == 3, proc.stderr
        first = next(x for x in proc.stderr.splitlines() if x.startswith("error:"))
        assert first == f"error: the package index {dead} could not be reached", proc.stderr


@pytest.mark.parametrize(
    "body",
    [b"<html>not json</html>", b'{"files": 3}', b'{"files": [{"url": "a.whl"}]}', b"[1, 2]"],
    ids=["not-json", "files-not-a-list", "file-without-filename", "not-an-object"],
)
def test_a_bad_index_page_is_the_index_unavailable_not_a_crash(body: bytes, tmp_path: Path) -> None:
    """An index (or a proxy in front of it) that answers PEP 691 JSON that is not a project page: the
    package is 'index unavailable' for the checks, never a KeyError/ValueError (exit 70)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from mlship.deps.index import IndexClient, IndexUnavailable

    class Bad(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Bad)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        client = IndexClient(f"http://127.0.0.1:{httpd.server_address[1]}/simple", cache_dir=tmp_path)
        with pytest.raises(IndexUnavailable, match="/simple/demo/"):
            client.project("demo")
    finally:
        httpd.shutdown()
        httpd.server_close()
