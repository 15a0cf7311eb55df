"""Notebook surface: headings, hosted-only code, shadowed module aliases, plots, file writes, star imports."""

from __future__ import annotations

import pytest

from mlship.notebook.assign import _heading, keyword_stage
from mlship.notebook.read import Cell
from tests.support import run_mlship


def markdown(text: str) -> Cell:
    return Cell(index=1, kind="markdown", source=text)


@pytest.mark.parametrize(
    ("text", "stage"),
    [
        ("Fittingly, the weather", None),
        ("Fit the model", "train"),
        ("Fitting", "train"),
        ("Modelling", "train"),
        ("Two models", "train"),
        ("Training", "train"),
        ("Fitness scores", None),
        ("Cross-validation", "evaluate"),
        ("Metrics", "evaluate"),
        ("Dataset overview", "preprocess"),
        ("Preserve the order", None),
        ("Serving", "predict"),
        ("Predictions on new data", "predict"),
        ("train_model", "train"),
    ],
)
def test_keywords_match_whole_words_or_stems(text, stage):
    assert keyword_stage(text) == stage


def test_only_real_headings_count():
    assert _heading(markdown("#hashtag model\nplain prose about training")) is None
    assert _heading(markdown("```python\n# train the model\n```\nsome text")) is None
    assert _heading(markdown("~~~\n## Training\n~~~\n## Evaluate")) == ("evaluate", "heading 'Evaluate'")
    assert _heading(markdown("intro\n### Train the model ###")) == ("train", "heading 'Train the model'")
    assert _heading(markdown("####### Train")) is None  # seven # are not a heading


def _plan(tmp_path, cells):
    from mlship.notebook.plan import plan_notebook

    from .nb_helpers import write_notebook

    return plan_notebook(write_notebook(tmp_path / "nb.ipynb", cells))


def _code(plan) -> str:
    return "\n".join(s.text for seg in plan.segments for s in seg.stmts) + "\n" + repr(plan.serve.to_dict())


def test_plots_through_other_names_are_display(tmp_path):
    from .nb_helpers import GOOD_CELLS

    cells = [
        {"source": GOOD_CELLS[0]["source"] + "\nimport seaborn as sb\nimport matplotlib.pyplot as mp"},
        {
            "source": GOOD_CELLS[1]["source"] + "\nf, axs = mp.subplots(2, 2)\nfor a in axs.flat:\n"
            "    a.hist(df['area'])\nsb.histplot(df, x='area')\ntips = sb.load_dataset('tips')"
        },
        {
            "source": "fig2, (left, right) = mp.subplots(1, 2)\nleft.scatter(df['area'], y)\n"
            "for i, col in enumerate(FEATURES):\n    axs.flat[i].hist(df[col])"
        },
        *GOOD_CELLS[2:],
    ]
    plan = _plan(tmp_path, cells)
    assert {c.index: c.stage for c in plan.cells}[3] == "skip"
    code = _code(plan)
    assert "hist" not in code and "subplots" not in code and "histplot" not in code
    assert "tips = sb.load_dataset('tips')" in code  # seaborn's data sets are data


def _convert(tmp_path, cells, name="nb"):
    import shutil

    from mlship.notebook.convert import convert_notebook

    from .nb_helpers import EXAMPLES, write_notebook

    if not (tmp_path / "data").exists():
        shutil.copytree(EXAMPLES / "data", tmp_path / "data")
    notebook = write_notebook(tmp_path / f"{name}.ipynb", cells)
    project = tmp_path / f"{name}-project"
    convert_notebook(notebook=notebook, directory=project)
    return project, next((project / "src").glob("*/train.py")).parent


def _sources(package) -> str:
    return "\n".join(p.read_text() for p in sorted(package.glob("*.py")))


def test_colab_and_kaggle_only_code_is_left_out(tmp_path):
    from mlship.notebook.plan import plan_notebook

    from .nb_helpers import GOOD_CELLS

    cells = [
        {
            "source": "import os\nimport google.colab\nfrom google.colab import files, drive\n"
            + GOOD_CELLS[0]["source"]
        },
        {
            "source": "drive.mount('/content/drive')\nuploaded = files.upload()\n"
            "for dirname, _, filenames in os.walk('/kaggle/input'):\n    for filename in filenames:\n"
            "        print(os.path.join(dirname, filename))"
        },
        *GOOD_CELLS[1:],
        {"source": "files.download('data/new_houses.csv')"},
    ]
    project, package = _convert(tmp_path, cells)
    code = _sources(package)
    assert "google" not in code and "files." not in code and "drive" not in code and "walk" not in code
    requirements = (project / "requirements.txt").read_text().split()
    assert not [r for r in requirements if "google" in r], requirements
    warnings = plan_notebook(tmp_path / "nb.ipynb").warnings
    assert "cell 1: `from google.colab import files, drive` left out: it works only in Colab or Kaggle" in (
        warnings
    )
    assert any(w.startswith("cell 2: `drive.mount(") for w in warnings)
    assert any(w.startswith("cell 2: `uploaded = files.upload()`") for w in warnings)
    assert any(w.startswith("cell 2: `for dirname, _, filenames in os.walk") for w in warnings)
    assert any(w.startswith("cell 6: `files.download(") for w in warnings)


def test_training_code_that_writes_files_is_left_out(tmp_path):
    from mlship.notebook.plan import plan_notebook

    from .nb_helpers import GOOD_CELLS

    cells = [
        {"source": GOOD_CELLS[0]["source"] + "\nimport joblib, pickle\nimport matplotlib.pyplot as plt"},
        GOOD_CELLS[1],
        {
            "source": GOOD_CELLS[2]["source"] + "\njoblib.dump(model, 'model.pkl')\n"
            "with open('model2.pkl', 'wb') as f:\n    pickle.dump(model, f)\nplt.savefig('fit.png')"
        },
        {
            "source": GOOD_CELLS[3]["source"] + "\nsubmission = pd.DataFrame({'price': predictions})\n"
            "submission.to_csv('submission.csv', index=False)\nnew.to_csv(path_or_buf='scored.csv')"
        },
    ]
    project, package = _convert(tmp_path, cells)
    code = _sources(package)
    for text in ("to_csv", "dump(model", "savefig", "open(", "model.pkl", "submission.csv"):
        assert text not in code, text
    warnings = plan_notebook(tmp_path / "nb.ipynb").warnings
    for cell, name in [(3, "model.pkl"), (3, "model2.pkl"), (4, "submission.csv"), (4, "scored.csv")]:
        assert f"cell {cell} writes {name}: left out; mlship saves the model in artifacts/" in warnings


def test_a_variable_named_like_its_module_is_renamed_and_train_runs(tmp_path):

    from mlship.notebook.plan import plan_notebook

    from .nb_helpers import GOOD_CELLS

    cells = [
        {"source": "import pandas as pd\nimport xgboost as xgb"},
        GOOD_CELLS[1],
        {"source": "xgb = xgb.XGBRegressor(n_estimators=5, max_depth=2)\nxgb.fit(X, y)"},
        {"source": 'new = pd.read_csv("data/new_houses.csv")\npredictions = xgb.predict(new[FEATURES])'},
    ]
    project, package = _convert(tmp_path, cells)
    train = (package / "train.py").read_text()
    assert "xgb_model = xgb.XGBRegressor(" in train and "xgb_model.fit(X, y)" in train
    assert "xgb_model.predict(" in (package / "predict.py").read_text()
    warnings = plan_notebook(tmp_path / "nb.ipynb").warnings
    assert any(
        w.startswith("cell 3: `xgb` names the imported module") and "`xgb_model`" in w for w in warnings
    )
    from tests.support import run_mlship

    done = run_mlship("train", str(project))
    assert done.returncode == 0, done.stderr


def test_star_imports_become_explicit_imports(tmp_path):
    import sys

    from mlship.notebook.plan import plan_notebook

    from .nb_helpers import GOOD_CELLS, write_notebook

    (tmp_path / "nbtools_star.py").write_text(
        "__all__ = ['double', 'triple']\ndef double(x):\n    return x * 2\ndef triple(x):\n    return x * 3\n"
    )
    cells = [
        {"source": GOOD_CELLS[0]["source"] + "\nfrom math import *\nfrom nbtools_star import *"},
        {"source": GOOD_CELLS[1]["source"] + "\nX = X * floor(pi) * pow(1, 1)\nX = double(X)"},
        *GOOD_CELLS[2:],
    ]
    plan = plan_notebook(write_notebook(tmp_path / "star.ipynb", cells))
    # math's pow shadows the builtin in the notebook, and still does in the generated code
    assert "from math import floor, pi, pow" in plan.imports
    assert "from nbtools_star import double" in plan.imports
    assert not any("*" in i for i in plan.imports)
    assert "cell 1: `from math import *` becomes `from math import floor, pi, pow`" in plan.warnings
    assert str(tmp_path) not in sys.path and "nbtools_star" not in sys.modules


def test_a_star_import_of_a_missing_module_is_refused(tmp_path):

    from .nb_helpers import GOOD_CELLS, write_notebook

    cells = [{"source": GOOD_CELLS[0]["source"]}, {"source": "from no_such_module_here import *"}]
    notebook = write_notebook(tmp_path / "star.ipynb", cells)
    done = run_mlship("init", str(tmp_path / "project"), "--from", str(notebook))
    err = " ".join(done.stderr.split())
    assert done.returncode == 2
    assert "cell 2" in err and "from no_such_module_here import *" in err and "cannot be imported" in err
    assert "Traceback" not in err and not (tmp_path / "project").exists()


@pytest.mark.parametrize(
    ("ename", "evalue", "context", "fix"),
    [
        ("ValueError", "could not convert string to float: 'x'", "df.corr()", "numeric_only=True"),
        ("InvalidParameterError", "The 'max_features' parameter ... Got 'auto' instead.", "", "'sqrt'"),
        ("TypeError", "histplot() takes from 0 to 1 positional arguments but 3 were given",
         "sns.histplot(a, b)", "by keyword"),
        ("AttributeError", "module 'numpy' has no attribute 'float'.\n`np.float` was ...", "", "numpy<1.24"),
        ("AttributeError", "'DataFrame' object has no attribute 'append'", "", "pd.concat"),
        ("TypeError", "OneHotEncoder.__init__() got an unexpected keyword argument 'sparse'",
         "OneHotEncoder(", "sparse_output="),
        ("ValueError", "could not convert string to float: 'x'", "float(s)", None),
    ],
)  # fmt: skip
def test_known_api_changes_have_a_likely_fix(ename, evalue, context, fix):
    from mlship.notebook.stale import likely_fix, one_line

    found = likely_fix(ename, evalue, context)
    assert (found is None) if fix is None else (fix in (found or ""))
    assert "\n" not in one_line(ename, evalue) and one_line(ename, evalue).startswith(f"{ename}: ")


def test_a_stale_notebook_says_which_cell_what_failed_and_the_likely_fix(tmp_path):

    from .nb_helpers import GOOD_CELLS

    cells = [*GOOD_CELLS[:2], {"source": "pd.DataFrame({'a': ['x']}).corr()"}, *GOOD_CELLS[2:]]
    project, _ = _convert(tmp_path, cells)
    done = run_mlship("verify", str(project))
    err = " ".join(done.stderr.split())
    assert done.returncode == 2
    assert (
        "failed in cell 3 when run top to bottom: ValueError: could not convert string to float: 'x'" in err
    )
    assert "df.corr(numeric_only=True)" in err
