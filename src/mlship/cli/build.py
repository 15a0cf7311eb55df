"""`mlship build`: the project's serving image, GPU-aware, through the docker engine."""

from __future__ import annotations

import re
import time
from collections import deque
from pathlib import Path

import typer
from rich.markup import escape

from mlship.cli._output import JSON_HELP, emit, quiet_mode, stderr, stdout


def build_command(
    directory: Path = typer.Argument(Path("."), help="The project directory."),
    env: str = typer.Option(None, "--env", "-e", help="Environment whose registry, gpu and driver apply."),
    tag: str = typer.Option(
        None, "--tag", "-t", help="Image reference (default [REGISTRY/]NAME:VERSION-MODEL)."
    ),
    platform: str = typer.Option(
        None, "--platform", help="linux/amd64 or linux/arm64 (default: the engine's)."
    ),
    gpu: bool = typer.Option(None, "--gpu/--no-gpu", help="Force a GPU (CUDA) or CPU image."),
    base: str = typer.Option(None, "--base", help="Base image (overrides image.base and MLSHIP_BASE_IMAGE)."),
    push: bool = typer.Option(False, "--push", help="Push the image to the environment's registry."),
    skip_check: bool = typer.Option(False, "--skip-check", help="Build even if `mlship check` fails."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Rebuild every layer."),
    locked: bool = typer.Option(
        False,
        "--locked",
        help="Refuse to build without a requirements.lock (CI); otherwise build locks first.",
    ),
    json_mode: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Build the serving image: locked wheels, runtime, model and code in cache-friendly layers."""
    from mlship.image.build import build_image

    with _Progress(json_mode) as on_line:
        result = build_image(
            directory=directory,
            env=env,
            tag=tag,
            platform=platform,
            gpu=gpu,
            base=base,
            push=push,
            skip_check=skip_check,
            nocache=no_cache,
            locking="require" if locked else "auto",
            on_line=on_line,
        )
    emit(result, json_mode=json_mode, render=_render)


class _Progress:
    """Step n of m and the elapsed time, with the last lines below it on a terminal; plain lines in CI."""

    def __init__(self, json_mode: bool):
        self.json_mode = json_mode
        self.quiet = quiet_mode(json_mode)
        self.tail: deque[str] = deque(maxlen=4)
        self.step = "Preparing"
        self.started = time.monotonic()
        self.live = None

    def __enter__(self):  # type: ignore[no-untyped-def]
        if not self.quiet:
            from rich.live import Live

            self.live = Live(self, console=stderr, refresh_per_second=4, transient=True)
            self.live.__enter__()
        return self.update

    def __exit__(self, *exc) -> None:  # type: ignore[no-untyped-def]
        if self.live is not None:
            self.live.__exit__(*exc)

    def update(self, line: str) -> None:
        if self.json_mode:
            return
        elapsed = time.monotonic() - self.started
        match = _STEP.match(line)
        if match:
            self.step = re.sub(r"\s*\(\d+\.\ds\)$", "", line)
        if self.live is None:
            plain = f"{line} ({elapsed:.1f}s)" if match and not line.endswith("s)") else line
            stderr.print(f"  {plain}", markup=False, highlight=False)
            return
        if not match:
            self.tail.append(line)

    def __rich__(self):  # type: ignore[no-untyped-def]
        from rich.console import Group
        from rich.text import Text

        elapsed = time.monotonic() - self.started
        head = Text(f"Building image: {self.step[:100]}  {elapsed:.0f}s elapsed", style="bold")
        return Group(head, *(Text(f"  {line[:120]}", style="dim", no_wrap=True) for line in self.tail))


# "[3/7] layer: dependencies (12.3s)" from mlship's layers; "Step 3/20 : RUN ..." from a Dockerfile build.
_STEP = re.compile(r"^(\[\d+/\d+\]|Step \d+/\d+ :)")


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)


def _render(r) -> None:  # type: ignore[no-untyped-def]
    gpu = r.gpu
    kind = f"GPU (CUDA {gpu['cuda']}, driver >= {gpu['min_driver']})" if gpu["gpu"] else "CPU"
    stderr.print(
        f"[green]Built[/] {escape(r.image)} in {r.seconds:.1f}s "
        f"({r.cached_steps}/{r.steps} {'layers' if r.builder == 'mlship-layers' else 'steps'} cached, "
        f"{r.builder})"
    )
    stderr.print(f"  base {escape(r.base['image'])} ({r.base['source']}), {r.platform}, {kind}")
    for note in r.notes:
        stderr.print(f"  note: {note}", markup=False)
    stderr.print(f"  size {_size(r.size)}, {len(r.layers)} layers; Dockerfile: {escape(r.dockerfile)}")
    stdout.print(r.image)
    stdout.print(f"id      {r.image_id}")
    if r.digest:
        stdout.print(f"digest  {r.digest}")
    stdout.print(f"size    {r.size}")
