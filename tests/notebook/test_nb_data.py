"""Data files: paths however written, every read listed, Kaggle/Colab/Windows paths, --data matching."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from mlship.notebook.plan import plan_notebook

from .nb_helpers import EXAMPLES
from .nb_helpers import run_cli as run

IMPORTS = {"source": "import os\nfrom pathlib import Path\nimport pandas as pd\n"
           "from sklearn.linear_model import LinearRegression"}  # fmt: skip
FIT = {"source": 'X = df[["area", "rooms"]]\ny = df["price"]\nmodel = LinearRegression().fit(X, y)'}
SCORE = {
    "source": 'new = pd.read_csv("data/new_houses.csv")\npredictions = model.predict(new[["area", "rooms"]])'
}


def _notebook(tmp_path, make_notebook, read_cells: list[str], score: dict = SCORE):
    shutil.copytree(EXAMPLES / "data", tmp_path / "data", dirs_exist_ok=True)
    cells = [IMPORTS, *({"source": s} for s in read_cells), FIT, score]
    return make_notebook(tmp_path / "nb.ipynb", cells)


@pytest.mark.parametrize(
    "cells",
    [
        ["path = 'data/houses.csv'; df = pd.read_csv(path)"],
        ["DATA_DIR = 'data'", "df = pd.read_csv(os.path.join(DATA_DIR, 'houses.csv'))"],
        ["DATA_DIR = 'data'", "df = pd.read_csv(Path(DATA_DIR) / 'houses.csv')"],
        ["DATA_DIR = 'data'", "df = pd.read_csv(f'{DATA_DIR}/houses.csv')"],
        ["DATA_DIR = 'data'\nname = 'houses'", "df = pd.read_csv(DATA_DIR + '/' + name + '.csv')"],
        [
            "path = 'nowhere.csv'\nprint(1)\npath = 'data/houses.csv'",
            "df = pd.read_csv(filepath_or_buffer=path)",
        ],
    ],
    ids=["same-cell", "os.path.join", "pathlib", "f-string", "concat", "latest-assignment"],
)
def test_training_path_resolved_however_written(tmp_path, make_notebook, cells):
    plan = plan_notebook(_notebook(tmp_path, make_notebook, cells))
    assert plan.train_data == "data/houses.csv"
    train = next(d for d in plan.data_files if d.role == "train")
    assert (train.var, train.path, train.key) == ("df", "data/houses.csv", "train")


def test_a_path_from_a_loop_is_not_a_constant(tmp_path, make_notebook, capsys):
    path = _notebook(
        tmp_path, make_notebook, ["for p in ['data/houses.csv']:\n    path = p", "df = pd.read_csv(path)"]
    )
    assert run("plan", str(path)) == 2
    assert "cannot resolve" in capsys.readouterr().err


KAGGLE = [
    "train = pd.read_csv('/kaggle/input/houses-dataset/houses.csv')\n"
    "test = pd.read_csv('/content/drive/MyDrive/x/new_houses.csv')\n"
    "sub = pd.read_csv(r'C:\\Users\\me\\data\\sample_submission.csv')",
    "df = train",
]
SCORE_TEST = {"source": 'predictions = model.predict(test[["area", "rooms"]])\nsub["price"] = predictions'}


def test_every_read_is_listed_with_cell_variable_and_path(tmp_path, make_notebook):
    plan = plan_notebook(_notebook(tmp_path, make_notebook, KAGGLE, SCORE_TEST))
    listed = [(d["cell"], d["var"], d["path"], d["key"]) for d in plan.to_dict()["data_files"]]
    assert listed == [
        (2, "train", "/kaggle/input/houses-dataset/houses.csv", "train"),
        # the run shows the model scoring it: it is the records serving takes (data.predict)
        (2, "test", "/content/drive/MyDrive/x/new_houses.csv", "predict"),
        (2, "sub", "C:\\Users\\me\\data\\sample_submission.csv", "sub"),
    ]
    assert [d.name for d in plan.data_files] == ["houses.csv", "new_houses.csv", "sample_submission.csv"]


def _init(tmp_path, notebook, *data, project: str = "project"):
    args = ["init", str(tmp_path / project), "--from", str(notebook), "--json"]
    for d in data:
        args += ["--data", str(d)]
    return run(*args)


def test_kaggle_colab_and_windows_paths_map_to_data_files(tmp_path, make_notebook, capsys):
    import yaml

    notebook = _notebook(tmp_path, make_notebook, KAGGLE, SCORE_TEST)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    for name in ("houses.csv", "new_houses.csv"):
        shutil.copy(EXAMPLES / "data" / name, downloads / name)
    # one row per new record, as a Kaggle submission template has (the notebook fills its price)
    (downloads / "sample_submission.csv").write_text("id,price\n" + "".join(f"{i},0\n" for i in range(1, 21)))
    assert _init(tmp_path, notebook, *sorted(downloads.iterdir())) == 0
    result = json.loads(capsys.readouterr().out)
    files = {d["key"]: d["file"] for d in result["plan"]["data_files"]}
    expected = [("train", "houses.csv"), ("predict", "new_houses.csv"), ("sub", "sample_submission.csv")]
    assert files == {key: str(downloads / name) for key, name in expected}
    project = tmp_path / "project"
    data = yaml.safe_load((project / "mlship.yaml").read_text())["data"]
    assert data["sub"] == "data/sample_submission.csv" and data["train"] == "data/houses.csv"
    assert (project / "data" / "sample_submission.csv").is_file()
    copy = json.loads((project / "notebooks" / "nb.ipynb").read_text())
    source = copy["cells"][1]["source"]
    for name in ("houses.csv", "new_houses.csv", "sample_submission.csv"):
        assert f"'../data/{name}'" in source
    assert "kaggle" not in source and "Users" not in source


def test_a_built_path_is_rewritten_in_the_notebook_copy(tmp_path, make_notebook, capsys):
    notebook = _notebook(
        tmp_path,
        make_notebook,
        ["DATA_DIR = 'data'", "df = pd.read_csv(os.path.join(DATA_DIR, 'houses.csv'))"],
    )
    assert _init(tmp_path, notebook) == 0
    copy = json.loads((tmp_path / "project" / "notebooks" / "nb.ipynb").read_text())
    assert copy["cells"][2]["source"] == "df = pd.read_csv('../data/houses.csv')"


def test_an_unneeded_file_that_is_missing_is_a_warning(tmp_path, make_notebook, capsys):
    cells = [
        "df = pd.read_csv('data/houses.csv')\nsub = pd.read_csv('/kaggle/input/x/sample_submission.csv')"
    ]
    assert _init(tmp_path, _notebook(tmp_path, make_notebook, cells)) == 0
    result = json.loads(capsys.readouterr().out)
    assert any("sample_submission.csv" in w and "not found" in w for w in result["plan"]["warnings"])


def test_a_data_file_that_matches_no_read_is_an_error(tmp_path, make_notebook, capsys):
    notebook = _notebook(tmp_path, make_notebook, ["df = pd.read_csv('data/houses.csv')"])
    stray = tmp_path / "other.csv"
    stray.write_text("a\n1\n")
    assert _init(tmp_path, notebook, stray) == 2
    err = capsys.readouterr().err
    assert "other.csv" in err and "houses.csv" in err and "new_houses.csv" in err
    assert not (tmp_path / "project").exists()


def _telco(path, rows: int, seed: int, target: bool = True) -> None:
    import random

    rng = random.Random(seed)
    lines = ["tenure,MonthlyCharges,TotalCharges" + (",Churn" if target else "")]
    for i in range(rows):
        tenure, monthly = rng.randint(0, 72), round(rng.uniform(20, 110), 2)
        total = " " if i % 7 == 1 else f"{tenure * monthly:.2f}"  # the Telco file's blanks for new customers
        lines.append(f"{tenure},{monthly},{total}" + (f",{rng.random():.3f}" if target else ""))
    path.write_text("\n".join(lines) + "\n")


CONVERSIONS = [
    "df['TotalCharges'] = pd.to_numeric(df['TotalCharges'], errors='coerce')",
    "df['TotalCharges'] = df['TotalCharges'].replace(' ', np.nan).astype(float)",
]


@pytest.mark.parametrize("conversion", CONVERSIONS, ids=["to_numeric", "replace-astype"])
@pytest.mark.parametrize("scoring", [False, True], ids=["sample", "new-records"])
def test_a_text_column_the_notebook_makes_numeric_is_an_optional_number(
    tmp_path, make_notebook, capsys, conversion, scoring
):
    import pandas as pd

    from mlship.contract.schema import record_problems
    from mlship.project import Project

    _telco(tmp_path / "telco.csv", 60, 1)
    _telco(tmp_path / "telco_new.csv", 15, 2, target=False)
    features = "['tenure', 'MonthlyCharges', 'TotalCharges']"
    cells = [
        {"source": "import numpy as np\nimport pandas as pd\nfrom sklearn.tree import DecisionTreeRegressor"},
        {"source": f"df = pd.read_csv('telco.csv')\n{conversion}\ndf = df.fillna(0)"},
        {"source": f"X = df[{features}]\ny = df['Churn']\nmodel = DecisionTreeRegressor().fit(X, y)"},
    ]
    if scoring:
        cells.append(
            {
                "source": "new = pd.read_csv('telco_new.csv')\n"
                + conversion.replace("df", "new")
                + f"\nnew = new.fillna(0)\npredictions = model.predict(new[{features}])"
            }
        )
    assert _init(tmp_path, make_notebook(tmp_path / "telco.ipynb", cells)) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["plan"]["conversions"] == {"TotalCharges": "number"}
    project = Project.load(tmp_path / "project")
    schema = project.config.contract.schema_
    assert schema["TotalCharges"].type == "number" and schema["TotalCharges"].required is False
    assert schema["tenure"].type == "integer" and schema["tenure"].required is not False
    sample = pd.read_csv(project.data_path("predict"))
    assert sample["TotalCharges"].isna().any()
    for record in sample.to_dict(orient="records"):
        assert record_problems(schema, record) == []


def test_conversions_found_in_the_code(tmp_path, make_notebook):
    from mlship.notebook.columns import conversions
    from mlship.notebook.read import read_notebook

    code = (
        "df['a'] = df['a'].astype('float64')\ndf['b'] = df['b'].str.strip().astype(int)\n"
        "df = df.astype({'c': np.float32})\ndf['d'] = df['d'].astype('category')\n"
        "df['e'] = pd.to_numeric(df['e'].str.replace(',', ''), errors='coerce')"
    )
    notebook = read_notebook(make_notebook(tmp_path / "c.ipynb", [{"source": code}]))
    assert conversions(notebook) == {"a": "number", "b": "integer", "c": "number", "e": "number"}


SKLEARN = {"source": "import pandas as pd\nfrom sklearn.datasets import load_breast_cancer, load_iris\n"
           "from sklearn.linear_model import LogisticRegression"}  # fmt: skip
BUNDLED = {
    "frame": [
        "data = load_breast_cancer(as_frame=True)\ndf = data.frame",
        "X = df.drop(columns=['target'])\ny = df['target']\nmodel = LogisticRegression().fit(X, y)",
    ],
    "return_X_y": [
        "X, y = load_iris(return_X_y=True, as_frame=True)\nmodel = LogisticRegression(max_iter=500).fit(X, y)"
    ],
    "DataFrame": [
        "data = load_iris()\ndf = pd.DataFrame(data.data, columns=data.feature_names)\n"
        "df['species'] = data.target",
        "X = df.drop(columns=['species'])\ny = df['species']\nmodel = LogisticRegression().fit(X, y)",
    ],
}


@pytest.mark.parametrize("form", sorted(BUNDLED))
def test_a_bundled_sklearn_data_set_is_materialised_as_the_training_file(
    tmp_path, make_notebook, capsys, form
):
    import pandas as pd

    from mlship.project import Project
    from mlship.stages import train

    cells = [SKLEARN, *({"source": s} for s in BUNDLED[form])]
    # a package name of its own: train() imports the project's package in this process
    notebook = make_notebook(tmp_path / "bundled.ipynb", cells)
    assert _init(tmp_path, notebook, project=f"bundled_{form.lower()}") == 0, capsys.readouterr().err
    plan = json.loads(capsys.readouterr().out)["plan"]
    name = "breast_cancer" if form == "frame" else "iris"
    assert plan["data_source"]["note"] == f"load_{name}() materialised as data/{name}.csv"
    assert plan["data"]["train"] == f"{name}.csv"
    project = Project.load(tmp_path / f"bundled_{form.lower()}")
    assert project.config.data["train"] == f"data/{name}.csv"
    frame = pd.read_csv(project.data_path("train"))
    target = "species" if form == "DataFrame" else "target"
    assert target in frame.columns and len(frame) == (569 if name == "breast_cancer" else 150)
    src = tmp_path / f"bundled_{form.lower()}" / "src"
    code = "".join(p.read_text() for p in (src / package_of(project)).glob("*.py"))
    assert f"load_{name}(" not in code and "read_csv(data_path)" in code, code
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--select", "F",
                           str(src)], capture_output=True, text=True)  # fmt: skip
    assert lint.returncode == 0, lint.stdout
    assert train(project).metrics is not None


def package_of(project) -> str:
    return project.config.entrypoints.train.split(".")[0]


def test_a_bundled_loader_mlship_cannot_follow_is_refused_naming_the_cell(tmp_path, make_notebook, capsys):
    cells = [
        SKLEARN,
        {"source": "X = load_iris().data\ny = load_iris().target\nmodel = LogisticRegression().fit(X, y)"},
    ]
    assert run("plan", str(make_notebook(tmp_path / "b.ipynb", cells))) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "cell 2" in err and "scikit-learn loader" in err and "as_frame=True" in err
