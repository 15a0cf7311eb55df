"""Planning: stages from tags, headings and code; data flow; magics; seeds; warnings. No kernel needed."""

from __future__ import annotations

import ast
import json

import pytest

from mlship.notebook import flow
from mlship.notebook.plan import plan_notebook
from tests.support import run_mlship

from .nb_helpers import EXAMPLES


@pytest.fixture(scope="module")
def plans():
    return {p.stem: plan_notebook(p) for p in EXAMPLES.glob("*.ipynb")}


def stages(plan) -> dict[int, str]:
    return {c.index: c.stage for c in plan.cells if c.kind == "code"}


def test_tags_decide_and_untagged_cells_follow_the_previous_tag(plans):
    plan = plans["churn_tagged_pipeline"]
    assert stages(plan) == {
        2: "parameters", 3: "imports", 4: "preprocess", 5: "preprocess",
        6: "train", 7: "evaluate", 8: "predict", 9: "postprocess",
    }  # fmt: skip
    reasons = {c.index: c.reason for c in plan.cells}
    assert reasons[2] == "tag `parameters`" and reasons[5] == "follows the previous tagged cell"


def test_kale_step_tags_are_aliases(plans):
    plan = plans["readings_out_of_order"]
    assert stages(plan) == {1: "imports", 2: "preprocess", 3: "preprocess", 4: "skip", 5: "train",
                            6: "evaluate", 7: "predict"}  # fmt: skip
    assert "Kale tag `step:train`" in {c.reason for c in plan.cells}


def test_headings_decide_without_tags(plans):
    plan = plans["house_prices_onehot"]
    reasons = {c.index: c.reason for c in plan.cells}
    assert stages(plan)[9] == "train" and reasons[9] == "heading 'Train the model'"
    assert stages(plan)[13] == "predict" and stages(plan)[5] == "skip"


def test_code_heuristics_without_tags_or_headings(plans):
    plan = plans["demand_gradient_boosting"]
    assert stages(plan) == {1: "imports", 2: "parameters", 3: "preprocess", 4: "functions", 5: "preprocess",
                            6: "train", 7: "evaluate", 8: "predict", 9: "predict"}  # fmt: skip
    reasons = {c.index: c.reason for c in plan.cells}
    assert "first .fit(" in reasons[6] and "reads new data" in reasons[8]


def test_plot_and_magic_cells_are_skipped_and_magics_become_requirements(plans):
    plan = plans["sensor_magics_plots"]
    assert stages(plan)[6] == "skip"  # the plot
    assert stages(plan)[2] == "skip"  # only magics
    assert plan.requirements == ["scikit-learn"]
    text = " ".join(plan.warnings)
    assert "`!ls data | head -3`" in text and "%%time wrapper dropped" in text


def test_outputs_include_names_mutated_in_place(plans):
    plan = plans["readings_out_of_order"]
    train = next(s for s in plan.segments if s.stage == "train")
    # readings.dropna(inplace=True) in the train step: readings is an input *and* an output
    assert "readings" in train.inputs and "readings" in train.outputs


def test_helper_globals_become_keyword_parameters(plans):
    plan = plans["demand_gradient_boosting"]
    assert plan.helper_kwargs == {"make_features": ["COMFORT_TEMPERATURE", "WEEKEND"]}
    helper = plan.helpers[0].node
    assert [a.arg for a in helper.args.kwonlyargs] == ["COMFORT_TEMPERATURE", "WEEKEND"]
    assert "COMFORT_TEMPERATURE=COMFORT_TEMPERATURE" in plan.serve.features


def test_seeds_become_a_seed_parameter(plans):
    assert plans["churn_tagged_pipeline"].to_dict()["params"] == {
        "TEST_SIZE": 0.25,
        "seed": 7,
        "THRESHOLD": 0.4,
    }
    assert plans["demand_gradient_boosting"].to_dict()["params"]["seed"] == 42


def test_fitted_state_is_saved_for_serving(plans):
    assert sorted(plans["house_prices_onehot"].state) == ["model", "numeric", "scaler"]
    assert plans["churn_tagged_pipeline"].serve.output == "action"


def test_out_of_order_cells_warn(plans):
    assert any("ran out of order" in w for w in plans["readings_out_of_order"].warnings)
    assert not any("ran out of order" in w for w in plans["house_prices_onehot"].warnings)


@pytest.mark.parametrize(
    ("code", "reads", "mutates"),
    [
        ("df.dropna(inplace=True)", {"df"}, {"df"}),
        ("model.fit(X, y)", {"model", "X", "y"}, {"model"}),
        ('df["a"] = b', {"df", "b"}, {"df"}),
        ("total += x", {"total", "x"}, set()),
        ("out = df.head()", {"df"}, set()),
        ("rows = [r for r in table]", {"table"}, set()),
    ],
)
def test_access(code, reads, mutates):
    acc = flow.access(ast.parse(code).body[0])
    assert acc.reads == reads and acc.mutates == mutates


def test_plan_cli_prints_json_and_changes_nothing(tmp_path, small_notebook):
    before = sorted(p.name for p in tmp_path.rglob("*"))
    done = run_mlship("plan", str(small_notebook), "--json", check=True)
    data = json.loads(done.stdout)
    assert [c["stage"] for c in data["cells"]] == ["imports", "preprocess", "train", "predict"]
    assert data["serving"]["model"] == "model" and data["artifacts"] == ["FEATURES", "model"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_plan_cli_table(small_notebook):
    out = run_mlship("plan", str(small_notebook), check=True).stdout
    assert "prepare_data(data_path) -> FEATURES, X, y" in out
    assert "serving:" in out


def test_without_a_scoring_cell_serving_replays_the_feature_cells(plans):
    plan = plans["claims_no_scoring_cell"]
    serve = plan.serve
    # the notebook scores its holdout (`model.predict(X_test)` in the evaluate cell): that is the path
    assert serve.synthesized and serve.features == "X_test" and serve.target_columns == ["charges"]
    # the scaler is fitted in training, never in transform; get_dummies gets training's categories
    assert sorted(plan.state) == ["dummy_levels", "model", "scaler"]
    text = "\n".join(s.text for s in serve.pre)
    assert "dropna" not in text and "pop(" not in text and "StandardScaler()" not in text
    assert "scaler.transform(" in text and "X_test = X" in text  # the split is the identity for a request
    assert "pd.get_dummies(with_levels(claims, dummy_levels)" in text
    assert len(serve.holdout) == 61  # the rows of the data file the notebook scored, as the run saw them
    assert any("drops rows" in w for w in plan.warnings)


def test_init_names_distributions_as_mlship_check_does(plans):
    """`init --from` and `mlship check` share one import -> distribution map: `import dotenv` is the
    project python-dotenv (a package called `dotenv` exists on PyPI and is not it)."""
    from mlship.notebook.emit import requirements

    code = "import dotenv\nimport sklearn.linear_model\nfrom PIL import Image\nimport mypkg\n"
    modules = {"predict.py": code}
    found = requirements(plans["sensor_magics_plots"], modules, "mypkg")
    assert {"python-dotenv", "scikit-learn", "pillow"} <= set(found)
    assert "dotenv" not in found and "mypkg" not in found
