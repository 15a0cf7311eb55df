"""Unseeded randomness: the evidence run seeds it, the modules and verify's run of the notebook get the
same `random_state=`, so verify compares like with like; without the seeded notebook run it cannot hold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from .nb_helpers import write_notebook

CELLS = [
    {"source": "import pandas as pd\n"
               "from sklearn.model_selection import KFold, cross_val_score, train_test_split\n"
               "from sklearn.ensemble import RandomForestClassifier\n"
               "from sklearn.metrics import accuracy_score"},
    {"source": "df = pd.read_csv('data/data.csv')\ndf['c'] = df['c'].map({'x': 0, 'y': 1})"},
    {"source": "X = df.drop('label', axis=1)\ny = df['label']\n"
               "X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3)"},
    {"source": "folds = KFold(5, shuffle=True)\n"
               "model = RandomForestClassifier(n_estimators=30,\n    max_features=1,)  # no seed: différent\n"
               "print(cross_val_score(model, X_train, y_train, cv=folds).mean())\n"
               "model.fit(X_train, y_train)"},
    {"source": "pred = model.predict(X_test)\nacc = accuracy_score(y_test, pred)"},
]  # fmt: skip


@pytest.fixture
def unseeded(tmp_path):
    rng = np.random.default_rng(3)
    n = 300
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.choice(["x", "y"], n)})
    df["label"] = ((df.a + df.b * 0.5 + rng.normal(scale=0.8, size=n)) > 0).astype(int)
    (tmp_path / "nb" / "data").mkdir(parents=True)
    df.to_csv(tmp_path / "nb" / "data" / "data.csv", index=False)
    return write_notebook(tmp_path / "nb" / "unseeded.ipynb", CELLS)


def test_the_plan_seeds_what_the_notebook_left_unseeded(unseeded):
    from mlship.notebook.plan import plan_notebook

    plan = plan_notebook(unseeded)
    warning = next(w for w in plan.warnings if "had no random_state" in w)
    for call in ("train_test_split(X, y, test_size=0.3)", "RandomForestClassifier(n_estimators=30",
                 "KFold(5, shuffle=True)"):  # fmt: skip
        assert call in warning
    assert plan.params == {"seed": 0}
    # verify's copy of the notebook: the seeds spliced into the cells' own text, comments kept
    assert set(plan.verify_cells) == {3, 4}
    assert "train_test_split(X, y, test_size=0.3, random_state=0)" in plan.verify_cells[3]
    assert "max_features=1,random_state=0)  # no seed: différent" in plan.verify_cells[4]
    assert "KFold(5, shuffle=True, random_state=0)" in plan.verify_cells[4]
    code = "\n".join(s.text for seg in plan.segments for s in seg.stmts)
    assert "train_test_split(X, y, test_size=0.3, random_state=seed)" in code
    assert "RandomForestClassifier(n_estimators=30, max_features=1, random_state=seed)" in code


def test_verify_holds_only_with_the_seeded_notebook_run(unseeded, tmp_path, monkeypatch):
    from mlship.notebook import parity
    from mlship.notebook.convert import convert_notebook
    from mlship.project import Project

    project = tmp_path / "proj"
    convert_notebook(notebook=unseeded, directory=project)
    result = parity.verify_project(Project.load(project))
    assert result.ok, [r for r in result.rows if not r.ok]
    assert "records scored alone (90 of 90)" in [r.check for r in result.rows]

    # The proof can fail: the notebook run as written (unseeded) trains another model on other rows.
    real = parity.run_notebook
    monkeypatch.setattr(parity, "run_notebook", lambda *a, **k: real(*a, **{**k, "replace": {}}))
    assert not parity.verify_project(Project.load(project)).ok
