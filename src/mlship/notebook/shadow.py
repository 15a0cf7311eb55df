"""Variables that reuse a module's name (`xgb = xgb.XGBClassifier()`): renamed in the generated code.

In a notebook the assignment just rebinds the name; moved into a function it makes the name local, so
reading the module on its right-hand side raises UnboundLocalError. The variable gets its own name
(`xgb_model`) from that statement on, and the plan says so.
"""

from __future__ import annotations

import ast

from mlship.notebook.stmts import Stmt, apply_rewrite, fresh


class _Rename(ast.NodeTransformer):
    def __init__(self, renames: dict[str, str], *, stores_only: bool = False):
        self.renames = renames
        self.stores_only = stores_only

    def visit_Name(self, node: ast.Name) -> ast.AST:
        new = self.renames.get(node.id)
        if new and (not self.stores_only or isinstance(node.ctx, ast.Store)):
            return ast.copy_location(ast.Name(id=new, ctx=node.ctx), node)
        return node


def _shadowed(node: ast.stmt, modules: set[str]) -> list[str]:
    """Module names the statement assigns while its value reads the same module."""
    if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
        return []
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    bound = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name) and n.id in modules}
    read = {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
    return sorted(bound & read)


def rename_shadowed(
    body: list[tuple[str, Stmt]], modules: set[str], taken: set[str], warnings: list[str]
) -> list[tuple[str, Stmt]]:
    renames: dict[str, str] = {}
    renamed: list[tuple[str, Stmt]] = []
    for stage, stmt in body:
        if renames:
            stmt = apply_rewrite(stmt, _Rename(renames))
        names = [n for n in _shadowed(stmt.node, modules) if n not in renames]
        if names:
            new = {name: fresh(f"{name}_model", taken) for name in names}
            stmt = apply_rewrite(stmt, _Rename(new, stores_only=True))
            renames |= new
            for name, variable in new.items():
                warnings.append(
                    f"cell {stmt.cell}: `{name}` names the imported module and then a variable assigned from "
                    f"it; the variable is `{variable}` in the generated code (inside a function the old name "
                    "would shadow the module)"
                )
        renamed.append((stage, stmt))
    return renamed
