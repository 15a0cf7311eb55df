"""The build context without an engine: lock parsing, secret refusal, the normalized tar, the Dockerfile,
and the errors `mlship build` gives before it reaches docker."""

from __future__ import annotations

import re
import shutil
import tarfile
from pathlib import Path

import pytest

from mlship.errors import BuildError, InputError, UsageError
from mlship.image import context as ctx
from mlship.image.build import default_tag, image_runtime_spec
from mlship.image.dockerfile import BaseChoice, label_value, render
from mlship.image.gpu import plan_gpu
from mlship.image.requirements import build_lock, parse_lock
from mlship.image.wheelhouse import WheelTarget
from mlship.project import Project

LOCK = """\
# written by mlship lock
--index-url https://pypi.org/simple
numpy==2.1.0 \\
    --hash=sha256:aaa \\
    --hash=sha256:bbb
pandas==2.2.0 --hash=sha256:ccc  # pinned
tzdata==2024.1 ; sys_platform == "win32"
"""


def test_lock_lines_hashes_and_options() -> None:
    lock = parse_lock(LOCK)
    assert [r.text for r in lock.requirements] == [
        "numpy==2.1.0",
        "pandas==2.2.0",
        'tzdata==2024.1 ; sys_platform == "win32"',
    ]
    assert lock.requirements[0].hashes == ("sha256:aaa", "sha256:bbb") and lock.hashed
    assert lock.options == ["--index-url", "https://pypi.org/simple"]
    assert lock.requirements[1].line() == "pandas==2.2.0 --hash=sha256:ccc"
    assert lock.requirements[2].name == "tzdata" and lock.requirements[2].version == "2024.1"
    with pytest.raises(InputError):
        parse_lock("-r other.txt\n")


def test_build_installs_the_lock_of_the_platform_it_builds(tmp_path: Path) -> None:
    """One lock vocabulary: `build --platform linux/arm64` takes requirements.linux_aarch64.lock (what
    `mlship lock` writes for it), linux/amd64 requirements.lock; a missing platform lock is refused
    rather than installing another platform's pins; no lock at all falls back to requirements.txt."""
    from mlship.scaffold import init_project

    init_project(directory=tmp_path / "p", name="p", no_input=True)
    root = tmp_path / "p"
    project = Project.load(root)
    assert build_lock(project, "linux/arm64").path == root / "requirements.txt"
    (root / "requirements.lock").write_text("pandas==2.2.0\n")
    assert build_lock(project, "linux/amd64").requirements[0].version == "2.2.0"
    with pytest.raises(UsageError, match="no lock for linux_aarch64"):
        build_lock(project, "linux/arm64")
    config = root / "mlship.yaml"
    config.write_text(config.read_text() + "policy:\n  platforms: [linux_x86_64, linux_aarch64]\n")
    (root / "requirements.linux_aarch64.lock").write_text("pandas==2.2.3\n")
    project = Project.load(root)
    assert build_lock(project, "linux/arm64").requirements[0].version == "2.2.3"
    assert build_lock(project, "linux_aarch64").path == root / "requirements.linux_aarch64.lock"
    assert build_lock(project, "linux/amd64").requirements[0].version == "2.2.0"


@pytest.mark.parametrize(
    "rel",
    [
        ".env",
        "conf/.env.production",
        "keys/server.pem",
        "deploy/id_ed25519",
        ".aws/config",
        "gcp/service-account-prod.json",
        "pkg/credentials.json",
        ".netrc",
        ".kube/config",
    ],
)
def test_secret_files_are_refused_by_name(tmp_path: Path, rel: str) -> None:
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "model.py").write_text("x = 1\n")
    (src / rel).parent.mkdir(parents=True, exist_ok=True)
    (src / rel).write_text("secret\n")
    with pytest.raises(InputError) as err:
        ctx.refuse_secrets({"src": (src, ())}, tmp_path)
    assert f"src/{rel}" in err.value.message
    ctx.refuse_secrets({"src": (src, (Path(rel).name,))}, tmp_path)  # image.exclude lets it be left out


def test_secret_content_is_refused_whatever_the_name(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "notes.txt").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n")
    (tmp_path / "a" / "cfg.py").write_text('KEY = "AKIAABCDEFGHIJKLMNOP"\n')
    (tmp_path / "a" / ".env.example").write_text("TOKEN=\n")
    with pytest.raises(InputError) as err:
        ctx.refuse_secrets({"artifacts": (tmp_path / "a", ())}, tmp_path)
    assert "a/notes.txt" in err.value.message and "a/cfg.py" in err.value.message
    assert ".env.example" not in err.value.message and "2 file(s)" in err.value.message


def test_context_tar_has_fixed_owners_modes_and_times(tmp_path: Path) -> None:
    root = tmp_path / "c"
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.py").write_text("print(1)\n")
    (root / "src" / "run.sh").write_text("#!/bin/sh\n")
    (root / "src" / "run.sh").chmod(0o775)
    first, second = tmp_path / "1.tar", tmp_path / "2.tar"
    with first.open("w+b") as out:
        ctx.tar_context(root, out, mtime=315532800)
    (root / "src" / "a.py").touch()  # a newer mtime, the same content
    with second.open("w+b") as out:
        ctx.tar_context(root, out, mtime=315532800)
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["src/run.sh"].mode == 0o755 and members["src/a.py"].mode == 0o644
    assert {(m.uid, m.gid, m.mtime) for m in members.values()} == {(0, 0, 315532800)}


def test_walk_leaves_out_caches_and_excluded_patterns(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pkg" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"x")
    (tmp_path / "pkg" / "m.py").write_text("")
    (tmp_path / "pkg" / "explore.ipynb").write_text("{}")
    names = [p.relative_to(tmp_path).as_posix() for p in ctx.walk(tmp_path, ["*.ipynb"])]
    assert names == ["pkg/m.py"]


def test_serving_runtime_is_only_the_serving_package(tmp_path: Path) -> None:
    package = tmp_path / "mlship"
    for rel in ("__init__.py", "cli/build.py", "serving/__init__.py", "serving/pipeline.py", "engine.py"):
        (package / rel).parent.mkdir(parents=True, exist_ok=True)
        (package / rel).write_text("")
    with pytest.raises(BuildError) as err:  # no `python -m mlship.serving`: the image could never start
        ctx.serving_package_files(package)
    assert "__main__.py" in err.value.message
    (package / "serving" / "__main__.py").write_text("")
    rels = sorted(rel for _, rel in ctx.serving_package_files(package))
    assert rels == [
        "mlship/__init__.py",
        "mlship/serving/__init__.py",
        "mlship/serving/__main__.py",
        "mlship/serving/pipeline.py",
    ]


def _render(**overrides):  # type: ignore[no-untyped-def]
    args = dict(
        name="demo",
        version="0.1.0",
        python="3.11",
        base=BaseChoice("mlship-base:bookworm", "MLSHIP_BASE_IMAGE", 36),
        plan=plan_gpu([]),
        port=8080,
        mtime=315532800,
        system_packages=[],
        has_deps=True,
        has_runtime_wheels=True,
        labels={"io.mlship.model-sha256": "abc", "org.opencontainers.image.description": 'say "hi" $HOME'},
    )
    args.update(overrides)
    return render(**args)


def test_dockerfile_orders_layers_for_the_cache() -> None:
    text = _render()
    final = text[text.rindex("\nFROM ") :]
    order = [
        "COPY --from=deps /opt/venv /opt/venv",
        "COPY --from=runtime /opt/mlship-runtime/ /opt/venv/lib/python3.11/site-packages/",
        "COPY model/ /app/",
        "COPY src/ /app/src/",
        "LABEL ",
    ]
    positions = [final.index(step) for step in order]
    assert positions == sorted(positions)
    assert "--no-index" in text and "USER 10001:10001" in text and "EXPOSE 8080" in text
    assert "HEALTHCHECK" in text and "/readyz" in text
    assert 'CMD ["python", "-m", "mlship.serving", "--spec", "/app/runtime.json"' in text
    assert 'org.opencontainers.image.description="say \\"hi\\" \\$HOME"' in text
    assert "apt-get" not in text  # no system packages asked for: no network in the build


def test_dockerfile_system_packages_and_gpu_env() -> None:
    gpu = plan_gpu(parse_lock("torch==2.5.1").requirements, flag=True)
    text = _render(system_packages=["libgomp1"], plan=gpu)
    assert "apt-get install -y --no-install-recommends \\\n        libgomp1" in text
    assert "NVIDIA_VISIBLE_DEVICES=all" in text and "NVIDIA_REQUIRE_CUDA=cuda>=12.0" in text
    assert label_value("a\nb") == '"a b"'


def test_target_pip_args_cover_the_base_glibc() -> None:
    args = WheelTarget("linux/arm64", "3.12", glibc=31).pip_args()
    platforms = [args[i + 1] for i, a in enumerate(args) if a == "--platform"]
    assert platforms[0] == "manylinux_2_31_aarch64" and "manylinux_2_17_aarch64" in platforms
    assert "manylinux2014_aarch64" in platforms and "manylinux_2_32_aarch64" not in platforms
    assert args[args.index("--abi") + 1] == "cp312" and "--only-binary=:all:" in args


def test_push_needs_a_registry_in_the_reference() -> None:
    from mlship.image.build import names_registry

    assert names_registry("127.0.0.1:5000/demo:1") and names_registry("localhost/demo")
    assert names_registry("ghcr.io/acme/demo:1") and names_registry("localhost:5000/demo")
    assert not names_registry("demo:1") and not names_registry("acme/demo:1")


def test_default_tag_names_the_model() -> None:
    assert default_tag("demo", "0.1.0", "abcdef0123456789", "") == "demo:0.1.0-abcdef012345"
    assert default_tag("demo", "1.0", "ff" * 32, "127.0.0.1:5000/") == f"127.0.0.1:5000/demo:1.0-{'f' * 12}"


def test_runtime_spec_paths_are_inside_the_image(trained: Path) -> None:
    spec = image_runtime_spec(Project.load(trained))
    assert spec["source_dir"] == "/app/src" and spec["artifact_dir"] == "/app/artifacts"
    assert spec["extra"]["logging"]["path"] == "/app/logs/predictions"
    assert spec["extra"]["serving"]["port"] == 8080 and "price" in spec["extra"]["contract_schema"]
    assert re.fullmatch(r"[0-9a-f]{64}", spec["model_sha256"])


def test_build_refuses_secrets_before_docker(trained: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    project = tmp_path / "p"
    shutil.copytree(trained, project)
    (project / "src" / ".env").write_text("TOKEN=1\n")
    code, _, err = cli("build", str(project), "--skip-check")
    assert code == 2 and "src/.env" in err


def test_build_without_engine_exits_3(trained: Path, monkeypatch: pytest.MonkeyPatch, cli) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")
    code, _, err = cli("build", str(trained), "--skip-check", "--json")
    assert code == 3 and "docker engine" in err


def test_build_needs_a_trained_model_and_a_consistent_gpu_request(trained: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("build", str(trained), "--gpu", "--skip-check")
    assert code == 2 and "no GPU framework" in err
    project = tmp_path / "p"
    shutil.copytree(trained, project)
    shutil.rmtree(project / "artifacts")
    code, _, err = cli("build", str(project), "--skip-check")
    assert code == 2 and "mlship train" in err


def _git_package(root: Path, name: str) -> str:
    """A pure-Python package in a real local git repository; returns the locked `name @ git+file://...@commit`."""
    import subprocess

    (root / "src" / name).mkdir(parents=True)
    (root / "src" / name / "__init__.py").write_text("VALUE = 1\n")
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "{name}"\nversion = "0.3.0"\n'
    )
    git = ["git", "-C", str(root), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git[:3], "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "v0.3.0"], check=True)
    commit = subprocess.run([*git[:3], "rev-parse", "HEAD"], check=True, capture_output=True, text=True)
    return f"{name} @ git+file://{root}@{commit.stdout.strip()}"


def test_a_git_pin_in_the_lock_becomes_a_wheel_once_and_stays_out_of_hash_mode(tmp_path: Path) -> None:
    from mlship.image.wheelhouse import build_direct, is_direct

    line = _git_package(tmp_path / "repo", "tinygitpkg")
    lock = parse_lock(f"pandas==2.2.0 --hash=sha256:ccc\n{line}\n")
    direct = [r for r in lock.requirements if is_direct(r)]
    assert [r.name for r in direct] == ["tinygitpkg"] and not is_direct(lock.requirements[0])
    target, cache = WheelTarget("linux/amd64", "3.11"), tmp_path / "cache"
    (dest := tmp_path / "deps").mkdir()
    (wheel,) = build_direct(direct, dest=dest, cache=cache, target=target)
    assert wheel.name == "tinygitpkg-0.3.0-py3-none-any.whl" and wheel.parent == dest
    shutil.rmtree(tmp_path / "repo")  # the second build needs neither the repository nor pip
    (again := tmp_path / "deps2").mkdir()
    assert [w.name for w in build_direct(direct, dest=again, cache=cache, target=target)] == [wheel.name]
    gone = parse_lock("othergitpkg @ git+file:///nonexistent/repo@0123456789abcdef\n").requirements
    with pytest.raises(BuildError, match="othergitpkg"):
        build_direct(gone, dest=again, cache=cache, target=target)
