"""Static data flow of notebook code (ast): which names a statement reads, assigns or mutates.

A name is *written* when it is assigned, or when the object it names is changed in place: a method
call that mutates (`df.dropna(inplace=True)`, `model.fit(...)`, `items.append(...)`), a subscript or
attribute assignment (`df["x"] = ...`), `+=`, or `del df["x"]`.
"""

from __future__ import annotations

import ast
import builtins
import symtable
from collections.abc import Iterable
from dataclasses import dataclass

# Methods that change their receiver (pandas, numpy, sklearn, builtins).
MUTATORS = {
    "fit", "partial_fit", "fit_transform", "fit_predict", "set_params",
    "append", "extend", "insert", "remove", "pop", "popitem", "clear", "update", "setdefault",
    "sort", "reverse", "add", "discard", "shuffle", "set_axis",
}  # fmt: skip
READERS = {"read_csv", "read_parquet", "read_json", "read_excel", "read_table", "read_feather", "read_pickle"}
BUILTINS = set(dir(builtins)) | {"__file__", "__name__", "display", "get_ipython"}


def root_name(node: ast.AST) -> str | None:
    """`df` for `df`, `df["a"]`, `df.a.b`, `df.loc[0, "a"]`."""
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _scoped_names(node: ast.AST) -> set[str]:
    """Names bound inside lambdas and comprehensions of a statement (local to those scopes)."""
    bound: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Lambda):
            bound |= {a.arg for a in sub.args.args + sub.args.kwonlyargs}
        elif isinstance(sub, ast.comprehension):
            bound |= {n.id for n in ast.walk(sub.target) if isinstance(n, ast.Name)}
    return bound


def _is_true(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


@dataclass
class Access:
    reads: set[str]
    assigns: set[str]  # bound by assignment, for, with, import
    mutates: set[str]  # changed in place

    @property
    def writes(self) -> set[str]:
        return self.assigns | self.mutates


_ACCESS: dict[int, tuple[ast.AST, Access]] = {}


def access(node: ast.AST) -> Access:
    """What one statement reads, assigns and mutates (an over-approximation where unsure)."""
    # Planning asks about the same statements many times; nodes are not changed once parsed.
    cached = _ACCESS.get(id(node))
    if cached is not None and cached[0] is node:
        return cached[1]
    result = _access(node)
    if len(_ACCESS) > 100_000:
        _ACCESS.clear()
    _ACCESS[id(node)] = (node, result)
    return result


def _access(node: ast.AST) -> Access:
    scoped = _scoped_names(node)
    reads, assigns, mutates = set(), set(), set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            if isinstance(sub.ctx, ast.Load):
                reads.add(sub.id)
            elif isinstance(sub.ctx, ast.Store | ast.Del):
                assigns.add(sub.id)
        elif isinstance(sub, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete):
            targets = sub.targets if isinstance(sub, ast.Assign | ast.Delete) else [sub.target]
            for target in targets:
                for elt in target.elts if isinstance(target, ast.Tuple | ast.List) else [target]:
                    if isinstance(elt, ast.Attribute | ast.Subscript) and (name := root_name(elt)):
                        mutates.add(name)
            if isinstance(sub, ast.AugAssign) and isinstance(sub.target, ast.Name):
                reads.add(sub.target.id)
        elif isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute):
            inplace = any(k.arg == "inplace" and _is_true(k.value) for k in sub.keywords)
            if (inplace or sub.func.attr in MUTATORS) and (name := root_name(sub.func.value)):
                mutates.add(name)
        elif isinstance(sub, ast.Import | ast.ImportFrom):
            assigns |= {(a.asname or a.name).split(".")[0] for a in sub.names}
        elif isinstance(sub, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
            assigns.add(sub.name)
    # A loop's own target is bound before its body reads it: not a read of an earlier value.
    loop_bound = {
        n.id
        for sub in ast.walk(node)
        if isinstance(sub, ast.For | ast.AsyncFor)
        for n in ast.walk(sub.target)
        if isinstance(n, ast.Name)
        and not any(isinstance(r, ast.Name) and r.id == n.id for r in ast.walk(sub.iter))
    }
    return Access(reads - scoped - loop_bound, assigns - scoped, mutates - scoped)


def stage_io(statements: Iterable[ast.stmt], known: set[str]) -> tuple[list[str], set[str]]:
    """Inputs (in order of first read) that come from `known`, and every name the statements write.

    A name read before the stage itself assigns it is an input; mutating it does not make it local.
    """
    inputs: list[str] = []
    local: set[str] = set()
    written: set[str] = set()
    for stmt in statements:
        acc = access(stmt)
        for name in sorted(acc.reads, key=lambda n: _first_pos(stmt, n)):
            if name not in local and name in known and name not in inputs:
                inputs.append(name)
        for name in acc.mutates:
            if name not in local and name in known and name not in inputs:
                inputs.append(name)
        local |= acc.assigns
        written |= acc.writes
    return inputs, written


def _first_pos(stmt: ast.AST, name: str) -> tuple[int, int]:
    for sub in ast.walk(stmt):
        if isinstance(sub, ast.Name) and sub.id == name:
            return (sub.lineno, sub.col_offset)
    return (10**9, 0)


def backward_slice(statements: list[ast.stmt], needed: set[str]) -> list[ast.stmt]:
    """The statements that (may) contribute to the names in `needed`, in their original order."""
    needed = set(needed)
    kept: list[ast.stmt] = []
    for stmt in reversed(statements):
        acc = access(stmt)
        if acc.writes & needed:
            kept.append(stmt)
            needed |= acc.reads | acc.mutates
    return list(reversed(kept))


def function_globals(source: str, name: str) -> set[str]:
    """Free global names a module-level function reads (its nested scopes included)."""
    table = symtable.symtable(source, "<notebook>", "exec")
    found: set[str] = set()

    def walk(tab: symtable.SymbolTable) -> None:
        for sym in tab.get_symbols():
            if sym.is_global() and sym.is_referenced():
                found.add(sym.get_name())
        for child in tab.get_children():
            walk(child)

    for child in table.get_children():
        if child.get_name() == name:
            walk(child)
    return found - BUILTINS


def data_reads(tree: ast.AST) -> list[ast.Call]:
    """Calls like `pd.read_csv(...)` (any module alias) that read a data file."""
    calls = []
    for sub in ast.walk(tree):
        if isinstance(sub, ast.Call):
            func = sub.func
            attr = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if attr in READERS and (sub.args or sub.keywords):
                calls.append(sub)
    return sorted(calls, key=lambda c: (c.lineno, c.col_offset))


def literal_path(call: ast.Call, constants: dict[str, object]) -> tuple[str | None, str | None]:
    """(path, name holding it) of a read call's first argument, where static.

    `paths.resolve_reads` annotates each call whose path it could evaluate (joins, f-strings, constants
    assigned in any cell); without it, a literal or a `constants` entry.
    """
    arg = (
        call.args[0]
        if call.args
        else next((k.value for k in call.keywords if k.arg in {"filepath_or_buffer", "path"}), None)
    )
    resolved = getattr(call, "mlship_path", None)
    if isinstance(resolved, str):
        return resolved, arg.id if isinstance(arg, ast.Name) else None
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value, None
    if isinstance(arg, ast.Name) and isinstance(constants.get(arg.id), str):
        return str(constants[arg.id]), arg.id
    return None, None


def calls_method(tree: ast.AST, methods: set[str]) -> list[ast.Call]:
    return [
        sub
        for sub in ast.walk(tree)
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr in methods
    ]
