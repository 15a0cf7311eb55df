"""A model fitted inside a notebook function (`model = build_model(X_train, y_train)`): the target is what
that function fits against, so the schema and the records have no target; a category mapped by a literal
dict refuses a value the dict does not name, naming the field, instead of scoring NaN."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from .nb_helpers import write_notebook

CELLS = [
    {"source": "import pandas as pd\nfrom sklearn.model_selection import train_test_split\n"
               "from sklearn.neighbors import KNeighborsClassifier"},
    {"source": "df = pd.read_csv('data/people.csv')\ndf['sex'] = df['sex'].map({'male': 0, 'female': 1})"},
    {"source": "X = df.drop('survived', axis=1)\ny = df['survived']\n"
               "X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=3)"},
    {"source": "def build_model(features, labels, k=5):\n    knn = KNeighborsClassifier(n_neighbors=k)\n"
               "    knn.fit(features, labels)\n    return knn"},
    {"source": "model = build_model(X_train, y_train, k=7)\nprint(model.score(X_test, y_test))"},
]  # fmt: skip


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    from mlship.notebook.convert import convert_notebook

    root = tmp_path_factory.mktemp("fit_helper")
    rng = np.random.default_rng(5)
    n = 240
    df = pd.DataFrame({"age": rng.integers(1, 80, n), "sex": rng.choice(["male", "female"], n)})
    df["survived"] = ((df.sex == "female") ^ (rng.random(n) < 0.2)).astype(int)
    (root / "nb" / "data").mkdir(parents=True)
    df.to_csv(root / "nb" / "data" / "people.csv", index=False)
    notebook = write_notebook(root / "nb" / "people.ipynb", CELLS)
    convert_notebook(notebook=notebook, directory=root / "proj")
    return root / "proj"


def test_the_target_of_a_fit_inside_a_function_is_left_out_of_serving(project):
    import yaml

    config = yaml.safe_load((project / "mlship.yaml").read_text())
    assert set(config["contract"]["schema"]) == {"age", "sex"}
    # ... and it is the project's target: `mlship train` measures the model on it, monitor --labels joins it
    assert config["params"]["target"] == "survived"
    predict = pd.read_csv(project / config["data"]["predict"])
    assert list(predict.columns) == ["age", "sex"] and len(predict) == 60


def test_verify_and_one_record_without_target(project):
    from mlship.notebook.parity import verify_project
    from mlship.project import Project

    from .nb_helpers import run_cli

    result = verify_project(Project.load(project))
    assert result.ok, [r for r in result.rows if not r.ok]
    assert "records scored alone (60 of 60)" in [r.check for r in result.rows]
    assert run_cli("train", str(project)) == 0

    from mlship.project import runtime_spec
    from mlship.serving.pipeline import Pipeline, RecordError

    pipeline = Pipeline(runtime_spec(Project.load(project)))
    assert pipeline.predict_records([{"age": 30, "sex": "female"}])[0] in (0, 1)
    with pytest.raises(RecordError, match=r"field 'sex' must be one of 'male', 'female', got 'Female'"):
        pipeline.predict_records([{"age": 30, "sex": "Female"}])
