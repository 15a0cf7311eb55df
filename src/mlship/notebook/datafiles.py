"""`init --from`: each file the notebook reads -> a file on disk, its name in the project's data/, and
the notebook copy's read calls pointing at ../data/ so the copy runs from the project."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from mlship.errors import InputError
from mlship.notebook.paths import DataFile, basename

ROLES = {"train": "training data", "predict": "new records to score"}


def find_file(notebook: Path, literal: str, extra: list[Path]) -> Path | None:
    """By name from --data, then the path as written (next to the notebook, then from cwd), then the
    file of that name next to the notebook (a Kaggle or Colab path)."""
    name = basename(literal)
    candidates = [p for p in extra if p.name == name]
    candidates += [notebook.parent / literal, Path(literal), notebook.parent / name]
    return next((c.resolve() for c in candidates if c.is_file()), None)


def describe(reads: list[DataFile]) -> str:
    return ", ".join(f"{r.path or r.expr} (cell {r.cell}, {r.key})" for r in reads) or "none"


def check_extra(notebook: Path, reads: list[DataFile], extra: list[Path]) -> None:
    """--data is never ignored: each file must be one the notebook reads (matched by name)."""
    names = {r.name for r in reads if r.name}
    for path in extra:
        if path.name not in names:
            raise InputError(
                f"--data {path}: {notebook} reads no file named {path.name!r}",
                hint=f"the notebook reads: {describe(reads)}",
            )


def map_files(
    notebook: Path, reads: list[DataFile], extra: list[Path], known: dict[str, Path], warnings: list[str]
) -> dict[str, Path]:
    """`known` (train/predict, resolved by the caller) plus every other read found on disk, by key.

    A read that is not found stays out with a warning: train and serve do not need it.
    """
    files = dict(known)
    for read in reads:
        if read.key in files:
            read.file = str(files[read.key])
            continue
        found = find_file(notebook, read.path, extra) if read.path else None
        if found is None:
            what = f"{read.path!r}" if read.path else f"a path mlship cannot resolve ({read.expr})"
            warnings.append(
                f"cell {read.cell}: `{read.var or read.expr}` reads {what}, not found; the notebook copy "
                "keeps its path (pass --data to include it in the project)"
            )
            continue
        files[read.key] = found
        read.file = str(found)
    return files


def project_names(files: dict[str, Path], names: dict[str, str]) -> dict[str, str]:
    """File names under data/ for the other reads, next to `names` (train/predict); a name taken by a
    different file gets the key as a suffix."""
    out = dict(names)
    taken = {name: files.get(key) for key, name in names.items()}
    for key, path in files.items():
        if key in out:
            continue
        name = path.name
        if name in taken and taken[name] != path:
            name = f"{path.stem}-{key}{path.suffix}"
        taken[name] = path
        out[key] = name
    return out


def rewrite_cell(text: str, cell: int, reads: list[DataFile], names: dict[str, str]) -> str:
    """The read calls' path arguments in one cell of the copy -> '../data/<file>'; then every other
    occurrence of a mapped path literal (a constant assigned in another cell)."""
    mine = [r for r in reads if r.cell == cell and r.key in names and r.span]
    lines = text.splitlines(keepends=True)
    for read in sorted(mine, key=lambda r: r.span or (0, 0, 0, 0), reverse=True):
        lines = _replace_span(lines, read, f"../data/{names[read.key]}")
    text = "".join(lines)
    for read in reads:
        if read.path and read.key in names:
            text = _replace_literal(text, read.path, f"../data/{names[read.key]}")
    return text


def _replace_literal(text: str, literal: str, target: str) -> str:
    def quoted(match: re.Match[str]) -> str:
        return f"{match.group(1)}{target}{match.group(1)}"

    return re.sub(r"([\"'])" + re.escape(literal) + r"\1", quoted, text)


def _replace_span(lines: list[str], read: DataFile, target: str) -> list[str]:
    assert read.span is not None
    line, col, end_line, end_col = read.span
    if end_line > len(lines):
        return lines
    raw = [x.encode() for x in lines[line - 1 : end_line]]  # ast offsets are UTF-8 bytes
    segment = b"".join(raw)[col : len(b"".join(raw[:-1])) + end_col].decode(errors="replace")
    try:
        written = ast.parse(segment.strip(), mode="eval").body
    except SyntaxError:
        return lines  # the cell's text differs from what was parsed (a magic on that line)
    if ast.unparse(written) != read.expr:
        return lines
    quote = (
        segment.rstrip()[-1] if isinstance(written, ast.Constant) and segment.rstrip()[-1] in "'\"" else "'"
    )
    whole = b"".join(raw)
    new = whole[:col] + f"{quote}{target}{quote}".encode() + whole[len(b"".join(raw[:-1])) + end_col :]
    return [*lines[: line - 1], new.decode(), *lines[end_line:]]
