"""Statements the generated modules leave out, and why: hosted-notebook-only code, writes into the project.

Each check returns the plan warning's text (without the cell) or None when the statement is kept.
"""

from __future__ import annotations

import ast
from typing import Any

from mlship.notebook.assign import is_display
from mlship.notebook.flow import root_name
from mlship.notebook.read import Notebook

# Modules that exist only inside Google Colab or a Kaggle kernel.
HOSTED_MODULES = ("google.colab", "kaggle_secrets", "kaggle_datasets", "kaggle_web_client")
HOSTED_PATHS = ("/kaggle/", "/content/")
HOSTED_DIRS = {"/kaggle", "/content", "/kaggle/input", "../input", "/content/drive"}  # listed, not read
LISTINGS = {"listdir", "walk", "scandir", "glob"}
WRITE_METHODS = {"to_csv", "to_parquet", "to_excel", "to_json", "to_pickle", "to_feather", "to_hdf",
                 "to_stata", "savefig", "save_model", "write_image", "write_html"}  # fmt: skip
DUMPERS = {"joblib", "pickle", "dill", "cloudpickle", "np", "numpy", "torch"}
DUMP_CALLS = {"dump", "save", "savetxt", "savez", "savez_compressed"}
LEFT_OUT_STAGES = {"train", "evaluate", "predict", "postprocess"}


def hosted_module(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in HOSTED_MODULES)


def hosted_names(notebook: Notebook) -> set[str]:
    """Names bound by imports of Colab/Kaggle-only modules (`files`, `drive`, `google`)."""
    names: set[str] = set()
    for cell in notebook.code_cells:
        for node in ast.walk(cell.tree or ast.Module(body=[], type_ignores=[])):
            if isinstance(node, ast.Import):
                names |= {(a.asname or a.name).split(".")[0] for a in node.names if hosted_module(a.name)}
            elif isinstance(node, ast.ImportFrom) and hosted_module(node.module or ""):
                names |= {a.asname or a.name for a in node.names}
    return names


def _lists_host_dir(value: ast.expr) -> bool:
    """`print(os.listdir("../input"))`: a Kaggle kernel's listing of its input folder."""
    for node in ast.walk(value):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in LISTINGS:
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                path = first.value.rstrip("/")
                if path in HOSTED_DIRS or path.startswith(HOSTED_PATHS):
                    return True
    return False


def _hosted_loop(stmt: ast.For) -> bool:
    """`for dirname, _, filenames in os.walk('/kaggle/input'): print(...)`: a listing of the host's files."""
    paths = [n.value for n in ast.walk(stmt.iter) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    if not any(p.startswith(HOSTED_PATHS) or p in {"/kaggle", "/content"} for p in paths):
        return False
    for node in ast.walk(ast.Module(body=stmt.body, type_ignores=[])):
        printing = isinstance(node, ast.Call) and getattr(node.func, "id", "") == "print"
        os_call = isinstance(node, ast.Call) and root_name(node.func) == "os"
        if isinstance(node, ast.Call) and not (printing or os_call):
            return False
        if isinstance(node, ast.Assign | ast.AugAssign):
            return False
    return True


def hosted_only(stmt: ast.stmt, names: set[str]) -> str | None:
    """Colab/Kaggle-only: their imports, `files.upload()`, `drive.mount(...)`, listings of /kaggle/input."""
    text = ast.unparse(stmt).splitlines()[0][:80]
    if isinstance(stmt, ast.Import) and all(hosted_module(a.name) for a in stmt.names):
        return f"`{text}` left out: it works only in Colab or Kaggle"
    if isinstance(stmt, ast.ImportFrom) and hosted_module(stmt.module or ""):
        return f"`{text}` left out: it works only in Colab or Kaggle"
    if isinstance(stmt, ast.For) and _hosted_loop(stmt):
        return f"`{text}` left out: it lists files of a Kaggle or Colab machine"
    if isinstance(stmt, ast.Expr) and _lists_host_dir(stmt.value):
        return f"`{text}` left out: it lists files of a Kaggle or Colab machine"
    value = stmt.value if isinstance(stmt, ast.Expr | ast.Assign) else None
    if isinstance(value, ast.Call) and root_name(value.func) in names:
        return f"`{text}` left out: it works only in Colab or Kaggle"
    return None


def _written_path(call: ast.Call) -> str | None:
    """The file a call writes, or None when it is not a write (`df.to_csv()` without a path returns text)."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if isinstance(func, ast.Attribute) and name in WRITE_METHODS:
        target = call.args[0] if call.args else next((k.value for k in call.keywords), None)
    elif name in DUMP_CALLS and (isinstance(func, ast.Name) or root_name(func) in DUMPERS):
        # joblib.dump(obj, path), np.save(path, arr), torch.save(obj, path)
        position = 0 if root_name(func) in {"np", "numpy"} else 1
        target = call.args[position] if len(call.args) > position else None
    else:
        return None
    if target is None:
        return None
    if isinstance(target, ast.Constant) and isinstance(target.value, str):
        return target.value
    return ast.unparse(target)[:60]


def _opened_for_writing(stmt: ast.With) -> str | None:
    for item in stmt.items:
        call = item.context_expr
        if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "open" and call.args:
            mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords), None)
            if isinstance(mode, ast.Constant) and set(str(mode.value)) & set("wax"):
                target = call.args[0]
                return str(target.value) if isinstance(target, ast.Constant) else ast.unparse(target)[:60]
    return None


def left_out(stmt: ast.stmt, *, stage: str, cell: int, hosted: set[str]) -> str | None:
    """The plan warning for a statement the generated modules leave out; None when it is kept."""
    reason = hosted_only(stmt, hosted)
    if reason:
        return f"cell {cell}: {reason}"
    reason = file_write(stmt, stage)
    return f"cell {cell} {reason}" if reason else None


def file_write(stmt: ast.stmt, stage: str) -> str | None:
    """A training/scoring statement that writes a file into the working directory (the project root)."""
    if stage not in LEFT_OUT_STAGES:
        return None
    written = None
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        written = _written_path(stmt.value)
    elif isinstance(stmt, ast.With):
        written = _opened_for_writing(stmt)
    if written is None:
        return None
    return f"writes {written}: left out; mlship saves the model in artifacts/"


class _StripWrites(ast.NodeTransformer):
    """Nested statements that write files (a `joblib.dump` inside a loop) taken out of a block, and
    nested plots (`sns.heatmap(..., ax=axs[i][j])` in a loop over models), which draw nothing here."""

    def __init__(self, plots: frozenset[str]) -> None:
        self.removed: list[str] = []
        self.plots = plots

    def generic_visit(self, node: ast.AST) -> ast.AST:
        for block in ("body", "orelse", "finalbody"):
            stmts = getattr(node, block, None)
            if isinstance(stmts, list) and stmts and isinstance(stmts[0], ast.stmt):
                kept = []
                for stmt in stmts:
                    reason = file_write(stmt, "train")
                    if reason:
                        self.removed.append(reason)
                    elif not (self.plots and is_display(stmt, keep_print=True, plots=self.plots)):
                        kept.append(self.visit(stmt))
                setattr(node, block, kept or [ast.Pass()])
        for handler in getattr(node, "handlers", []):
            self.visit(handler)
        return node


def strip_writes(stmt: ast.stmt, plots: frozenset[str] = frozenset()) -> tuple[ast.stmt, list[str]]:
    """The statement without the file writes and plots nested in its blocks, and what each write wrote."""
    if not isinstance(stmt, ast.For | ast.AsyncFor | ast.While | ast.If | ast.With | ast.Try):
        return stmt, []
    import copy

    stripper = _StripWrites(plots)
    node = stripper.visit(copy.deepcopy(stmt))
    changed = ast.dump(node) != ast.dump(stmt)
    return (ast.fix_missing_locations(node), stripper.removed) if changed else (stmt, [])


def written_paths(notebook: Any) -> list[str]:
    """File paths (string literals) that the notebook's code writes: `to_csv`, `joblib.dump`, ..."""
    found: list[str] = []
    for cell in notebook.cells:
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        try:
            tree = ast.parse("".join(source) if isinstance(source, list) else source)
        except SyntaxError:
            continue  # magics: the kernel runs them, mlship need not read them here
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                written = _written_path(node)
                if written and isinstance(_target(node), ast.Constant):
                    found.append(written)
    return found


def _target(call: ast.Call) -> ast.AST | None:
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in WRITE_METHODS:
        return call.args[0] if call.args else next((k.value for k in call.keywords), None)
    position = 0 if root_name(func) in {"np", "numpy"} else 1
    return call.args[position] if len(call.args) > position else None


def verify_copy(notebook: Notebook, cells: dict[int, str]) -> dict[int, str]:
    """`cells` (cell -> the code verify runs instead) plus every cell with Colab/Kaggle-only statements,
    those blanked (`pass`, lines kept): the notebook's own run here, as the generated modules have it.
    Plots stay: a notebook whose plot fails under today's libraries is refused with the cell and the fix."""
    hosted = hosted_names(notebook)
    out = dict(cells)
    for cell in notebook.code_cells:
        found = [s for s in (cell.tree.body if cell.tree else []) if hosted_only(s, hosted)]
        if not found:
            continue
        lines = out.get(cell.index, cell.code).splitlines()
        for stmt in found:
            first, last = stmt.lineno - 1, (stmt.end_lineno or stmt.lineno) - 1
            lines[first : last + 1] = ["pass"] + [""] * (last - first)
        out[cell.index] = "\n".join(lines)
    return out
