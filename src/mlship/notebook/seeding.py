"""Randomness the notebook left unseeded, seeded: one model per training run, the same every run.

A `RandomForestClassifier()` without `random_state`, a `train_test_split` or a shuffling `KFold` without
one, fits a different model every time the notebook runs, so no check can tell a correct service from a
wrong one, and a retrain in CI cannot reproduce what was reviewed. The evidence run seeds each one as it
is made (`mlship.notebook.probe_runner`) and says which; here the same `random_state=` keyword is written
into the calls, in the generated modules and in the copy of the notebook that `mlship verify` runs, so
all three train the same model.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from mlship.notebook.evidence import Evidence, node_key, stmt_key
from mlship.notebook.read import Notebook
from mlship.notebook.stmts import Stmt

KEYWORD = "random_state"
SPLITTERS = {"train_test_split"}


def _name(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def seeded_calls(cell: int, node: ast.AST, evidence: Evidence) -> list[ast.Call]:
    """The calls in `node` (a statement of `cell`) the evidence run had to seed."""
    found = []
    splits = stmt_key_of(cell, node) in evidence.seeded_splits if isinstance(node, ast.stmt) else False
    for sub in ast.walk(node):
        if not isinstance(sub, ast.Call) or any(k.arg == KEYWORD for k in sub.keywords):
            continue
        if node_key(cell, sub) in evidence.seeded or (splits and _name(sub) in SPLITTERS):
            found.append(sub)
    return found


def stmt_key_of(cell: int, node: ast.stmt) -> str:
    return stmt_key(Stmt(node, "", cell))


def splice(code: str, calls: Iterable[ast.Call], seed: int, first_line: int = 1) -> str:
    """`code` with `random_state=seed` added to each call (positions counted from `first_line`)."""
    lines = code.splitlines(keepends=True)
    # Last first, so the positions of the earlier ones still hold.
    for call in sorted(calls, key=lambda c: (c.end_lineno, c.end_col_offset), reverse=True):
        row = (call.end_lineno or call.lineno) - first_line
        raw = lines[row].encode()
        paren = (call.end_col_offset or 1) - 1  # byte offset of the closing parenthesis
        head = "".join(lines[:row]) + raw[:paren].decode()
        sep = "" if head.rstrip().endswith(("(", ",")) else ", "
        lines[row] = raw[:paren].decode() + f"{sep}{KEYWORD}={seed}" + raw[paren:].decode()
    return "".join(lines)


def seed_statement(stmt: Stmt, evidence: Evidence, seed: int) -> list[ast.Call]:
    """Add the keyword to the statement's node and to the text the module shows; returns the calls."""
    calls = seeded_calls(stmt.cell, stmt.node, evidence)
    if not calls:
        return []
    text_lines = stmt.text.splitlines()
    first = (stmt.node.end_lineno or stmt.node.lineno) - len(text_lines) + 1
    spliced = splice(stmt.text, calls, seed, first_line=first)
    for call in calls:
        call.keywords.append(ast.keyword(arg=KEYWORD, value=ast.Constant(seed)))
    try:
        same = ast.dump(ast.parse(spliced).body[-1]) == ast.dump(stmt.node)
    except SyntaxError:
        same = False
    # The statement's own text where the splice reads back as the node; else the node's code.
    stmt.text = spliced if same else ast.unparse(stmt.node)
    return calls


def seed_body(body: Iterable[Stmt], evidence: Evidence, seed: int) -> list[tuple[int, str]]:
    """Seed every statement of `body` the run seeded; (cell, call as written) for the plan's warning."""
    done: list[tuple[int, str]] = []
    for stmt in body:
        for call in seed_statement(stmt, evidence, seed):
            shown = ast.unparse(call).replace(f", {KEYWORD}={seed}", "").replace(f"{KEYWORD}={seed}", "")
            done.append((stmt.cell, shown))
    return done


def seeded_cells(notebook: Notebook, evidence: Evidence, seed: int) -> dict[int, str]:
    """Cell index -> its code with the seeds in: what `mlship verify` runs in place of those cells."""
    out: dict[int, str] = {}
    for cell in notebook.code_cells:
        if cell.tree is None:
            continue
        calls = [c for stmt in cell.tree.body for c in seeded_calls(cell.index, stmt, evidence)]
        if calls:
            out[cell.index] = splice(cell.code, calls, seed)
    return out


def warning(done: list[tuple[int, str]], seed: int) -> str:
    where = "; ".join(f"cell {cell}: `{text[:60]}`" for cell, text in done[:4])
    more = f" and {len(done) - 4} more" if len(done) > 4 else ""
    return (
        f"{where}{more} had no random_state, so its randomness (where its settings use any) was not "
        "fixed and a run could train a different model: mlship seeds "
        f"{'it' if len(done) == 1 else 'them'} ({KEYWORD}={seed}) in training and in verify's run of the "
        "notebook, so both train the same model (set it in the notebook to choose another seed)"
    )
