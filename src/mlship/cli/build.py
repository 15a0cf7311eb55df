"""`mlship build`: the project's serving image, GPU-aware, through the docker engine."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import typer
from rich.markup import escape

from mlship.cli import app
from mlship.cli._output import JSON_HELP, emit, quiet_mode, stderr, stdout


@app.command("build")
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
            on_line=on_line,
        )
    emit(result, json_mode=json_mode, render=_render)


class _Progress:
    """The engine's build output: a live tail of the last lines on a terminal, plain lines in CI."""

    def __init__(self, json_mode: bool):
        self.json_mode = json_mode
        self.quiet = quiet_mode(json_mode)
        self.tail: deque[str] = deque(maxlen=8)
        self.live = None

    def __enter__(self):  # type: ignore[no-untyped-def]
        if not self.quiet:
            from rich.live import Live

            self.live = Live(self._view(), console=stderr, refresh_per_second=8, transient=True)
            self.live.__enter__()
        return self.update

    def __exit__(self, *exc) -> None:  # type: ignore[no-untyped-def]
        if self.live is not None:
            self.live.__exit__(*exc)

    def update(self, line: str) -> None:
        if self.json_mode:
            return
        if self.live is None:
            stderr.print(f"  {line}", markup=False, highlight=False)
            return
        self.tail.append(line)
        self.live.update(self._view())

    def _view(self):  # type: ignore[no-untyped-def]
        from rich.console import Group
        from rich.spinner import Spinner
        from rich.text import Text

        lines = [Text(f"  {line[:150]}", style="dim") for line in self.tail]
        return Group(Spinner("dots", text="Building image"), *lines)


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
        f"({r.cached_steps}/{r.steps} steps cached, {r.builder})"
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
