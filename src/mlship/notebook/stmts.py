"""Notebook statements as the generated modules show them: own text (comments kept) unless rewritten."""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass

from mlship.notebook.read import Cell, Notebook


@dataclass
class Stmt:
    node: ast.stmt
    text: str  # what the generated module shows: the cell's own text (with comments) unless rewritten
    cell: int


def stmt_text(cell: Cell, stmt: ast.stmt, previous_end: int) -> str:
    """The statement's own lines plus the comment lines right above it."""
    lines = cell.code.splitlines()
    start = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
    first = start - 1
    while first - 1 >= previous_end and lines[first - 1].strip().startswith("#"):
        first -= 1
    return "\n".join(lines[first : stmt.end_lineno or start])


def _leading_comments(text: str) -> str:
    kept = []
    for line in text.splitlines():
        if not line.strip().startswith("#"):
            break
        kept.append(line.strip())
    return "\n".join(kept)


def apply_rewrite(stmt: Stmt, rewriter: ast.NodeTransformer) -> Stmt:
    before = ast.dump(stmt.node)
    node = rewriter.visit(copy.deepcopy(stmt.node))
    ast.fix_missing_locations(node)
    if ast.dump(node) == before:
        return Stmt(node, stmt.text, stmt.cell)
    comments = _leading_comments(stmt.text)
    return Stmt(node, (comments + "\n" if comments else "") + ast.unparse(node), stmt.cell)


def all_names(notebook: Notebook) -> set[str]:
    names: set[str] = set()
    for cell in notebook.code_cells:
        for node in ast.walk(cell.tree or ast.Module(body=[], type_ignores=[])):
            if isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.FunctionDef | ast.ClassDef):
                names.add(node.name)
    return names


def fresh(base: str, taken: set[str]) -> str:
    name = base
    while name in taken:
        name += "_"
    taken.add(name)
    return name
