"""Bad notebooks: one clear message naming the notebook (and cell), exit 2, no partial project."""

from __future__ import annotations

import json

import pytest

from .nb_helpers import run_cli as run


def _assert_refused(capsys, tmp_path, notebook, *needles: str) -> None:
    target = tmp_path / "project"
    code = run("init", str(target), "--from", str(notebook))
    err = capsys.readouterr().err
    assert code == 2, err
    assert str(notebook) in err.replace("\n", "")
    flat = " ".join(err.split())  # the console wraps long lines
    for needle in needles:
        assert needle in flat, err
    assert "Traceback" not in err
    assert not target.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mlship-init-")]


def test_not_json(capsys, tmp_path):
    path = tmp_path / "bad.ipynb"
    path.write_text("this is not json {")
    _assert_refused(capsys, tmp_path, path, "not valid JSON")


def test_truncated(capsys, tmp_path, small_notebook):
    text = small_notebook.read_text()
    path = tmp_path / "cut.ipynb"
    path.write_text(text[: len(text) // 2])
    _assert_refused(capsys, tmp_path, path, "truncated")


def test_nbformat_3(capsys, tmp_path):
    path = tmp_path / "old.ipynb"
    path.write_text(
        json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": [{"cells": []}], "metadata": {}})
    )
    _assert_refused(capsys, tmp_path, path, "format 3", "nbconvert --to notebook --nbformat 4")


def test_empty_file(capsys, tmp_path):
    path = tmp_path / "empty.ipynb"
    path.write_text("")
    _assert_refused(capsys, tmp_path, path, "empty")


def test_notebook_without_code(capsys, tmp_path, make_notebook):
    path = make_notebook(tmp_path / "words.ipynb", [{"cell_type": "markdown", "source": "# only words"}])
    _assert_refused(capsys, tmp_path, path, "no code cells")


def test_no_model_fit(capsys, tmp_path, make_notebook):
    cells = [{"source": "import pandas as pd"}, {"source": 'df = pd.read_csv("data/houses.csv")\ndf.head()'}]
    _assert_refused(capsys, tmp_path, make_notebook(tmp_path / "nofit.ipynb", cells), "no cell fits a model")


def test_syntax_error_names_the_cell(capsys, tmp_path, make_notebook):
    cells = [{"source": "import pandas as pd"}, {"source": "x = 1\ny = (2 +\n"}]
    _assert_refused(
        capsys, tmp_path, make_notebook(tmp_path / "syntax.ipynb", cells), "cell 2", "syntax error"
    )


def test_a_cell_pasted_with_a_leading_indent_reads_as_jupyter_runs_it(tmp_path, make_notebook):
    from mlship.notebook.read import read_notebook

    cells = [{"source": "import pandas as pd"}, {"source": "  x = 1\n  if x:\n      y = 2\n"}]
    cell = read_notebook(make_notebook(tmp_path / "indent.ipynb", cells)).cells[1]
    assert cell.code.splitlines() == ["x = 1", "if x:", "    y = 2"]


def test_a_fit_only_inside_a_function_whose_model_no_cell_keeps_is_refused(capsys, tmp_path, make_notebook):
    cells = [
        {"source": "import pandas as pd\nfrom sklearn.linear_model import LinearRegression"},
        {"source": 'df = pd.read_csv("data/houses.csv")\nX, y = df[["area"]], df["price"]'},
        {"source": "def evaluate(model):\n    model.fit(X, y)\n    print(model.score(X, y))"},
        {"source": "evaluate(LinearRegression())"},
    ]
    _assert_refused(
        capsys,
        tmp_path,
        make_notebook(tmp_path / "evaluate.ipynb", cells),
        "inside the function `evaluate` (cell 3)",
        "`model = evaluate(...)`",
    )


def test_star_import_of_a_module_that_cannot_be_imported_names_the_cell(capsys, tmp_path, make_notebook):
    cells = [{"source": "import pandas as pd"}, {"source": "from sklearn.no_such_module import *"}]
    _assert_refused(
        capsys,
        tmp_path,
        make_notebook(tmp_path / "star.ipynb", cells),
        "cell 2",
        "from sklearn.no_such_module import *",
        "the module sklearn.no_such_module cannot be imported",
    )


def test_unknown_cell_magic_names_the_cell(capsys, tmp_path, make_notebook):
    cells = [{"source": "import pandas as pd"}, {"source": "%%bash\necho hi"}]
    _assert_refused(capsys, tmp_path, make_notebook(tmp_path / "bash.ipynb", cells), "cell 2", "%%bash")


def test_features_not_built_from_the_data_say_what_to_add(capsys, tmp_path, small_notebook):
    data = json.loads(small_notebook.read_text())
    source = "import numpy as np\ngrid = np.arange(20.0).reshape(10, 2)\nmodel = LinearRegression()\n"
    data["cells"] = data["cells"][:2] + [
        {**data["cells"][2], "source": source + "model.fit(grid, grid[:, 0] * 3)"}
    ]
    small_notebook.write_text(json.dumps(data))
    _assert_refused(
        capsys, tmp_path, small_notebook, "cannot tell how a record becomes", "cell 3",
        "not built from a data file", "tag it `predict`",
    )  # fmt: skip


def test_missing_data_file_asks_for_data_option(capsys, tmp_path, make_notebook):
    from .nb_helpers import GOOD_CELLS

    path = make_notebook(tmp_path / "nodata.ipynb", GOOD_CELLS)
    _assert_refused(capsys, tmp_path, path, "data/houses.csv", "--data")


def test_plan_reports_the_same_errors(capsys, tmp_path):
    path = tmp_path / "bad.ipynb"
    path.write_text('{"nbformat": 4, "cells": [1, 2')
    assert run("plan", str(path)) == 2
    assert "truncated" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["init", "x", "--data", "a.csv"]])
def test_data_without_from_is_a_usage_error(capsys, tmp_path, args):
    assert run(*args[:1], str(tmp_path / "x"), *args[2:]) == 2
    assert "--data goes with --from" in capsys.readouterr().err


def test_unknown_cell_magic_in_a_skipped_cell_is_fine(tmp_path, small_notebook):
    from mlship.notebook.plan import plan_notebook

    data = json.loads(small_notebook.read_text())
    # last: in a tagged notebook, untagged cells after it would follow `skip` too
    data["cells"].append({"cell_type": "code", "metadata": {"tags": ["skip"]}, "source": "%%bash\nls",
                             "outputs": [], "execution_count": None})  # fmt: skip
    small_notebook.write_text(json.dumps(data))
    plan = plan_notebook(small_notebook)
    assert plan.cells[-1].stage == "skip"
    assert any("%%bash cell skipped" in w for w in plan.warnings)


@pytest.mark.parametrize("layout", ["no src", "two packages"])
def test_a_template_without_one_src_package(capsys, tmp_path, small_notebook, layout):
    template = tmp_path / "tpl"
    project = template / "{{cookiecutter.project_slug}}"
    project.mkdir(parents=True)
    (template / "cookiecutter.json").write_text(json.dumps({"project_slug": "made"}))
    (project / "mlship.yaml").write_text("name: made\n")
    if layout == "two packages":
        for package in ("one", "two"):
            (project / "src" / package).mkdir(parents=True)
    target = tmp_path / "project"
    code = run("init", str(target), "--from", str(small_notebook), "--template", str(template))
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2, err
    assert f"the template {template} does not render one package under src/" in err
    assert "src/<package>/" in err and "Traceback" not in err
    assert not target.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mlship-init-")]
