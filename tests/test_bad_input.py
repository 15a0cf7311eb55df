"""Bad input a real user produces, through the real CLI: one clear message, a documented exit code,
no traceback, a clean (or valid JSON) stdout, and nothing of the user's lost.

Each case is one `python -m mlship` subprocess over a shared workspace of broken projects and files
(built once from the trained example). Every case here once failed: exit 70, a wrong exit code, a
message that pointed elsewhere, or stdout that was not JSON under --json.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support import run_mlship


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]  # {name} is a path in the workspace
    code: int
    says: str  # a fragment of the message on stderr
    keep: str | None = None  # a workspace file that must come out byte for byte as it went in


def _copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".mlship", "logs", "__pycache__"))
    return dest


def _set_entrypoint(project: Path, old: str, new: str) -> None:
    config = project / "mlship.yaml"
    config.write_text(config.read_text().replace(old, new))


@pytest.fixture(scope="session")
def workspace(trained_template_project, tmp_path_factory) -> Path:
    """Broken projects and files next to the (never changed) trained example."""
    root = tmp_path_factory.mktemp("bad")
    trained = trained_template_project
    pkg = "demand"
    (root / "notes.txt").write_text("just some notes\n")
    (root / "empty.csv").write_bytes(b"")
    (root / "binary.csv").write_bytes(b"\x00\xff\xfe\x01garbage\x00")
    (root / "a-dir").mkdir()
    (root / "policy.yaml").write_text("min_age_days: [unclosed\n")
    shutil.copy(trained / "data" / "train.csv", root / "train.csv")

    metrics = _copy(trained, root / "bad-metrics")
    with (metrics / "src" / pkg / "train.py").open("a") as handle:
        handle.write(
            "\n\ndef odd_metrics(data_path, artifact_dir, params):\n"
            "    (__import__('pathlib').Path(artifact_dir) / 'model.txt').write_text('m')\n"
            "    return {'model': object()}\n"
        )
    _set_entrypoint(metrics, f"{pkg}.train:main", f"{pkg}.train:odd_metrics")

    chatty = _copy(trained, root / "chatty")  # prints at import: stdout must still be JSON only
    for module in ("preprocess", "predict"):
        with (chatty / "src" / pkg / f"{module}.py").open("a") as handle:
            handle.write("\nprint('hello from the project')\n")

    badlock = _copy(trained, root / "bad-lock")
    (badlock / "requirements.lock").write_bytes(b"pandas==2.2.0 \xff\xfe\x00\n")

    (root / "yaml-dir" / "mlship.yaml").mkdir(parents=True)
    return root


@pytest.fixture(scope="session")
def web_server() -> Iterator[str]:
    """A web server that is not a model service (no POST /predict): a wrong --against URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


CASES = {
    # a directory without mlship.yaml / a file instead of a directory / a mlship.yaml that is not a file
    "config-missing-dir": Case(("config", "{root}/nowhere"), 2, "does not exist"),
    "config-on-mlship-yaml": Case(("config", "{trained}/mlship.yaml"), 2, "pass the directory that holds it"),
    "config-yaml-is-dir": Case(("config", "{root}/yaml-dir"), 2, "is a directory, not a file"),
    "init-under-a-file": Case(
        ("init", "{root}/notes.txt/demo", "--no-input"), 2, "is a file, not a directory"
    ),
    # training data and what the project's train returns
    "train-empty-data": Case(("train", "{trained}", "--data", "{root}/empty.csv"), 2, "is empty"),
    "train-binary-data": Case(("train", "{trained}", "--data", "{root}/binary.csv"), 2, "binary data"),
    "train-data-is-dir": Case(("train", "{trained}", "--data", "{root}/a-dir"), 2, "is a directory"),
    "train-odd-metrics": Case(("train", "{root}/bad-metrics"), 2, "not numbers or strings"),
    # predict's --output
    "predict-output-under-file": Case(
        ("predict", "{trained}", "-i", "{root}/train.csv", "-o", "{root}/notes.txt/out.csv"),
        2,
        "is a file, not a directory",
    ),
    "predict-output-is-dir": Case(
        ("predict", "{trained}", "-i", "{root}/train.csv", "-o", "{root}/a-dir", "--force"),
        2,
        "is a directory",
    ),
    "predict-output-is-input": Case(
        ("predict", "{trained}", "-i", "{root}/train.csv", "-o", "{root}/train.csv", "--force"),
        2,
        "is the --input file",
        keep="train.csv",
    ),
    # --json: the project's prints at import go to stderr, the result alone to stdout
    "predict-json-chatty-project": Case(
        ("predict", "{root}/chatty", "-i", "{root}/train.csv", "-o", "{root}/chatty-out.csv", "--json"),
        0,
        "hello from the project",
    ),
    # other files mlship writes where the user says
    "test-junit-is-dir": Case(("test", "{trained}", "--junit", "{root}/a-dir"), 2, "is a directory"),
    "test-junit-under-file": Case(
        ("test", "{trained}", "-k", "examples", "--junit", "{root}/notes.txt/r.xml"), 2, "is a file"
    ),
    "monitor-report-under-file": Case(
        ("monitor", "{trained}", "--log", "{root}/notes.txt", "--report", "{root}/notes.txt/r.html"),
        2,
        "is a file, not a directory",
    ),
    "monitor-log-not-a-log": Case(
        ("monitor", "{trained}", "--log", "{root}/notes.txt"), 2, "prediction log entry"
    ),
    "test-against-not-a-service": Case(
        ("test", "{trained}", "-k", "examples", "--against", "{web}"), 2, "is not a prediction service"
    ),
    # dependencies
    "lock-unknown-platform": Case(("lock", "{trained}", "--platform", "windows"), 2, "unknown --platform"),
    "lock-index-not-url": Case(("lock", "{trained}", "--index-url", "pypi"), 2, "not an http(s) URL"),
    "check-index-not-url": Case(("check", "{trained}", "--index-url", "pypi"), 2, "not an http(s) URL"),
    "check-binary-lock": Case(("check", "{root}/bad-lock", "--offline", "--json"), 2, "not UTF-8 text"),
    "check-policy-bad-yaml": Case(
        ("check", "{trained}", "--offline", "--policy", "{root}/policy.yaml"),
        2,
        "policy.yaml:2: not valid YAML",
    ),
    # options checked before any work (no engine needed for these)
    "serve-bad-log-level": Case(("serve", "{trained}", "--log-level", "loud"), 2, "is not a log level"),
    "build-bad-tag": Case(("build", "{trained}", "--tag", "My Model:1"), 2, "not a valid image reference"),
    "build-bad-platform": Case(
        ("build", "{trained}", "--platform", "linux/sparc"), 2, "unsupported --platform"
    ),
    "deploy-bad-image": Case(("deploy", "dev", "{trained}", "--image", "Demand!"), 2, "not a valid image"),
}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name, workspace, trained_template_project, web_server):
    case = CASES[name]
    paths = {"root": workspace, "trained": trained_template_project, "web": web_server}
    args = [a.format(**paths) for a in case.args]
    kept = workspace / case.keep if case.keep else None
    before = _digest(kept) if kept else None

    proc = run_mlship(*args, timeout=120, env={**os.environ, "CI": "true"})

    assert proc.returncode == case.code, proc.stderr
    assert "Traceback" not in proc.stderr and "unexpected error" not in proc.stderr, proc.stderr
    assert case.says in proc.stderr, proc.stderr
    if "--json" in args and (case.code == 0 or proc.stdout.strip()):
        json.loads(proc.stdout)  # stdout holds the result as JSON and nothing else
    elif case.code != 0:
        assert proc.stdout.strip() == "", proc.stdout
    if kept:
        assert _digest(kept) == before, f"{case.keep} was changed"
