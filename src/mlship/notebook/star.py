"""`from x import *` made explicit: the module is imported while planning, and the import lists only
the public names of it that the notebook reads and does not bind itself.
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

from mlship.errors import InputError
from mlship.notebook.read import Cell, Notebook


def _is_star(node: ast.AST) -> bool:
    return isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)


def _free_names(notebook: Notebook) -> set[str]:
    """Names the notebook reads that none of its cells binds. Builtins count: a star import shadows them
    (`from numpy import *` makes `sum` numpy's), so an explicit import must keep doing so."""
    read: set[str] = set()
    bound: set[str] = set()
    for cell in notebook.code_cells:
        for node in ast.walk(cell.tree or ast.Module(body=[], type_ignores=[])):
            if isinstance(node, ast.Name):
                (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
            elif isinstance(node, ast.arg):
                bound.add(node.arg)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                bound.add(node.name)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                bound |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
    return read - bound


def _public_names(path: Path, cell: Cell, node: ast.ImportFrom) -> set[str]:
    module_name = "." * node.level + (node.module or "")
    directory = str(path.resolve().parent)
    before = set(sys.modules)
    sys.path.insert(0, directory)  # a helper module next to the notebook, as Jupyter finds it
    try:
        if node.level:
            raise ImportError("a relative import has no package outside the notebook")
        module = importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:
        raise InputError(
            f"{path}: cell {cell.index}: `from {module_name} import *` (line {node.lineno}): the module "
            f"{module_name} cannot be imported to see which names it gives ({type(exc).__name__}: {exc})",
            hint=f"install {module_name} or put it next to the notebook, or import the names you need: "
            f"`from {module_name} import name1, name2`",
        ) from None
    finally:
        sys.path.remove(directory)
        for name in set(sys.modules) - before:  # the notebook's own modules do not stay in mlship's process
            if str(getattr(sys.modules[name], "__file__", None) or "").startswith(directory):
                del sys.modules[name]
    exported = getattr(module, "__all__", None)
    if exported is not None:
        return {str(n) for n in exported}
    return {n for n in dir(module) if not n.startswith("_")}


class _DropEmpty(ast.NodeTransformer):
    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        return node if node.names else ast.copy_location(ast.Pass(), node)


def resolve_star_imports(notebook: Notebook) -> None:
    """Rewrite each `from x import *` in the parsed cells into `from x import a, b` (a note per cell)."""
    stars = [
        (cell, node)
        for cell in notebook.code_cells
        for node in ast.walk(cell.tree or ast.Module(body=[], type_ignores=[]))
        if _is_star(node)
    ]
    if not stars:
        return
    free = _free_names(notebook)
    for cell, node in stars:
        assert isinstance(node, ast.ImportFrom)
        used = sorted(free & _public_names(notebook.path, cell, node))
        free -= set(used)
        node.names = [ast.alias(name=name) for name in used]
        if used:
            cell.notes.append(
                f"`from {node.module} import *` becomes `from {node.module} import {', '.join(used)}`"
            )
        else:
            cell.notes.append(f"`from {node.module} import *` dropped: the notebook uses none of its names")
    for cell in {id(c): c for c, _ in stars}.values():
        assert cell.tree is not None
        cell.tree.body = [s for s in cell.tree.body if not (isinstance(s, ast.ImportFrom) and not s.names)]
        _DropEmpty().visit(cell.tree)
