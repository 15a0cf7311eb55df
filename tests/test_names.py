"""One meaning per name: the names that once meant different things in different modules are
defined once in src/ (the lesser meanings were renamed), so a reader never mistakes one for another."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "mlship"
ONCE = ("ImageInfo", "split_ref", "read_lock", "CheckResult", "Context", "Target", "check_examples")


def test_names_that_collided_are_defined_once():
    where: dict[str, list[str]] = defaultdict(list)
    for path in SRC.rglob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name in ONCE:
                where[node.name].append(str(path.relative_to(SRC)))
    assert {name: paths for name, paths in where.items() if len(paths) > 1} == {}


def test_one_module_is_called_serve_outside_the_cli():
    """`mlship serve`'s core (serve.py) and its command (cli/serve.py); the runtime is `serving/`."""
    found = sorted(str(p.relative_to(SRC)) for p in SRC.rglob("serve.py"))
    assert found == ["cli/serve.py", "serve.py"]
