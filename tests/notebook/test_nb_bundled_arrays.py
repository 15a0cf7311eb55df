"""scikit-learn's bundled loaders used as arrays (`X = data.data`, `return_X_y=True`) or with the target
kept apart (`X = pd.DataFrame(data.data, ...)`, `y = data.target`): the file init materialises holds the
features and the target, and the generated modules select them back with the notebook's own types."""

from __future__ import annotations

import json

import pytest
import yaml

IMPORTS = {"source": "import pandas as pd\nfrom sklearn.datasets import load_iris, load_linnerud\n"
           "from sklearn.linear_model import LinearRegression, LogisticRegression\n"
           "from sklearn.model_selection import train_test_split"}  # fmt: skip
SPLIT_FIT = (
    "X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)\n"
    "model = LogisticRegression(max_iter=500).fit(X_train, y_train)\n"
    "print(model.score(X_test, y_test))"
)
IRIS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
FORMS = {
    # name: (cells, data file, feature names, target columns, type of X in prepare_data)
    "bunch_arrays": (
        ["data = load_iris()\nX = data.data\ny = data.target",
         SPLIT_FIT + "\nnames = data.target_names[model.predict(X_test)]\nprint(names, data.feature_names)"],
        "iris.csv", IRIS, ["target"], "ndarray",
    ),
    "return_X_y_arrays": (
        ["X, y = load_iris(return_X_y=True)", SPLIT_FIT], "iris.csv", IRIS, ["target"], "ndarray",
    ),
    "tuple_arrays": (
        ["iris = load_iris()\nX, y = iris.data, iris.target", SPLIT_FIT],
        "iris.csv", IRIS, ["target"], "ndarray",
    ),
    "frame_features_target_apart": (
        ["data = load_iris()\nX = pd.DataFrame(data.data, columns=data.feature_names)\ny = data.target",
         "model = LogisticRegression(max_iter=500).fit(X, y)"],
        "iris.csv", IRIS, ["target"], "DataFrame",
    ),
    "bunch_keys": (  # a Bunch read by key, as course notebooks do
        ["cancer = load_iris()\nX = pd.DataFrame(cancer['data'], columns=cancer['feature_names'])\n"
         "y = cancer['target']", "model = LogisticRegression(max_iter=500).fit(X, y)"],
        "iris.csv", IRIS, ["target"], "DataFrame",
    ),
    "linnerud_arrays": (
        ["X, y = load_linnerud(return_X_y=True)",
         "X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)\n"
         "model = LinearRegression().fit(X_train, y_train)"],
        "linnerud.csv", ["Chins", "Situps", "Jumps"], ["Weight", "Waist", "Pulse"], "ndarray",
    ),
}  # fmt: skip

RUN = """
import json, pandas as pd
from {pkg} import predict, preprocess, train
X, *_ = preprocess.prepare_data('data/{file}')
train.main('data/{file}', {art!r}, {{'seed': 0}})
artifacts = predict.load({art!r})
raw = pd.read_csv('data/{file}').head(5)[list(preprocess.RAW_FIELDS)]
out = predict.predict(artifacts, preprocess.transform(raw, artifacts))
print(json.dumps({{'x': type(X).__name__, 'shape': list(X.shape), 'scored': len(out)}}))
"""


@pytest.mark.parametrize("form", sorted(FORMS))
def test_a_bundled_loader_used_as_arrays_trains_from_the_materialised_file(
    tmp_path, make_notebook, run_python, form
):
    import pandas as pd

    from mlship.notebook.convert import convert_notebook

    cells, file, features, targets, x_type = FORMS[form]
    notebook = make_notebook(tmp_path / f"{form}.ipynb", [IMPORTS, *({"source": c} for c in cells)])
    project = tmp_path / form
    convert_notebook(notebook=notebook, directory=project)

    frame = pd.read_csv(project / "data" / file)
    assert list(frame.columns) == [*features, *targets]
    config = yaml.safe_load((project / "mlship.yaml").read_text())
    assert config["data"]["train"] == f"data/{file}"
    schema = list(config["contract"]["schema"])
    # one field per feature name (linnerud's three targets, one list, are not told from features yet)
    assert schema == features if len(targets) == 1 else schema[: len(features)] == features
    pkg = config["entrypoints"]["train"].split(".")[0]
    code = (project / "src" / pkg / "preprocess.py").read_text()
    assert "read_csv(data_path)" in code and ".data\n" not in code and "= data.target" not in code, code

    done = run_python(project, RUN.format(pkg=pkg, file=file, art=str(tmp_path / "art"), targets=targets))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"x": x_type, "shape": [len(frame), len(features)], "scored": 5}


def test_metadata_of_the_bunch_still_reads_the_loader(tmp_path, make_notebook):
    """`data.target_names` after the rewrite: the loader stays, for its metadata only."""
    from mlship.notebook.convert import convert_notebook

    cells, *_ = FORMS["bunch_arrays"]
    notebook = make_notebook(tmp_path / "meta.ipynb", [IMPORTS, *({"source": c} for c in cells)])
    convert_notebook(notebook=notebook, directory=tmp_path / "meta")
    config = yaml.safe_load((tmp_path / "meta" / "mlship.yaml").read_text())
    pkg = config["entrypoints"]["train"].split(".")[0]
    code = "".join(p.read_text() for p in (tmp_path / "meta" / "src" / pkg).glob("*.py"))
    assert "data = load_iris()" in code and "frame = pd.read_csv(data_path)" in code
    assert "data.data" not in code and "data.target\n" not in code
    assert "frame[['sepal length (cm)'" in code.replace('"', "'") and ".to_numpy()" in code
