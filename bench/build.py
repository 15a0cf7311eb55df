"""Benchmark `mlship build` against a plain single-stage Dockerfile of the same project, in one run.

Measures, on the real docker engine: cold build (no cache), code-only rebuild, artifact-only rebuild
(a retrain), image size and its ratio to the floor (base + the installed runtime files without
test suites or packaging tools + artifacts + code, measured inside the baseline image), and the
bytes of layers that change (what a redeploy pushes).

The baseline is what most projects write: `COPY . /app` then `pip install` in the image. The build
has no network here, so the baseline installs `--no-index` from the same wheelhouse mlship prepared
(copied into its context) -- the install work is the same, only the layer order and content differ.

Usage: python bench/build.py [--base IMAGE] [--keep]
Images are named mlship-t6-bench-* and removed at the end unless --keep; nothing else is removed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PREFIX = "mlship-t6-bench"

BASELINE = """\
FROM {base}
WORKDIR /app
COPY . /app
RUN python3 -m venv /opt/venv \\
    && /opt/venv/bin/pip install --no-index --no-cache-dir --find-links /app/wheelhouse \\
       -r /app/requirements.txt starlette uvicorn
ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/app/runtime PORT=8080
EXPOSE 8080
CMD ["python", "-m", "mlship.serving", "--spec", "/app/runtime.json"]
"""


def mb(n: float) -> str:
    return f"{n / 1e3:.1f} kB" if n < 1e6 else f"{n / 1e6:.1f} MB"


def changed_bytes(client: Any, before: str, after: str) -> int:
    """Bytes of the layers `after` has and `before` has not: what a redeploy pushes and pulls.

    Compared by layer diff id (the same layer is the same bytes, whoever built it), with the sizes
    from the history's non-empty entries.
    """
    old = set(client.api.inspect_image(before)["RootFS"]["Layers"])
    layers = client.api.inspect_image(after)["RootFS"]["Layers"]
    # Oldest first; metadata steps have size 0 (a layer of 0 bytes would count as 0 either way).
    nonempty = [h["Size"] for h in reversed(client.api.history(after)) if h["Size"]]
    nonempty = ([0] * len(layers) + nonempty)[-len(layers) :]
    return sum(size for layer, size in zip(layers, nonempty, strict=True) if layer not in old)


FLOOR = r"""
import os
skip = {"tests", "test", "pip", "setuptools", "wheel", "_distutils_hack", "pkg_resources"}
total = 0
for top in ("/opt/venv", "/app/artifacts", "/app/src", "/app/runtime", "/app/runtime.json"):
    if os.path.isfile(top):
        total += os.lstat(top).st_size
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d not in skip and not d.startswith(("pip-", "setuptools-", "wheel-"))]
        total += sum(os.lstat(os.path.join(root, f)).st_size for f in files)
print(total)
"""


def floor_bytes(client: Any, baseline_image: str, base: str) -> int:
    """Base + what the baseline installed that serving needs (no tests, no pip/setuptools/wheel)."""
    out = client.containers.run(baseline_image, ["python", "-c", FLOOR], remove=True, network_disabled=True)
    return int(client.api.inspect_image(base)["Size"]) + int(out.decode().strip())


def progress(rows: dict[str, dict[str, float]], key: str, label: str) -> None:
    print(f"{label}: mlship {rows['mlship'][key]:.1f}s, baseline {rows['baseline'][key]:.1f}s", flush=True)


def timed(fn, *args, **kwargs) -> tuple[float, Any]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - started, out


def baseline_context(project: Path, mlship_context: Path, dest: Path) -> Path:
    """The project as a user would send it (COPY .), plus the wheelhouse and the serving package."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(project, dest, ignore=shutil.ignore_patterns(".mlship", "__pycache__"))
    wheels = dest / "wheelhouse"
    wheels.mkdir()
    for wheel in (mlship_context / "wheels").rglob("*.whl"):
        shutil.copy2(wheel, wheels / wheel.name)
    shutil.copytree(mlship_context / "runtime", dest / "runtime")
    spec = (mlship_context / "model" / "runtime.json").read_text()
    (dest / "runtime.json").write_text(spec)
    (dest / "Dockerfile").write_text(BASELINE.format(base=os.environ["MLSHIP_BASE_IMAGE"]))
    return dest


def build_baseline(client: Any, context: Path, tag: str, nocache: bool = False) -> None:
    for event in client.api.build(
        path=str(context), tag=tag, rm=True, forcerm=True, decode=True, network_mode="none", nocache=nocache
    ):
        if "error" in event:
            raise RuntimeError(event["error"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=os.environ.get("MLSHIP_BASE_IMAGE", "mlship-base:bookworm"))
    parser.add_argument("--keep", action="store_true", help="keep the images")
    args = parser.parse_args()
    os.environ["MLSHIP_BASE_IMAGE"] = args.base

    from mlship.engine import docker_client
    from mlship.image.build import build_image
    from mlship.project import Project
    from mlship.scaffold import init_project
    from mlship.stages import train

    client = docker_client(timeout=3600)
    work = Path(tempfile.mkdtemp(prefix="mlship-bench-"))
    os.environ.setdefault("MLSHIP_WHEELHOUSE", str(work / "wheelhouse"))
    tags: list[str] = []

    def tag(name: str) -> str:
        tags.append(f"{PREFIX}-{name}")
        return tags[-1]

    try:
        project = work / "demo"
        init_project(directory=project, name="demo", no_input=True)
        train(Project.load(project))
        print(f"project: the example (templates/project), base {args.base}", flush=True)

        def mlship(name: str, nocache: bool = False) -> tuple[float, Any]:
            return timed(build_image, directory=project, tag=tag(name), skip_check=True, nocache=nocache)

        rows: dict[str, dict[str, float]] = {"mlship": {}, "baseline": {}}
        # Warm the wheelhouse first (a download, not a build) so both sides start from the same wheels.
        t_wheels, _ = mlship("warm")
        print(f"wheelhouse + first build (not counted): {t_wheels:.1f}s", flush=True)
        # Cold means the engine holds none of the image's own layers either: drop the warm-up image.
        client.images.remove(tags[-1], force=True)

        rows["mlship"]["cold"], cold = mlship("cold", nocache=True)
        print(f"mlship cold build ({cold.builder}): {rows['mlship']['cold']:.1f}s", flush=True)
        ctx = Path(cold.context)
        base_ctx = baseline_context(project, ctx, work / "baseline")
        rows["baseline"]["cold"], _ = timed(build_baseline, client, base_ctx, tag("base-cold"), nocache=True)
        print(f"baseline cold build: {rows['baseline']['cold']:.1f}s", flush=True)

        predict_py = next(project.glob("src/*/predict.py"))
        predict_py.write_text(predict_py.read_text() + "\n# code-only change\n")
        rows["mlship"]["code"], _ = mlship("code")
        base_ctx = baseline_context(project, ctx, work / "baseline")
        rows["baseline"]["code"], _ = timed(build_baseline, client, base_ctx, tag("base-code"))
        progress(rows, "code", "code-only rebuild")

        config = project / "mlship.yaml"
        config.write_text(config.read_text().replace("seed: 42", "seed: 7"))
        train(Project.load(project))
        rows["mlship"]["model"], model = mlship("model")
        base_ctx = baseline_context(project, Path(model.context), work / "baseline")
        rows["baseline"]["model"], _ = timed(build_baseline, client, base_ctx, tag("base-model"))
        progress(rows, "model", "artifact-only rebuild")

        m, b = f"{PREFIX}-", f"{PREFIX}-base-"
        sizes = {
            "mlship": client.api.inspect_image(f"{m}model")["Size"],
            "baseline": client.api.inspect_image(f"{b}model")["Size"],
        }
        floor = floor_bytes(client, f"{b}model", args.base)
        pushed = {
            "mlship": (
                changed_bytes(client, f"{m}cold", f"{m}code"),
                changed_bytes(client, f"{m}code", f"{m}model"),
            ),
            "baseline": (
                changed_bytes(client, f"{b}cold", f"{b}code"),
                changed_bytes(client, f"{b}code", f"{b}model"),
            ),
        }
        print()
        print(f"{'':28}{'mlship':>14}{'baseline':>14}{'ratio':>10}")
        for key, label in (
            ("cold", "cold build (no cache)"),
            ("code", "code-only rebuild"),
            ("model", "artifact-only rebuild"),
        ):
            mv, bv = rows["mlship"][key], rows["baseline"][key]
            print(f"{label:28}{mv:>13.1f}s{bv:>13.1f}s{bv / mv:>9.1f}x")
        print(
            f"{'image size':28}{mb(sizes['mlship']):>14}{mb(sizes['baseline']):>14}"
            f"{sizes['baseline'] / sizes['mlship']:>9.2f}x"
        )
        ratio = sizes["mlship"] / floor
        print(f"{'floor (base+runtime files)':28}{mb(floor):>14}{'':14}{ratio:>9.2f}x  (mlship / floor)")
        for i, label in enumerate(("new layers after code change", "new layers after retrain")):
            mv, bv = pushed["mlship"][i], pushed["baseline"][i]
            print(f"{label:28}{mb(mv):>14}{mb(bv):>14}{bv / max(mv, 1):>9.0f}x")
        print("\nratio = baseline / mlship (higher is better for mlship).")
    finally:
        if not args.keep:
            for ref in reversed(tags):
                with contextlib.suppress(Exception):
                    client.images.remove(ref, force=True)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
