"""Read a notebook file: validate it, turn IPython syntax into plain Python, parse every code cell.

Every problem becomes an `InputError` naming the notebook and the cell (1-based, counting all cells).
"""

from __future__ import annotations

import ast
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlship.errors import InputError

# Line magics that only change the notebook's display or session: dropped without a word.
SESSION_MAGICS = {"matplotlib", "config", "load_ext", "reload_ext", "autoreload", "precision", "pylab"}
# Wrappers that time or capture a statement: the statement is kept, the wrapper dropped.
WRAPPER_LINE_MAGICS = {"time", "prun", "capture"}
WRAPPER_CELL_MAGICS = {"time", "capture", "prun"}
INSTALLERS = ("pip install", "conda install", "mamba install")


@dataclass
class Cell:
    index: int  # 1-based position among all cells, as the notebook shows them top to bottom
    kind: str  # code | markdown | raw
    source: str
    tags: list[str] = field(default_factory=list)
    execution_count: int | None = None
    code: str = ""  # plain Python after magics were translated (code cells only)
    tree: ast.Module | None = None
    requirements: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was dropped, for the plan's warnings

    @property
    def first_line(self) -> str:
        for line in self.source.splitlines():
            if line.strip():
                return line.strip()[:80]
        return ""


@dataclass
class Notebook:
    path: Path
    data: dict[str, Any]  # the notebook JSON as read (the project's copy is written from it)
    cells: list[Cell]

    @property
    def code_cells(self) -> list[Cell]:
        return [c for c in self.cells if c.kind == "code"]


def _fail(path: Path, message: str, hint: str | None = None) -> InputError:
    return InputError(f"{path}: {message}", hint=hint)


def _load_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise _fail(path, "no such notebook file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, f"cannot be read ({exc})") from None
    if not text.strip():
        raise _fail(path, "is empty (0 bytes of JSON)", "save the notebook from Jupyter and try again")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()) - 1 or "Unterminated" in exc.msg:
            raise _fail(
                path,
                f"is truncated: the JSON stops at line {exc.lineno} before the notebook ends",
                "the file was cut off while saving or copying; restore it from Jupyter's checkpoint or git",
            ) from None
        raise _fail(
            path,
            f"is not a notebook: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            "pass a .ipynb file saved by Jupyter",
        ) from None
    if not isinstance(data, dict):
        raise _fail(path, "is not a notebook: the JSON top level is not an object")
    major = data.get("nbformat")
    if major != 4:
        if isinstance(major, int) and major < 4 or "worksheets" in data:
            raise _fail(
                path,
                f"uses notebook format {major}, mlship reads format 4",
                f"convert it: jupyter nbconvert --to notebook --nbformat 4 {path.name}",
            )
        raise _fail(path, f"is not a notebook: nbformat is {major!r}, expected 4")
    if not isinstance(data.get("cells"), list):
        raise _fail(path, "is not a notebook: it has no list of cells")
    return data


def _source(raw: Any) -> str:
    return "".join(raw) if isinstance(raw, list) else str(raw or "")


def read_notebook(path: Path | str) -> Notebook:
    path = Path(path)
    data = _load_json(path)
    cells = []
    for number, raw in enumerate(data["cells"], start=1):
        if not isinstance(raw, dict) or "cell_type" not in raw:
            raise _fail(path, f"cell {number} is malformed (no cell_type)")
        meta = raw.get("metadata") or {}
        cell = Cell(
            index=number,
            kind=str(raw["cell_type"]),
            source=_source(raw.get("source")),
            tags=[str(t) for t in meta.get("tags", []) if isinstance(t, str)],
            execution_count=raw.get("execution_count"),
        )
        if cell.kind == "code":
            _prepare_code(path, cell)
        cells.append(cell)
    if not any(c.kind == "code" and c.code.strip() for c in cells):
        raise _fail(path, "has no code cells", "mlship converts the code of a notebook that trains a model")
    return Notebook(path=path, data=data, cells=cells)


def _prepare_code(path: Path, cell: Cell) -> None:
    cell.code = translate_magics(path, cell)
    try:
        cell.tree = ast.parse(cell.code)
    except SyntaxError as exc:
        line = (exc.text or "").strip()
        raise _fail(
            path,
            f"cell {cell.index}: syntax error on line {exc.lineno}: {exc.msg}"
            + (f": {line}" if line else ""),
            "fix the cell in Jupyter (it cannot have run as saved) and try again",
        ) from None


def _requirements(args: str) -> list[str]:
    try:
        words = shlex.split(args)
    except ValueError:
        words = args.split()
    reqs, skip_next = [], False
    for word in words:
        if skip_next:
            skip_next = False
        elif word in {"-r", "-c", "-e", "--index-url", "-i", "--extra-index-url", "--target", "-t"}:
            skip_next = True
        elif not word.startswith("-") and not word.startswith("$") and "{" not in word:
            reqs.append(word)
    return reqs


def translate_magics(path: Path, cell: Cell) -> str:
    """IPython syntax -> plain Python, line numbers kept (a dropped line becomes empty or `pass`)."""
    lines = cell.source.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        name = lines[first].strip()[2:].split()[0] if lines[first].strip()[2:] else ""
        if name not in WRAPPER_CELL_MAGICS and "skip" in cell.tags:
            cell.notes.append(f"%%{name} cell skipped (tagged `skip`)")
            return ""
        if name not in WRAPPER_CELL_MAGICS:
            raise _fail(
                path,
                f"cell {cell.index}: the cell magic %%{name} runs code that is not Python",
                "move that work out of the notebook, or tag the cell `skip` if the model does not need it",
            )
        cell.notes.append(f"%%{name} wrapper dropped (the cell's code is kept)")
        lines[first] = ""
    return "\n".join(_translate_line(cell, line) for line in _leading_indent(lines))


def _leading_indent(lines: list[str]) -> list[str]:
    """As IPython reads a cell: when its first line is indented, that indent is removed from every line
    that has it (` wine.feature_names` runs in Jupyter)."""
    first = next((line for line in lines if line.strip()), "")
    indent = first[: len(first) - len(first.lstrip())]
    if not indent:
        return lines
    return [line[len(indent) :] if line.startswith(indent) else line for line in lines]


# What `nbconvert --to script` writes for a magic: `get_ipython().run_line_magic('matplotlib', 'inline')`.
_EXPORTED_MAGIC = re.compile(r"^get_ipython\(\)\.(run_line_magic|system|getoutput)\((.*)\)\s*$")


def _exported_magic(stripped: str) -> str | None:
    """`get_ipython().system('ls x')` -> `!ls x`; `.run_line_magic('time', 'x')` -> `%time x`."""
    found = _EXPORTED_MAGIC.match(stripped)
    if not found:
        return None
    try:
        args = ast.literal_eval(f"({found.group(2)},)")
    except (ValueError, SyntaxError):
        return None
    if not all(isinstance(a, str) for a in args) or not args:
        return None
    if found.group(1) == "run_line_magic":
        return "%" + " ".join(a for a in args if a)
    return "!" + args[0]


def _translate_line(cell: Cell, line: str) -> str:
    stripped = line.lstrip()
    indent = line[: len(line) - len(stripped)]
    stripped = _exported_magic(stripped) or stripped
    blank = f"{indent}pass" if indent else ""
    bare = stripped.lstrip("%!")
    if stripped[:1] in {"%", "!"} and bare.startswith(INSTALLERS):
        cell.requirements += _requirements(bare.split("install", 1)[1])
        cell.notes.append(f"`{stripped}` becomes requirements.txt entries")
        return blank
    if stripped.startswith("!"):
        cell.notes.append(f"shell command `{stripped}` dropped: it runs only inside Jupyter")
        return blank
    if re.match(r"^[\w.,\s]+=\s*[!%]", stripped):
        cell.notes.append(f"shell capture `{stripped}` dropped: it runs only inside Jupyter")
        return blank
    if stripped.startswith("%"):
        name, _, rest = stripped[1:].partition(" ")
        if name in WRAPPER_LINE_MAGICS and rest.strip():
            cell.notes.append(f"%{name} wrapper dropped (the statement is kept)")
            return indent + rest.strip()
        if name not in SESSION_MAGICS:
            cell.notes.append(f"line magic `{stripped}` dropped")
        return blank
    if re.match(r"^[\w.]+\?{1,2}$", stripped) or re.match(r"^\?{1,2}[\w.]+$", stripped):
        return blank  # help lookups
    return line
