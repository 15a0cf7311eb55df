"""Plan -> Python modules: render the jinja2 templates under templates/notebook/ and format them."""

from __future__ import annotations

import ast
import sys
import textwrap
from pathlib import Path
from typing import Any

from mlship import proc
from mlship.deps.imports import suggest_distribution
from mlship.errors import ProcessError
from mlship.notebook.dropped import hosted_module
from mlship.notebook.plan import Plan, Segment
from mlship.notebook.stmts import Stmt
from mlship.templates_dir import templates_dir

ALWAYS = ["pandas", "joblib"]
# contract.schema's types -> what the generated `check_fields` accepts for the field.
FIELD_KINDS = {
    "number": "number",
    "integer": "number",
    "boolean": "number",
    "category": "text",
    "string": "text",
}


def _indent(text: str) -> str:
    return textwrap.indent(text, "    ", lambda line: True).replace("    \n", "\n")


def _stmt_source(stmt: Stmt) -> str:
    # Indenting a triple-quoted string would change its value: write those statements re-generated.
    if '"""' in stmt.text or "'''" in stmt.text:
        return ast.unparse(stmt.node)
    return stmt.text


def _body(lines: list[str], returns: list[str] | None = None, value: str | None = None) -> str:
    parts = list(lines)
    if returns:
        parts.append("return " + ", ".join(returns))
    elif value:
        parts.append(f"return {value}")
    return _indent("\n".join(parts) if parts else "pass")


def _bind(keys: list[str], artifacts: str) -> list[str]:
    return [f"{key} = {artifacts}[{key!r}]" for key in keys]


def _used_names(code: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name)}


def _imports(plan: Plan, code: str, extra: list[str]) -> str:
    """The notebook's imports that this module's code uses, one statement per import line."""
    used = _used_names(code)
    kept: list[str] = []
    for text in plan.imports:
        node = ast.parse(text).body[0]
        assert isinstance(node, ast.Import | ast.ImportFrom)
        node.names = [a for a in node.names if (a.asname or a.name).split(".")[0] in used]
        if node.names:
            kept.append(ast.unparse(node))
    bound = {
        n.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    if "display" in used and "display" not in bound and not any("display" in k for k in kept):
        # Jupyter's display() inside the notebook's own functions: outside a notebook, it prints
        kept.append("\ndisplay = print")
    return "\n".join(extra + kept)


def _render(template_name: str, **context: Any) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir() / "notebook")),
        keep_trailing_newline=True,
        trim_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template(template_name).render(**context)


def _segment_context(segment: Segment, helpers: set[str]) -> dict[str, str]:
    cells = ("cell " if len(segment.cells) == 1 else "cells ") + ", ".join(map(str, segment.cells))
    return {
        "name": segment.function,
        "args": ", ".join(segment.inputs),
        "doc": f"The notebook's {segment.stage} step ({cells}).",
        "body": _body([_stmt_source(s) for s in segment.stmts], segment.outputs),
    }


def _package_imports(package: str, module: str, names: list[str], code: str) -> list[str]:
    used = sorted(n for n in names if n in _used_names(code))
    return [f"from {package}.{module} import {', '.join(used)}"] if used else []


KNOWN_TO_ENCODERS = "known_to_encoders"  # preprocess.py's check of the fitted encoders' categories


def render_modules(plan: Plan, package: str, schema: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Module file name -> source for the generated package; `schema` is the records' contract.schema."""
    serve = plan.serve
    helper_names = [s.node.name for s in plan.helpers]  # type: ignore[attr-defined]
    modules: dict[str, str] = {}
    if plan.helpers:
        blocks = [*plan.helper_constants, *(_stmt_source(s) for s in plan.helpers)]
        code = "\n\n".join(blocks)
        modules["helpers.py"] = _render(
            "helpers.py.j2", notebook=plan.notebook.name, imports=_imports(plan, code, []), helpers=blocks
        )

    pre_segments = [s for s in plan.segments if s.stage == "preprocess"]
    other_segments = [s for s in plan.segments if s.stage != "preprocess"]
    merge_post = bool(serve.post) and bool(serve.uses["postprocess"])

    transform_lines = _bind(serve.uses["preprocess"], serve.artifacts) + [_stmt_source(s) for s in serve.pre]
    pre_ctx = dict(
        notebook=plan.notebook.name,
        segments=[_segment_context(s, set(helper_names)) for s in pre_segments],
        raw_fields=repr({name: FIELD_KINDS[spec["type"]] for name, spec in schema.items()}),
        optional_fields=repr([name for name, spec in schema.items() if spec.get("required") is False]),
        raw_df=serve.raw_df,
        artifacts=serve.artifacts,
        serve_cells=", ".join(map(str, serve.cells)),
        transform_body=_body(
            transform_lines, value=f"{KNOWN_TO_ENCODERS}({serve.features}, {serve.artifacts})"
        ),
        imports="",
    )
    draft = _render("preprocess.py.j2", **pre_ctx)
    pre_ctx["imports"] = _imports(plan, draft, _package_imports(package, "helpers", helper_names, draft))
    modules["preprocess.py"] = _render("preprocess.py.j2", **pre_ctx)

    post_keys = serve.uses["postprocess"] if merge_post else []
    predict_lines = (
        _bind(sorted(set(serve.uses["predict"]) | set(post_keys)), serve.artifacts) + serve.predict
    )
    if merge_post:
        predict_lines += [_stmt_source(s) for s in serve.post]
    post_body = ""
    if serve.post and not merge_post:
        reads_raw = any(serve.raw_var in _used_names(s.text) for s in serve.post if s.text.strip())
        bind = [f"{serve.raw_var} = {serve.raw_df}"] if reads_raw else []
        post_body = _body(bind + [_stmt_source(s) for s in serve.post], value=serve.output)
    predict_ctx = dict(
        notebook=plan.notebook.name,
        artifacts=serve.artifacts,
        features=serve.features_var,
        predict_body=_body(predict_lines, value=serve.output if merge_post else serve.predictions),
        postprocess_body=post_body,
        predictions=serve.predictions,
        raw_df=serve.raw_df,
        imports="",
    )
    draft = _render("predict.py.j2", **predict_ctx)
    extra = ["from pathlib import Path", "", "import joblib"]
    extra += _package_imports(package, "preprocess", ["align_columns", "known_values"], draft)
    extra += _package_imports(package, "helpers", helper_names, draft)
    predict_ctx["imports"] = _imports(plan, draft, extra)
    modules["predict.py"] = _render("predict.py.j2", **predict_ctx)

    train_ctx = dict(
        notebook=plan.notebook.name,
        segments=[_segment_context(s, set(helper_names)) for s in other_segments],
        data_path=_data_path_name(plan),
        main_body=_main_body(plan),
        imports="",
    )
    draft = _render("train.py.j2", **train_ctx)
    extra = ["import numbers", "from pathlib import Path", "", "import joblib"]
    extra += _package_imports(
        package, "preprocess", [s.function for s in pre_segments] + ["category_levels"], draft
    )
    extra += _package_imports(package, "helpers", helper_names, draft)
    train_ctx["imports"] = _imports(plan, draft, extra)
    modules["train.py"] = _render("train.py.j2", **train_ctx)
    return modules


def _data_path_name(plan: Plan) -> str:
    return next((n for n in sorted(plan.names) if n.startswith("data_path")), "data_path")


def _main_body(plan: Plan) -> str:
    lines = [
        f"{name} = params.get({plan.param_keys[name]!r}, {value!r})" for name, value in plan.params.items()
    ]
    for segment in plan.segments:
        call = f"{segment.function}({', '.join(segment.inputs)})"
        lines.append(f"{', '.join(segment.outputs)} = {call}" if segment.outputs else call)
    state = ", ".join(f"{key!r}: {expr}" for key, expr in sorted(plan.state.items()))
    lines.append(f"save_artifacts(artifact_dir, {{{state}}})")
    metrics = ", ".join(f"{name!r}: {name}" for name in plan.metrics)
    return _body(lines, value=f"numeric_metrics({{{metrics}}})")


def requirements(plan: Plan, modules: dict[str, str], package: str) -> list[str]:
    """Distributions the generated modules import, plus the notebook's `%pip install` lines."""
    stdlib = set(sys.stdlib_module_names)
    found = list(ALWAYS)
    for code in modules.values():
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names if not hosted_module(a.name)]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if hosted_module(node.module):  # Colab/Kaggle only: no distribution to install
                    continue
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in stdlib and top not in {package, "mlship"}:
                    # `mlship check`'s own import -> distribution map: `import dotenv` is python-dotenv
                    found.append(suggest_distribution(name)[0])
    return list(dict.fromkeys(found + plan.requirements))


def format_code(paths: list[Path]) -> bool:
    """ruff: sort imports and format. Returns False where ruff is not installed (code stays as written)."""
    files = [str(p) for p in paths]
    base = [sys.executable, "-m", "ruff"]
    try:
        proc.run([*base, "check", "--quiet", "--select", "I", "--fix", "--line-length", "110", *files],
                 check=False, timeout=60)  # fmt: skip
        done = proc.run([*base, "format", "--quiet", "--line-length", "110", *files], check=False, timeout=60)
    except ProcessError:
        return False
    return done.returncode == 0
